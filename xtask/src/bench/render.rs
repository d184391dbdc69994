//! `BENCHMARKS.md` from one run's measures.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::build::{Build, Packages};
use super::cost;
use super::cpu::HotPath;
use super::processes::{ColdStarts, Outcomes, Steady};
use super::stats::{median, ms, percentile};
use super::{OnStack, Options};

/// Everything one `cargo xtask bench` measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// `2026-11-23 15:04 UTC`.
    pub when: String,
    /// `2 cores, AMD EPYC, Linux x86_64`.
    pub machine: String,
    pub options: Options,
    /// The release profile's settings.
    pub profile: String,
    pub packages: Packages,
    pub host_build: Build,
    pub cpu: Vec<HotPath>,
    pub on_stack: OnStack,
    /// `sam validate --lint` and `sam build`: the command, and how long it
    /// took or why it failed.
    pub sam: Vec<(String, Result<Duration, String>)>,
    /// The whole run.
    pub took: Duration,
}

const MIB: f64 = 1024.0 * 1024.0;
/// The goals the bench holds the service to (the goals table of `BENCHMARKS.md`).
const ZIP_GOAL_BYTES: u64 = 3 * 1024 * 1024;
const RSS_GOAL_KIB: u64 = 32 * 1024;
const CPU_GOAL: Duration = Duration::from_micros(100);
const COLD_START_FACTOR: f64 = 10.0;

fn mib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / MIB)
}

fn micros(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e6)
}

fn minutes(duration: Duration) -> String {
    let seconds = duration.as_secs();
    format!("{}m{:02}s", seconds / 60, seconds % 60)
}

