//! Local load: wrk at a fixed concurrency against the local stack's HTTP
//! API, through a TCP front that hands each new connection to the next
//! instance in turn (one instance, or two), and the peak memory of the
//! function processes that served it.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::tools::Tools;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A route under load, and the request wrk repeats.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `GET /me`, …
    pub label: &'static str,
    /// The function that serves it.
    pub binary: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    /// Whether it carries a bearer token (each connection its own user's).
    pub bearer: bool,
    /// Whether each request sends the ETag of the previous answer as
    /// `If-Match` (starting from a new cart's, `"0"`).
    pub if_match: bool,
    pub body: Option<&'static str>,
}

/// The routes of measure 5. Each connection of `PUT /cart` replaces its own
/// user's cart with the ETag it last got, so every write holds.
pub const ROUTES: [Route; 4] = [
    Route {
        label: "GET /health",
        binary: "health",
        method: "GET",
        path: "/health",
        bearer: false,
        if_match: false,
        body: None,
    },
    Route {
        label: "GET /me",
        binary: "me",
        method: "GET",
        path: "/me",
        bearer: true,
        if_match: false,
        body: None,
    },
    Route {
        label: "PUT /cart",
        binary: "put-cart",
        method: "PUT",
        path: "/cart",
        bearer: true,
        if_match: true,
        body: Some(
            r#"{"items":[{"sku":"MUG-01","quantity":2},{"sku":"TSHIRT-M-BLUE","quantity":1}]}"#,
        ),
    },
    Route {
        label: "POST /uploads",
        binary: "create-upload",
        method: "POST",
        path: "/uploads",
        bearer: true,
        if_match: false,
        body: Some(r#"{"filename":"report.txt","content_type":"text/plain","size":1024}"#),
    },
];

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct Load {
    pub route: &'static str,
    pub instances: usize,
    pub concurrency: usize,
    pub requests: u64,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Responses by status, and socket errors by kind.
    pub statuses: BTreeMap<String, u64>,
}

/// The wrk script of `route`: each thread (one connection) sends its
/// request with its own user's token, counts statuses, and the main thread
/// prints a JSON summary at the end.
fn script(route: &Route, tokens: &[String]) -> String {
    let quote = |text: &str| format!("{text:?}");
    let mut lua = format!(
        "method, path, bearer, if_match = {}, {}, {}, {}\n",
        quote(route.method),
        quote(route.path),
        route.bearer,
        route.if_match
    );
    lua += "tokens = {";
    lua += &tokens
        .iter()
        .map(|t| quote(t))
        .collect::<Vec<_>>()
        .join(", ");
    lua += "}\nfixed = {}\n";
    match route.body {
        Some(body) => {
            lua += "fixed[\"content-type\"] = \"application/json\"\n";
            lua += &format!("body = {}\n", quote(body));
        }
        None => lua += "body = nil\n",
    }
    lua + SCRIPT
}

/// The requests, the count of statuses per thread, and the summary
/// (latencies in microseconds).
const SCRIPT: &str = r#"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("token", tokens[#threads])
end
function init(args)
  statuses, etag = {}, '"0"'
end
function request()
  local headers = {}
  for name, value in pairs(fixed) do headers[name] = value end
  if bearer then headers["authorization"] = "Bearer " .. token end
  if if_match then headers["if-match"] = etag end
  return wrk.format(method, path, headers, body)
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  etag = headers["etag"] or headers["ETag"] or etag
end
function done(summary, latency, requests)
  local counts, parts = {}, {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"statuses":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    table.concat(parts, ","), e.connect, e.read, e.write, e.timeout))
end
"#;

