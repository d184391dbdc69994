//! An HTTP front for the functions in which every request is served by a
//! fresh process of its function, in a fresh sandbox (see `runtime_api`):
//! API Gateway and Lambda when every call is a cold start. A function that
//! needs a warm process to be right answers wrongly here; one that leaves a
//! file behind, or writes outside its `TMPDIR`, is recorded.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::checks::router_routes;
use crate::http1::{self, write_response};
use crate::runtime_api::{Answer, Function, Sandbox, sandbox_user};
use crate::stack::StackInfo;
use crate::template::Route;

/// How long one cold invocation may take.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the gateway saw.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Processes started (one per request that matched a route).
    pub invocations: u64,
    /// Calls that left files in the sandbox: function and paths.
    pub leftovers: Vec<(String, Vec<PathBuf>)>,
    /// Calls whose function failed to answer (crash, error, timeout).
    pub failures: Vec<(String, String)>,
}

/// The gateway, on a loopback port of its own; stopped when dropped, with
/// every process it started.
pub struct FreshGateway {
    /// Its base URL.
    pub api_url: String,
    record: Arc<Mutex<Record>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FreshGateway {
    /// Serves the routes of the router in `Cargo.toml` with the binaries of
    /// the dev build, each with its environment on the stack `info`.
    pub fn start(info: &StackInfo) -> Result<Self> {
        Self::start_with(info, &[])
    }