fn outcomes(outcomes: &Outcomes) -> String {
    outcomes
        .iter()
        .map(|(outcome, count)| format!("{count}× {outcome}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn verdict(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

/// The Markdown of `BENCHMARKS.md`.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let on = &report.on_stack;
    let closest = closest_cold_start(&on.cold);
    let largest_zip = report.packages.sizes.iter().map(|s| s.2).max().unwrap_or(0);
    let rust_steady: Vec<&Steady> = on.steady.iter().filter(|s| s.language == "Rust").collect();
    let largest_rss = rust_steady
        .iter()
        .filter_map(|s| s.peak_rss_kib)
        .chain(on.load_rss.values().copied())
        .max()
        .unwrap_or(0);
    let edge = report
        .cpu
        .iter()
        .find(|p| p.name.contains("edge"))
        .map(|p| p.p99)
        .unwrap_or_default();
    let over_budget: Vec<&str> = on
        .calls
        .iter()
        .filter(|route| route.over_budget())
        .map(|route| route.binary.as_str())
        .collect();

    let _ = writeln!(
        out,
        "# Benchmarks\n\n\
         Written by `cargo xtask bench` on {} ({}); every figure comes from that one run. \
         Run it again to refresh the file (about {} minutes here, most of it the release \
         builds). These are measurements, not tests: `cargo xtask test` only checks that \
         the suite runs (`xtask/tests/devtool/bench.rs`).\n\n\
         Everything runs on this machine: the functions' release builds for x86-64 (arm64 \
         binaries cannot run here), DynamoDB Local, moto and `cargo lambda watch` on \
         loopback. Lambda runs the arm64 packages of section 1 at 128 MB, where a \
         function gets about a fourteenth of a vCPU: absolute times there are larger, \
         the ratios between languages and routes are what carries over. The bench's \
         stack lifts the per-user and per-IP limits so that no request is turned away \
         (every request still writes its rate-limit counter), and does not play the SQS \
         event sources, so no worker busy with the jobs `POST /jobs` queued competes \
         with the measures.\n",
        report.when,
        report.machine,
        report.took.as_secs().div_ceil(60)
    );

    let _ = writeln!(out, "## Goals\n");
    let _ = writeln!(out, "| goal | measured | met |\n|---|---|---|");
    let _ = writeln!(
        out,
        "| every zip at most 3 MB | largest {} MB | {} |",
        mib(largest_zip),
        verdict(largest_zip <= ZIP_GOAL_BYTES && largest_zip > 0)
    );
    let _ = match &closest {
        Some(pair) => writeln!(
            out,
            "| every Rust function's median init at least {COLD_START_FACTOR}× faster than the same init in Node.js and Python | closest: {} {} ms against {} `{}` {} ms: {:.1}× | {} |",
            pair.rust.name,
            ms(Some(pair.rust_init)),
            pair.other.language,
            pair.other.name,
            ms(Some(pair.other_init)),
            pair.factor(),
            verdict(pair.factor() >= COLD_START_FACTOR)
        ),
        None => writeln!(
            out,
            "| every Rust function's median init at least {COLD_START_FACTOR}× faster than the same init in Node.js and Python | a function without a measured init or comparison | **no** |"
        ),
    };
    let _ = writeln!(
        out,
        "| an authenticated request's own CPU under 100 µs at p99 | `PUT /cart` edge p99 {} µs | {} |",
        micros(edge),
        verdict(!edge.is_zero() && edge < CPU_GOAL)
    );
    let _ = writeln!(
        out,
        "| no route over its AWS call budget | {} routes measured, {} over | {} |",
        on.calls.len(),
        over_budget.len(),
        verdict(over_budget.is_empty() && !on.calls.is_empty())
    );
    let _ = writeln!(
        out,
        "| peak RSS under 32 MB | largest {:.1} MB | {} |\n",
        largest_rss as f64 / 1024.0,
        verdict(largest_rss > 0 && largest_rss < RSS_GOAL_KIB)
    );

    packages(&mut out, report);
    cold_starts(&mut out, on, report.options);
    hot_paths(&mut out, &report.cpu);
    calls(&mut out, on);
    memory(&mut out, on, report.options);
    load(&mut out, on, report.options);
    costs(&mut out, on);
    sam(&mut out, &report.sam);
    out
}

fn sam(out: &mut String, runs: &[(String, Result<Duration, String>)]) {
    let _ = writeln!(
        out,
        "## 8. AWS SAM
"
    );
    let _ = writeln!(
        out,
        "The pinned SAM CLI (`cargo xtask sam ...`) on `template.yaml`, offline. \
         `sam build` runs `cargo lambda build --release --arm64 --bin <function>` for \
         each function in turn, reusing the build of section 1. The last row is the \
         user's path under `sam local`: `sam build` for this machine, then the stack of \
         `cargo xtask dev --sam` and the journey of `cargo xtask prove` through it \
         (README, \"`sam local`\"). `sam deploy` is not run: it needs an AWS account.\n"
    );
    let _ = writeln!(out, "| command | result |\n|---|---|");
    for (command, result) in runs {
        let result = match result {
            Ok(took) => format!("ok in {}", minutes(*took)),
            Err(why) => format!("**failed**: {why}"),
        };
        let _ = writeln!(out, "| `{command}` | {result} |");
    }
    let _ = writeln!(out);
}

fn packages(out: &mut String, report: &Report) {
    let p = &report.packages;
    let _ = writeln!(out, "## 1. Release builds and packages\n");
    let _ = writeln!(
        out,
        "`[profile.release]` of the workspace `Cargo.toml`: `{}`.\n",
        report.profile
    );
    if let Some(why) = &p.fallback {
        let _ = writeln!(
            out,
            "**Built for x86-64, not arm64**: {why}. The template asks for arm64; \
             deploy from a machine that has the target.\n"
        );
    }
    let _ = writeln!(
        out,
        "- `cargo lambda build --release --{} --output-format zip` of the {} functions (zig \
         from PyPI as the linker): **{}**, compiling {} crates{}.\n\
         - `cargo build --release --bins` for this machine (what sections 2 to 6 run): \
         {}, compiling {} crates.\n",
        p.architecture,
        p.sizes.len(),
        minutes(p.build.took),
        p.build.compiled,
        if p.build.compiled > p.sizes.len() + 1 {
            " (dependencies included)"
        } else {
            " (the dependencies were built already: only the functions)"
        },
        minutes(report.host_build.took),
        report.host_build.compiled
    );
    let _ = writeln!(
        out,
        "| function | bootstrap (MB) | zip (MB) | zip ≤ 3 MB |\n|---|---:|---:|---|"
    );
    for (binary, bootstrap, zip) in &p.sizes {
        let _ = writeln!(
            out,
            "| {binary} | {} | {} | {} |",
            mib(*bootstrap),
            mib(*zip),
            verdict(*zip <= ZIP_GOAL_BYTES)
        );
    }
    let _ = writeln!(out);
}

/// A Rust function's median init beside the fastest comparison whose init
/// does what its own does (reads the signing key or not).
struct ColdPair<'a> {
    rust: &'a ColdStarts,
    rust_init: Duration,
    other: &'a ColdStarts,
    other_init: Duration,
}

impl ColdPair<'_> {
    /// How many times faster the Rust function starts.
    fn factor(&self) -> f64 {
        self.other_init.as_secs_f64() / self.rust_init.as_secs_f64().max(f64::EPSILON)
    }
}