/// Runs wrk against `url` for `route` (its script written into `dir`), one
/// connection per user of `tokens`, and reads its summary.
pub async fn run(
    tools: &Tools,
    dir: &Path,
    url: &str,
    route: &Route,
    tokens: &[String],
    duration: Duration,
    instances: usize,
) -> Result<Load> {
    let file = dir.join(format!("{}.lua", route.binary));
    std::fs::write(&file, script(route, tokens))?;
    let concurrency = tokens.len();
    let mut command = tools.wrk();
    command
        .arg("--threads")
        .arg(concurrency.to_string())
        .arg("--connections")
        .arg(concurrency.to_string())
        .arg("--duration")
        // wrk counts in whole seconds.
        .arg(format!("{}s", duration.as_secs().max(1)))
        .arg("--script")
        .arg(&file)
        .arg(format!("{url}{}", route.path))
        .kill_on_drop(true);
    let output = command.output().await.context("starting wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {stdout} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .with_context(|| format!("no summary in wrk's output: {stdout}"))?;
    let summary: Value = serde_json::from_str(line).context("wrk's summary")?;
    parse(&summary, route.label, concurrency, instances)
}

/// Reads the summary line that the wrk script (`SCRIPT`) prints.
pub fn parse(
    summary: &Value,
    route: &'static str,
    concurrency: usize,
    instances: usize,
) -> Result<Load> {
    let number = |field: &str| -> Result<u64> {
        summary[field]
            .as_u64()
            .with_context(|| format!("no {field} in wrk's summary {summary}"))
    };
    let mut statuses = BTreeMap::new();
    for (field, prefix) in [("statuses", ""), ("errors", "error: ")] {
        if let Some(counts) = summary[field].as_object() {
            for (key, count) in counts {
                let count = count.as_u64().unwrap_or_default();
                if count > 0 {
                    statuses.insert(format!("{prefix}{key}"), count);
                }
            }
        }
    }
    let requests = number("requests")?;
    let took = Duration::from_micros(number("duration_us")?);
    Ok(Load {
        route,
        instances,
        concurrency,
        requests,
        per_second: requests as f64 / took.as_secs_f64().max(1e-9),
        p50: Duration::from_micros(number("p50_us")?),
        p99: Duration::from_micros(number("p99_us")?),
        statuses,
    })
}

/// A loopback TCP front that gives each new connection to the next backend
/// in turn; stopped (with every connection) when dropped.
pub struct Front {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    task: JoinHandle<()>,
}

impl Front {
    /// Listens on a free loopback port.
    pub async fn start(backends: Vec<SocketAddr>) -> Result<Self> {
        if backends.is_empty() {
            bail!("a front needs a backend");
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let backends = Arc::new(backends);
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let backend = backends[next.fetch_add(1, Ordering::Relaxed) % backends.len()];
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(backend).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Ok(Self { url, task })
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The address of an `http://host:port` URL.
pub fn address(url: &str) -> Result<SocketAddr> {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("{url} is not http://<ip>:<port>"))
}

/// Peak resident memory (`VmHWM`, KiB) of every live process running `binary`.
pub fn peak_rss_of(binary: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| std::fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == binary))
        .filter_map(|entry| {
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            crate::runtime_api::vm_hwm_kib(&status)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_wrks_summary() {
        let summary = json!({
            "requests": 8127, "duration_us": 10_000_000, "p50_us": 4200, "p99_us": 19100,
            "statuses": {"200": 8000, "503": 125},
            "errors": {"connect": 0, "read": 2, "write": 0, "timeout": 0}
        });
        let load = parse(&summary, "GET /me", 4, 2).unwrap();
        assert_eq!(load.requests, 8127);
        assert!((load.per_second - 812.7).abs() < 1e-6);
        assert_eq!(load.p50, Duration::from_micros(4200));
        assert_eq!(load.p99, Duration::from_micros(19100));
        assert_eq!(load.statuses["503"], 125);
        assert_eq!(load.statuses["error: read"], 2);
        assert!(!load.statuses.contains_key("error: connect"));
        assert!(parse(&json!({}), "GET /me", 4, 1).is_err());
    }

    #[test]
    fn the_script_carries_the_request() {
        let lua = script(&ROUTES[2], &["t0k3n".into(), "s3c0nd".into()]);
        assert!(
            lua.starts_with("method, path, bearer, if_match = \"PUT\", \"/cart\", true, true\n")
        );
        assert!(lua.contains("tokens = {\"t0k3n\", \"s3c0nd\"}"));
        assert!(lua.contains("fixed[\"content-type\"] = \"application/json\""));
        assert!(lua.contains("body = \"{\\\"items\\\""));
        assert!(script(&ROUTES[0], &[]).contains("body = nil"));
    }
}