    /// `start`, with some functions served by other binaries (function
    /// name, binary), e.g. one built with a planted bug.
    pub fn start_with(info: &StackInfo, binaries: &[(&str, PathBuf)]) -> Result<Self> {
        let root = crate::workspace_root();
        let bin_dir = root.join("target").join("debug");
        let routes: Vec<(Route, Function)> = router_routes(&root)?
            .into_iter()
            .map(|(route, name)| {
                let binary = binaries
                    .iter()
                    .find(|(function, _)| *function == name)
                    .map_or_else(|| bin_dir.join(&name), |(_, binary)| binary.clone());
                let function = Function {
                    binary,
                    args: Vec::new(),
                    env: info.environment_of(&name),
                    name,
                };
                (route, function)
            })
            .collect();
        let binaries: Vec<&std::path::Path> =
            routes.iter().map(|(_, f)| f.binary.as_path()).collect();
        let run_as = sandbox_user(&binaries);
        let shared = Arc::new(Shared {
            routes,
            run_as,
            sandboxes: info.logs_dir.join("fresh"),
            log: info.logs_dir.join("fresh-functions.log"),
            next: AtomicU64::new(0),
            record: Arc::new(Mutex::new(Record::default())),
        });
        std::fs::create_dir_all(&shared.sandboxes)?;
        let record = Arc::clone(&shared.record);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    () = accept(listener, shared) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every task, and with them the
            // processes (kill on drop).
            runtime.shutdown_timeout(Duration::from_secs(5));
        });
        Ok(Self {
            api_url,
            record,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// What it saw so far.
    pub fn record(&self) -> Record {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FreshGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Shared {
    routes: Vec<(Route, Function)>,
    run_as: Option<u32>,
    sandboxes: PathBuf,
    log: PathBuf,
    next: AtomicU64,
    record: Arc<Mutex<Record>>,
}

impl Shared {
    fn note(&self, change: impl FnOnce(&mut Record)) {
        change(&mut self.record.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        connections.spawn(connection(stream, Arc::clone(&shared)));
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(request) = http1::read_request(&mut reader).await? {
        let (status, headers, body) = match respond(&shared, request).await {
            Ok(response) => response,
            Err(error) => (
                502,
                vec![("content-type".into(), "text/plain".into())],
                format!("{error:#}").into_bytes(),
            ),
        };
        write_response(&mut write, status, &headers, &body).await?;
    }
    Ok(())
}

type HttpResponse = (u16, Vec<(String, String)>, Vec<u8>);

async fn respond(shared: &Shared, request: http1::Request) -> Result<HttpResponse> {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let Some((function, parameters)) = shared.routes.iter().find_map(|(route, function)| {
        let method_matches = route.method == "ANY" || route.method == request.method;
        let parameters = match_path(&route.path, path)?;
        method_matches.then_some((function, parameters))
    }) else {
        return Ok((404, Vec::new(), Vec::new()));
    };
    let number = shared.next.fetch_add(1, Ordering::SeqCst);
    let event = api_gateway_event(&request, path, query, &parameters, number);
    let sandbox = Sandbox::create(&shared.sandboxes, &number.to_string(), shared.run_as)?;
    shared.note(|r| r.invocations += 1);
    let invocation = function
        .invoke_once(
            &sandbox,
            serde_json::to_vec(&event)?,
            INVOCATION_TIMEOUT,
            &shared.log,
        )
        .await;
    let leftovers = sandbox.leftovers()?;
    if !leftovers.is_empty() {
        shared.note(|r| r.leftovers.push((function.name.clone(), leftovers)));
    }
    let failure = match invocation {
        Ok(invocation) => match invocation.answer {
            Answer::Response(payload) => return http_response(&payload),
            Answer::Error(error) | Answer::InitError(error) => error,
        },
        Err(error) => format!("{error:#}"),
    };
    shared.note(|r| r.failures.push((function.name.clone(), failure.clone())));
    Ok((
        502,
        vec![("content-type".into(), "text/plain".into())],
        failure.into_bytes(),
    ))
}

/// The path parameters of `path` under the route `template`, if it matches.
fn match_path(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let (wanted, given): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    if wanted.len() != given.len() {
        return None;
    }
    let mut parameters = BTreeMap::new();
    for (want, give) in wanted.iter().zip(&given) {
        match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(name) if !give.is_empty() => {
                parameters.insert(name.to_string(), decode(give));
            }
            Some(_) => return None,
            None if want == give => {}
            None => return None,
        }
    }
    Some(parameters)
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The API Gateway HTTP API (payload 2.0) event for `request`.
fn api_gateway_event(
    request: &http1::Request,
    path: &str,
    query: &str,
    parameters: &BTreeMap<String, String>,
    number: u64,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &request.headers {
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| Value::from(c.trim())));
            continue;
        }
        append(&mut headers, name.clone(), value.clone());
    }
    let mut query_parameters = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (
            decode(&name.replace('+', " ")),
            decode(&value.replace('+', " ")),
        );
        append(&mut query_parameters, name, value);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "fresh",
            "domainName": "127.0.0.1",
            "domainPrefix": "fresh",
            "http": {
                "method": request.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": request.header("user-agent").unwrap_or_default(),
            },
            "requestId": format!("fresh-{number}"),
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
        },
        "isBase64Encoded": true,
        "body": STANDARD.encode(&request.body),
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::from(cookies);
    }
    if !query_parameters.is_empty() {
        event["queryStringParameters"] = Value::from(query_parameters);
    }
    if !parameters.is_empty() {
        event["pathParameters"] = json!(parameters);
    }
    event
}

/// Adds `value` under `name`, after a comma where the name is there already
/// (how API Gateway folds repeated headers and query parameters).
fn append(map: &mut Map<String, Value>, name: String, value: String) {
    let joined = match map.get(&name).and_then(Value::as_str) {
        Some(earlier) => format!("{earlier},{value}"),
        None => value,
    };
    map.insert(name, Value::from(joined));
}

/// The HTTP response of an API Gateway (payload 2.0) answer.
fn http_response(payload: &[u8]) -> Result<HttpResponse> {
    let answer: Value = serde_json::from_slice(payload).context("the answer is not JSON")?;
    let status = answer
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    let mut headers = Vec::new();
    if let Some(map) = answer.get("headers").and_then(Value::as_object) {
        for (name, value) in map {
            if let Some(value) = value.as_str() {
                headers.push((name.clone(), value.to_string()));
            }
        }
    }
    if let Some(map) = answer.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in map {
            if headers.iter().any(|(n, _)| n == name) {
                continue;
            }
            for value in values.as_array().into_iter().flatten() {
                if let Some(value) = value.as_str() {
                    headers.push((name.clone(), value.to_string()));
                }
            }
        }
    }
    for cookie in answer
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(cookie) = cookie.as_str() {
            headers.push(("set-cookie".into(), cookie.to_string()));
        }
    }
    let text = answer
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = if answer.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        STANDARD
            .decode(text)
            .context("the answer's body is not base64")?
    } else {
        text.as_bytes().to_vec()
    };
    Ok((status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_their_templates() {
        let got = match_path("/uploads/{upload_id}", "/uploads/a%20b");
        assert_eq!(
            got,
            Some(BTreeMap::from([("upload_id".into(), "a b".into())]))
        );
        assert_eq!(match_path("/uploads/{upload_id}", "/uploads/"), None);
        assert_eq!(match_path("/uploads/{upload_id}", "/uploads/a/b"), None);
        assert_eq!(match_path("/me", "/me"), Some(BTreeMap::new()));
        assert_eq!(match_path("/me", "/you"), None);
    }

    #[test]
    fn requests_become_events_as_api_gateway_folds_them() {
        let request = http1::Request {
            method: "GET".into(),
            target: "/uploads/x?limit=2&cursor=a%2Bb&limit=3".into(),
            headers: vec![
                ("accept".into(), "a".into()),
                ("accept".into(), "b".into()),
                ("cookie".into(), "c=1; d=2".into()),
            ],
            body: b"{}".to_vec(),
        };
        let parameters = BTreeMap::from([("upload_id".to_string(), "x".to_string())]);
        let event = api_gateway_event(
            &request,
            "/uploads/x",
            "limit=2&cursor=a%2Bb&limit=3",
            &parameters,
            7,
        );
        assert_eq!(event["headers"], json!({"accept": "a,b"}));
        assert_eq!(event["cookies"], json!(["c=1", "d=2"]));
        assert_eq!(
            event["queryStringParameters"],
            json!({"limit": "2,3", "cursor": "a+b"})
        );
        assert_eq!(event["pathParameters"], json!({"upload_id": "x"}));
        assert_eq!(event["requestContext"]["http"]["method"], "GET");
        assert_eq!(event["body"], STANDARD.encode(b"{}"));
    }

    #[test]
    fn answers_become_responses() -> Result<()> {
        let (status, headers, body) = http_response(
            br#"{"statusCode":201,"headers":{"etag":"\"1\""},"cookies":["a=b"],"body":"aGk=","isBase64Encoded":true}"#,
        )?;
        assert_eq!(status, 201);
        assert!(headers.contains(&("etag".into(), "\"1\"".into())));
        assert!(headers.contains(&("set-cookie".into(), "a=b".into())));
        assert_eq!(body, b"hi");
        Ok(())
    }
}