/// The Rust function closest to its comparison; `None` when a function has
/// no measured init or no comparison with its kind of init.
fn closest_cold_start(cold: &[ColdStarts]) -> Option<ColdPair<'_>> {
    let mut closest: Option<ColdPair> = None;
    for rust in cold.iter().filter(|c| c.language == "Rust") {
        let rust_init = median(&rust.init)?;
        let (other, other_init) = cold
            .iter()
            .filter(|c| c.language != "Rust" && c.reads_signing_key == rust.reads_signing_key)
            .filter_map(|c| Some((c, median(&c.init)?)))
            .min_by_key(|(_, init)| *init)?;
        let pair = ColdPair {
            rust,
            rust_init,
            other,
            other_init,
        };
        if closest.as_ref().is_none_or(|c| pair.factor() < c.factor()) {
            closest = Some(pair);
        }
    }
    closest
}

fn cold_starts(out: &mut String, on: &OnStack, options: Options) {
    let _ = writeln!(out, "## 2. Cold start\n");
    let _ = writeln!(
        out,
        "Each run spawns a fresh process under a loopback stub of the Lambda Runtime API \
         (`xtask::runtime_api`) in an empty sandbox, with the function's template \
         environment pointed at the local emulators, and gives it one event that takes \
         its real path (`xtask/src/happy_path.rs`). **init** is spawn to the first \
         `GET /runtime/invocation/next` (SDK clients, keys, configuration); **first \
         answer** is spawn to the posted response. {} runs each.\n\n\
         The Node.js ({}) and Python ({}) rows are `GET /me` with the same init and \
         first request: a DynamoDB client of the AWS SDK v3 / boto3, the public keys with \
         jose / PyJWT, verify the token, read the user (`xtask/bench/`), each with a \
         minimal runtime loop of its own, measured by the same harness. The rows \
         `me + signing key` add what login and refresh do at init and no other function \
         does: read the signing key from Secrets Manager (a network call) and load it. \
         Each Rust function is held against the comparisons whose init does what its \
         own does. AWS's own anchor (arm64, 128 MB, hello world): Rust 13.8 ms, \
         Python 79.9 ms, Node.js 120.8 ms.\n",
        options.cold_runs,
        node_version(),
        python_version()
    );
    let _ = writeln!(
        out,
        "| function | language | init p50 (ms) | init p90 (ms) | first answer p50 (ms) | first answer p90 (ms) | answers |\n|---|---|---:|---:|---:|---:|---|"
    );
    for cold in &on.cold {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cold.name,
            cold.language,
            ms(median(&cold.init)),
            ms(percentile(&cold.init, 90.0)),
            ms(median(&cold.first_answer)),
            ms(percentile(&cold.first_answer, 90.0)),
            outcomes(&cold.outcomes)
        );
    }
    // The chart: GET /me's init in each language, then the minting init.
    let mut charted: Vec<&ColdStarts> = on.cold.iter().filter(|c| c.name == "me").collect();
    charted.extend(on.cold.iter().filter(|c| c.reads_signing_key));
    let bars: Vec<(String, Duration)> = charted
        .iter()
        .filter_map(|c| Some((format!("{} {}", c.language, c.name), median(&c.init)?)))
        .collect();
    let longest = bars.iter().map(|(_, d)| *d).max().unwrap_or_default();
    if !longest.is_zero() {
        let _ = writeln!(
            out,
            "\nMedian init, `GET /me` and the functions that read the signing key:\n\n```"
        );
        for (label, init) in &bars {
            let width = (init.as_secs_f64() / longest.as_secs_f64() * 50.0).round() as usize;
            let _ = writeln!(
                out,
                "{label:<24} {:<50} {} ms",
                "█".repeat(width.max(1)),
                ms(Some(*init))
            );
        }
        let _ = writeln!(out, "```");
    }
    let _ = writeln!(out);
}

fn version(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text).trim().to_string()
        })
        .unwrap_or_else(|| "unknown version".to_string())
}

fn node_version() -> String {
    let node = super::node().map_or_else(|_| "node".to_string(), |p| p.display().to_string());
    format!("node {}", version(&node, &["--version"]))
}

fn python_version() -> String {
    let tools = crate::tools::Tools::new(&crate::workspace_root());
    version(&tools.bench_python().display().to_string(), &["--version"])
}

fn hot_paths(out: &mut String, cpu: &[HotPath]) {
    let _ = writeln!(out, "## 3. Per-request CPU\n");
    let _ = writeln!(
        out,
        "`shared/benches/hot_paths.rs`, release profile, no I/O. The median is \
         criterion's; the percentiles come from the same paths called one by one and \
         timed each (criterion's samples are means of many calls, which hide a single \
         call's tail). The `PUT /cart` edge is an authenticated request's whole CPU \
         outside the SDK: event to request, bearer token, verification, If-Match, body, \
         validation, response.\n"
    );
    let _ = writeln!(
        out,
        "| path | criterion median (µs) | p50 (µs) | p99 (µs) | p99.9 (µs) | calls |\n|---|---:|---:|---:|---:|---:|"
    );
    for path in cpu {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            path.name,
            path.median.map_or_else(|| "–".to_string(), micros),
            micros(path.p50),
            micros(path.p99),
            micros(path.p99_9),
            path.calls
        );
    }
    let _ = writeln!(out);
}

fn calls(out: &mut String, on: &OnStack) {
    let _ = writeln!(out, "## 4. AWS calls per route\n");
    let _ = writeln!(
        out,
        "Every route once on its happy path, in-process, with an interceptor on every SDK \
         client (`xtask::calls`); `xtask/tests/devtool/aws_calls.rs` fails when a route goes \
         over its budget.\n"
    );
    let _ = writeln!(
        out,
        "| route's function | calls | budget | what they are |\n|---|---:|---:|---|"
    );
    for route in &on.calls {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            route.binary,
            route.calls.len(),
            route.budget.total(),
            route.calls.join(", ")
        );
    }
    let _ = writeln!(out);
}

fn memory(out: &mut String, on: &OnStack, options: Options) {
    let _ = writeln!(out, "## 5. Memory\n");
    let _ = writeln!(
        out,
        "Peak resident memory (`VmHWM`) of one process after {} events, one after the \
         other, under the same Runtime API stub; and of the processes `cargo lambda watch` \
         ran under the load of section 6 (their whole life, the load included). Goal: \
         under 32 MB. The warm time is from one answer to the next (the stub hands out \
         the next event at once): the duration Lambda would bill, against local emulators.\n",
        options.steady_events
    );
    let _ = writeln!(
        out,
        "| function | language | peak RSS (MB) | under load (MB) | warm p50 (ms) | warm p99 (ms) | answers |\n|---|---|---:|---:|---:|---:|---|"
    );
    for steady in &on.steady {
        let under_load = (steady.language == "Rust")
            .then(|| on.load_rss.get(&steady.name))
            .flatten()
            .map_or_else(
                || "–".to_string(),
                |kib| format!("{:.1}", *kib as f64 / 1024.0),
            );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {under_load} | {} | {} | {} |",
            steady.name,
            steady.language,
            steady.peak_rss_kib.map_or_else(
                || "–".to_string(),
                |kib| format!("{:.1}", kib as f64 / 1024.0)
            ),
            ms(median(&steady.warm)),
            ms(percentile(&steady.warm, 99.0)),
            outcomes(&steady.outcomes)
        );
    }
    let _ = writeln!(out);
}

fn load(out: &mut String, on: &OnStack, options: Options) {
    let _ = writeln!(out, "## 6. Local load\n");
    let _ = writeln!(
        out,
        "wrk with {} connections for {} s a route, through a TCP front that gives each \
         connection to the next instance in turn: one instance (the stack's `cargo lambda \
         watch`), then two (a second `cargo lambda watch` over the same emulators). Each \
         instance runs one process per function, as one Lambda execution environment \
         serves one request at a time. Load generator, emulators and functions share \
         this machine's cores.\n",
        options.concurrency,
        options.load_for.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| route | instances | requests/s | p50 (ms) | p99 (ms) | answers |\n|---|---:|---:|---:|---:|---|"
    );
    for load in &on.loads {
        let answers = load
            .statuses
            .iter()
            .map(|(status, count)| format!("{count}× {status}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {answers} |",
            load.route,
            load.instances,
            load.per_second,
            ms(Some(load.p50)),
            ms(Some(load.p99)),
        );
    }
    let p50 = |route: &str, instances: usize| {
        on.loads
            .iter()
            .find(|l| l.route == route && l.instances == instances)
            .map(|l| l.p50)
    };
    if let (Some(me), Some(health)) = (p50("GET /me", 1), p50("GET /health", 1))
        && !health.is_zero()
    {
        let _ = writeln!(
            out,
            "\nWhat auth costs: `GET /me` p50 is {:.1}× `GET /health`'s on one instance \
             ({} ms more: the token check, the session's standing and rate-limit calls \
             sent at once, then the user).",
            me.as_secs_f64() / health.as_secs_f64(),
            ms(Some(me.saturating_sub(health)))
        );
    }
    let _ = writeln!(out);
}

fn costs(out: &mut String, on: &OnStack) {
    let _ = writeln!(out, "## 7. Cost\n");
    let _ = writeln!(
        out,
        "Lambda's cost of a million warm requests at 128 MB arm64: the request price plus \
         the warm p50 of section 5, billed per millisecond rounded up. The local warm time \
         is mostly waiting on the emulators; in AWS, DynamoDB answers in single-digit \
         milliseconds and the CPU of section 3 runs on a fourteenth of a vCPU, so read the \
         duration column as an order of magnitude. An init is billed as duration too: its \
         cost per million cold starts is in the last column. API Gateway's HTTP API adds \
         ${:.2} per million to every route.\n\n{}\n",
        cost::HTTP_API_PER_MILLION,
        cost::PRICES
    );
    let _ = writeln!(
        out,
        "| function | warm p50 (ms) | billed (ms) | $ per million requests | of which duration | $ per million inits |\n|---|---:|---:|---:|---:|---:|"
    );
    let inits: BTreeMap<&str, Duration> = on
        .cold
        .iter()
        .filter(|c| c.language == "Rust")
        .filter_map(|c| Some((c.name.as_str(), median(&c.init)?)))
        .collect();
    for steady in on.steady.iter().filter(|s| s.language == "Rust") {
        let Some(warm) = median(&steady.warm) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.3} | {:.3} | {} |",
            steady.name,
            ms(Some(warm)),
            cost::billed_ms(warm),
            cost::per_million(warm),
            cost::duration_per_million(warm),
            inits.get(steady.name.as_str()).map_or_else(
                || "–".to_string(),
                |init| format!("{:.3}", cost::duration_per_million(*init))
            )
        );
    }
    let _ = writeln!(out);
}
