//! `BENCHMARKS.md` from one run's measures.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::build::{Build, Packages};
use super::cost;
use super::cpu::HotPath;
use super::model::PERIOD;
use super::processes::{ColdStarts, Outcomes, Steady};
use super::stats::{median, ms, percentile};
use super::{OnStack, Options, PLAIN, TLS_AT_INIT, TLS_COMPARED, TLS_LAZY, Variant};

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
    /// `/proc/loadavg` when the measures on the stack began (other work on
    /// the machine slows what runs under the CPU model).
    pub load_average: String,
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
         builds and the cold starts under the CPU model). These are measurements, not \
         tests: `cargo xtask test` only checks that the suite runs \
         (`xtask/tests/devtool/bench.rs`).\n\n\
         Everything runs on this machine: the functions' release builds for x86-64 (arm64 \
         binaries cannot run here), DynamoDB Local, moto and `cargo lambda watch` on \
         loopback. **The Lambda model** (`xtask/src/bench/model.rs`): a function's init \
         runs at full CPU, as on Lambda; from its first `GET /runtime/invocation/next` \
         on, the process is held to the CPU share of its `MemorySize` (1,769 MB is one \
         vCPU: 128 MB is 7.2% of one) by the kernel, here with the {}; and it reaches \
         its stores over TLS, through a front of the bench's own before DynamoDB Local \
         and moto (a root, an intermediate and a server certificate, RSA 2048 like AWS's \
         endpoints, trusted through `SSL_CERT_FILE`, `AWS_CA_BUNDLE` and \
         `NODE_EXTRA_CA_CERTS` alongside the machine's public roots; {} handshakes in \
         this run). The Node.js and Python twins run under the same model. What the \
         model leaves out: the network (loopback answers in microseconds where DynamoDB \
         takes a few milliseconds) and Graviton's speed against this machine's. The \
         bench's stack lifts the per-user and per-IP limits so that no request is \
         turned away (every request still writes its rate-limit counter), and does not \
         play the SQS event sources, so no worker busy with the jobs `POST /jobs` queued \
         competes with the measures. Load average when the measures began: {}.\n",
        report.when,
        report.machine,
        report.took.as_secs().div_ceil(60),
        on.model,
        on.tls_handshakes,
        report.load_average
    );

    let _ = writeln!(out, "## Goals\n");
    let _ = writeln!(out, "| goal | measured | met |\n|---|---|---|");
    let _ = writeln!(
        out,
        "| every zip at most 3 MB | largest {} MB | {} |",
        mib(largest_zip),
        verdict(largest_zip <= ZIP_GOAL_BYTES && largest_zip > 0)
    );
    for goal in cold_request_goals(&on.cold) {
        let _ = writeln!(out, "{goal}");
    }
    let _ = writeln!(out, "{}", handshake_goal(&on.tls));
    for function in super::SIZED {
        let sizes: Vec<&super::Sized> = on
            .sizes
            .iter()
            .filter(|s| s.steady.name == function)
            .collect();
        let chosen = chosen_size(&sizes).map(|s| s.memory_mb);
        let set = on
            .cold
            .iter()
            .find(|c| c.language == "Rust" && c.name == function)
            .map(|c| c.memory_mb);
        let _ = writeln!(
            out,
            "| {function}'s `MemorySize` is the one its measures choose (section 5) | chosen {} MB, set {} MB | {} |",
            chosen.map_or_else(|| "–".to_string(), |mb| mb.to_string()),
            set.map_or_else(|| "–".to_string(), |mb| mb.to_string()),
            verdict(chosen.is_some() && chosen == set)
        );
    }
    let single_reads: Vec<&crate::calls::RouteCalls> = on
        .calls
        .iter()
        .filter(|r| SINGLE_ITEM_READS.contains(&r.binary.as_str()))
        .collect();
    let most_round_trips = single_reads.iter().map(|r| r.round_trips).max();
    let _ = writeln!(
        out,
        "| every authenticated single-item read in one round trip | {} measured, at most {} | {} |",
        single_reads.len(),
        most_round_trips.map_or_else(|| "–".to_string(), |n| n.to_string()),
        verdict(single_reads.len() == SINGLE_ITEM_READS.len() && most_round_trips == Some(1))
    );
    let _ = writeln!(
        out,
        "| an authenticated request's own CPU under 100 µs at p99 | `PUT /cart` edge p99 {} µs | {} |",
        micros(edge),
        verdict(!edge.is_zero() && edge < CPU_GOAL)
    );
    let _ = writeln!(
        out,
        "| no route over its AWS call or round-trip budget | {} routes measured, {} over | {} |",
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
    memory_sizes(&mut out, on, report.options);
    load(&mut out, on, report.options);
    costs(&mut out, on);
    sam(&mut out, &report.sam);
    super::capacity::render(&mut out, on);
    cache(&mut out, on);
    out
}

fn cache(out: &mut String, on: &OnStack) {
    let _ = writeln!(out, "## 10. The cache: on against off\n");
    let _ = writeln!(
        out,
        "`shared::cache` in the way or not, in one run, in-process against the stack's \
         DynamoDB Local with clients that log every call (`xtask::bench::cache`). *Hot \
         product*: requests for one product on one instance, 50 at a time, through its L1 \
         (5 s) or straight to the catalog table. *Cold listing*: requests all at once for \
         one listing of 300 products never read before, spread over two instances (each an \
         L1 of its own over the one cache table), against every request reading and \
         sorting the whole category itself. *Computed* counts how often the source \
         produced the value (a product read; a whole listing read and sorted).\n"
    );
    let _ = writeln!(
        out,
        "| measure | cache | requests | instances | store calls | computed | p50 (ms) | p99 (ms) |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for figure in &on.cache {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            figure.measure,
            if figure.cached { "on" } else { "off" },
            figure.requests,
            figure.instances,
            figure.store_calls,
            figure.computed,
            ms(median(&figure.latencies)),
            ms(percentile(&figure.latencies, 99.0)),
        );
    }
    let _ = writeln!(out);
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

/// The authenticated reads of one item (the round-trip goal).
const SINGLE_ITEM_READS: [&str; 4] = ["me", "get-cart", "get-upload", "get-job"];

/// The Rust functions held to the cold-request goal, and the comparison
/// whose init and request they match: `me` against `me`, and refresh (the
/// minting function that does not hash) against `me + signing key`. Login
/// and register hash with argon2id, which Node.js and Python also run as
/// native code: they are shown, not held to it.
const COLD_REQUEST_TWINS: [(&str, &str); 2] = [("me", "me"), ("refresh", "me + signing key")];

/// The goals table's rows for the cold request (spawn to first answer).
fn cold_request_goals(cold: &[ColdStarts]) -> Vec<String> {
    COLD_REQUEST_TWINS
        .iter()
        .map(|(rust_name, twin)| {
            let rust = cold
                .iter()
                .find(|c| c.language == "Rust" && c.name == *rust_name)
                .and_then(|c| median(&c.first_answer));
            let others: Vec<(&str, Option<Duration>)> = cold
                .iter()
                .filter(|c| c.language != "Rust" && c.name == *twin)
                .map(|c| (c.language, median(&c.first_answer)))
                .collect();
            let factors: Vec<(&str, Option<f64>)> = others
                .iter()
                .map(|(language, other)| {
                    let factor = rust.zip(*other).map(|(r, o)| {
                        o.as_secs_f64() / r.as_secs_f64().max(f64::EPSILON)
                    });
                    (*language, factor)
                })
                .collect();
            let met = factors.len() == 2
                && factors
                    .iter()
                    .all(|(_, f)| f.is_some_and(|f| f >= COLD_START_FACTOR));
            let shown = factors
                .iter()
                .zip(&others)
                .map(|((language, factor), (_, other))| {
                    format!(
                        "{language} {} ms ({})",
                        ms(*other),
                        factor.map_or_else(|| "–".to_string(), |f| format!("{f:.1}×"))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "| the cold request (init and first answer) under the model, Rust `{rust_name}` at least {COLD_START_FACTOR}× faster than `{twin}` in Node.js and Python | {} ms against {shown} | {} |",
                ms(rust),
                verdict(met)
            )
        })
        .collect()
}

/// The median CPU of the first invocation of `function` reached `label`'s way.
fn first_cpu(tls: &[Variant], function: &str, label: &str) -> Option<Duration> {
    tls.iter()
        .find(|v| v.cold.name == function && v.label == label)
        .and_then(|v| median(&v.cold.cpu).or_else(|| median(&v.cold.after_init())))
}

/// The goals table's row: a first answer pays no handshake init could have
/// paid (its CPU over TLS, connections opened at init, is within half a
/// handshake of its CPU over plain HTTP).
fn handshake_goal(tls: &[Variant]) -> String {
    let mut shown = Vec::new();
    let mut met = true;
    for function in TLS_COMPARED {
        let plain = first_cpu(tls, function, PLAIN);
        let lazy = first_cpu(tls, function, TLS_LAZY);
        let at_init = first_cpu(tls, function, TLS_AT_INIT);
        match (plain, lazy, at_init) {
            (Some(plain), Some(lazy), Some(at_init)) => {
                let handshakes = lazy.saturating_sub(plain);
                let left = at_init.saturating_sub(plain);
                met &= left <= handshakes / 2;
                shown.push(format!(
                    "{function}: {} ms left of the {} ms the first request's handshakes cost",
                    ms(Some(left)),
                    ms(Some(handshakes))
                ));
            }
            _ => {
                met = false;
                shown.push(format!("{function}: not measured"));
            }
        }
    }
    format!(
        "| no first answer pays a TLS handshake init could have paid (first invocation's CPU over TLS within half a handshake of plain HTTP's) | {} | {} |",
        shown.join("; "),
        verdict(met)
    )
}

fn cold_starts(out: &mut String, on: &OnStack, options: Options) {
    let _ = writeln!(out, "## 2. Cold start, under the Lambda model\n");
    let _ = writeln!(
        out,
        "Each run spawns a fresh process under a loopback stub of the Lambda Runtime API \
         (`xtask::runtime_api`) in an empty sandbox, with the function's template \
         environment pointed at the local emulators over TLS, and gives it one event that \
         takes its real path (`xtask/src/happy_path.rs`). **init** is spawn to the first \
         `GET /runtime/invocation/next` (SDK clients, keys, configuration, and the store \
         connections its first request will need: `shared::aws::preconnect`), at full \
         CPU; **first answer** is from there to the posted response, at the CPU share of \
         the memory size; the **cold request** is both, what the first caller waits for \
         beyond Lambda's own placement; **CPU** is the first invocation's, read from its \
         cgroup. {} runs each.\n\n\
         The Node.js ({}) and Python ({}) rows are `GET /me` with the same init and \
         first request: a DynamoDB client of the AWS SDK v3 / boto3, the public keys with \
         jose / PyJWT, verify the token, read the user (`xtask/bench/`), each with a \
         minimal runtime loop of its own, measured by the same harness; they open no \
         connection at init (neither SDK offers to). The rows `me + signing key` add what \
         login and refresh do at init and no other function does: read the signing key \
         from Secrets Manager (a network call) and load it. AWS's own anchor (arm64, \
         128 MB, hello world, init): Rust 13.8 ms, Python 79.9 ms, Node.js 120.8 ms.\n",
        options.cold_runs,
        node_version(),
        python_version()
    );
    cold_rows(out, &on.cold);
    // The chart: GET /me's cold request in each language, then the minting ones.
    let mut charted: Vec<&ColdStarts> = on.cold.iter().filter(|c| c.name == "me").collect();
    charted.extend(on.cold.iter().filter(|c| c.reads_signing_key));
    let bars: Vec<(String, Duration)> = charted
        .iter()
        .filter_map(|c| {
            Some((
                format!("{} {}", c.language, c.name),
                median(&c.first_answer)?,
            ))
        })
        .collect();
    let longest = bars.iter().map(|(_, d)| *d).max().unwrap_or_default();
    if !longest.is_zero() {
        let _ = writeln!(
            out,
            "\nMedian cold request, `GET /me` and the functions that read the signing key:\n\n```"
        );
        for (label, took) in &bars {
            let width = (took.as_secs_f64() / longest.as_secs_f64() * 50.0).round() as usize;
            let _ = writeln!(
                out,
                "{label:<24} {:<50} {} ms",
                "█".repeat(width.max(1)),
                ms(Some(*took))
            );
        }
        let _ = writeln!(out, "```");
    }
    let _ = writeln!(out);
    tls_section(out, on);
    period_section(out, on);
}

/// The cold-start table of section 2.
fn cold_rows(out: &mut String, cold_starts: &[ColdStarts]) {
    let _ = writeln!(
        out,
        "| function | language | MB | init p50 (ms) | first answer p50 (ms) | first answer p90 (ms) | cold request p50 (ms) | cold request p90 (ms) | CPU p50 (ms) | answers |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for cold in cold_starts {
        let after_init = cold.after_init();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cold.name,
            cold.language,
            cold.memory_mb,
            ms(median(&cold.init)),
            ms(median(&after_init)),
            ms(percentile(&after_init, 90.0)),
            ms(median(&cold.first_answer)),
            ms(percentile(&cold.first_answer, 90.0)),
            ms(median(&cold.cpu)),
            outcomes(&cold.outcomes)
        );
    }
}

/// What `cargo xtask bench --cold` prints: the cold starts it measured, the
/// TLS comparison, and the goals those figures decide.
pub fn cold_only(on: &OnStack) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", on.model);
    cold_rows(&mut out, &on.cold);
    let _ = writeln!(out);
    if !on.tls.is_empty() {
        variant_rows(&mut out, &on.tls);
    }
    for goal in cold_request_goals(&on.cold) {
        let _ = writeln!(out, "{goal}");
    }
    if !on.tls.is_empty() {
        let _ = writeln!(out, "{}", handshake_goal(&on.tls));
    }
    out
}

fn variant_rows(out: &mut String, variants: &[Variant]) {
    let _ = writeln!(
        out,
        "| function | how | init p50 (ms) | first answer p50 (ms) | first answer p90 (ms) | cold request p50 (ms) | CPU p50 (ms) | answers |\n|---|---|---:|---:|---:|---:|---:|---|"
    );
    for variant in variants {
        let cold = &variant.cold;
        let after_init = cold.after_init();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cold.name,
            variant.label,
            ms(median(&cold.init)),
            ms(median(&after_init)),
            ms(percentile(&after_init, 90.0)),
            ms(median(&cold.first_answer)),
            ms(median(&cold.cpu)),
            outcomes(&cold.outcomes)
        );
    }
    let _ = writeln!(out);
}

fn tls_section(out: &mut String, on: &OnStack) {
    let _ = writeln!(out, "### TLS, and the connections opened at init\n");
    let _ = writeln!(
        out,
        "The same cold start three ways: the stores over plain HTTP; over TLS with the \
         connections opened by the first request (`STORE_PRECONNECT=off`, what the \
         functions did before); over TLS with them opened at init (what they do: \
         `shared::route::Route::preconnect`, as many at once as the first request's \
         first wave of calls, a read of an item that cannot exist). Opening them at init \
         moves the handshakes, root loading included, to where the CPU is whole. The \
         SDK's TLS is rustls with aws-lc-rs, TLS 1.3; the settings it exposes are already \
         the cheap ones (its key-exchange groups are not configurable outside an \
         unstable flag), so the lever is when the handshake happens, not which.\n"
    );
    variant_rows(out, &on.tls);
    for function in TLS_COMPARED {
        let cpu = |label| first_cpu(&on.tls, function, label);
        if let (Some(plain), Some(lazy), Some(at_init)) =
            (cpu(PLAIN), cpu(TLS_LAZY), cpu(TLS_AT_INIT))
        {
            let _ = writeln!(
                out,
                "- {function}: the first request's TLS handshakes cost {} ms of CPU (its \
                 first invocation over TLS, opened late, less over plain HTTP); opened at \
                 init, {} ms of that is left in the first answer.",
                ms(Some(lazy.saturating_sub(plain))),
                ms(Some(at_init.saturating_sub(plain)))
            );
        }
    }
    let _ = writeln!(out);
}

fn period_section(out: &mut String, on: &OnStack) {
    let _ = writeln!(out, "### The period of the CPU share\n");
    let _ = writeln!(
        out,
        "Within each period the process may run for its share of it, then stalls to the \
         next: at 100 ms and 128 MB, 7 ms of work, then 93 ms of stall. The figures above \
         use {} ms (`xtask::bench::model::PERIOD`); the kernel takes no quota under 1 ms, \
         so 128 MB allows no period under 13.8 ms. `GET /me`'s cold start over TLS at \
         each:\n",
        PERIOD.as_millis()
    );
    variant_rows(out, &on.periods);
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
         client (`xtask::calls`) that times each call; `xtask/tests/devtool/aws_calls.rs` \
         fails when a route goes over its budget of calls or of round trips (waves of calls \
         made at once, each waiting for the one before). A route that only reads answers \
         alongside the caller's check: its reads go out with the token's standing and the \
         per-user counter.\n"
    );
    let _ = writeln!(
        out,
        "| route's function | calls | budget | round trips | budget | what they are |\n|---|---:|---:|---:|---:|---|"
    );
    for route in &on.calls {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            route.binary,
            route.calls.len(),
            route.budget.total(),
            route.round_trips,
            route.budget.total_round_trips(),
            route.calls.join(", ")
        );
    }
    let _ = writeln!(out);
}

fn memory(out: &mut String, on: &OnStack, options: Options) {
    let _ = writeln!(out, "## 5. Warm requests and memory\n");
    let _ = writeln!(
        out,
        "One process per function serving {} events one after the other, under the same \
         Runtime API stub and the same model (its memory size's CPU share, TLS to the \
         stores). The warm time is from one answer to the next (the stub hands out the \
         next event at once): the duration Lambda would bill, against local emulators; \
         **CPU** is each warm invocation's, from its cgroup. Peak resident memory \
         (`VmHWM`) is the process's after its last event; **under load** is that of the \
         processes `cargo lambda watch` ran under the load of section 6 (their whole \
         life, the load included). Goal: under 32 MB.\n",
        options.steady_events
    );
    let _ = writeln!(
        out,
        "| function | language | MB | warm p50 (ms) | warm p99 (ms) | CPU p50 (ms) | CPU p99 (ms) | peak RSS (MB) | under load (MB) | answers |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
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
            "| {} | {} | {} | {} | {} | {} | {} | {} | {under_load} | {} |",
            steady.name,
            steady.language,
            steady.memory_mb,
            ms(median(&steady.warm)),
            ms(percentile(&steady.warm, 99.0)),
            ms(median(&steady.warm_cpu)),
            ms(percentile(&steady.warm_cpu, 99.0)),
            steady.peak_rss_kib.map_or_else(
                || "–".to_string(),
                |kib| format!("{:.1}", kib as f64 / 1024.0)
            ),
            outcomes(&steady.outcomes)
        );
    }
    let _ = writeln!(out);
}

/// The memory size chosen for a hashing function from its measures: the
/// largest measured whose cost per million is within 10% of the cheapest
/// (latency bought at no real cost), and what it costs.
pub fn chosen_size<'a>(sizes: &[&'a super::Sized]) -> Option<&'a super::Sized> {
    let cost = |sized: &super::Sized| {
        median(&sized.steady.warm).map(|warm| cost::per_million_at(warm, sized.memory_mb))
    };
    let cheapest = sizes
        .iter()
        .filter_map(|sized| cost(sized))
        .fold(f64::INFINITY, f64::min);
    sizes
        .iter()
        .filter(|sized| cost(sized).is_some_and(|c| c <= cheapest * 1.1))
        .max_by_key(|sized| sized.memory_mb)
        .copied()
}

fn memory_sizes(out: &mut String, on: &OnStack, options: Options) {
    let _ = writeln!(out, "### Memory sizes of the functions that hash\n");
    let _ = writeln!(
        out,
        "Register and login hash a password with argon2id (19 MiB, 2 passes, one lane: \
         `shared/src/accounts/password.rs`), which is CPU bound and runs on one thread: \
         its time falls as the memory size buys CPU, up to one vCPU at 1,769 MB. Each \
         size below is one process serving {} events under the model; the cost is a \
         million of them at that size (duration billed per millisecond, rounded up, \
         plus the request price). The size chosen is the largest whose cost is \
         within 10% of the cheapest: below one vCPU a function's time falls about as fast \
         as its price per millisecond rises, so the faster login costs next to nothing \
         more. `template.yaml`'s `MemorySize` is that choice.\n",
        options.sized_events
    );
    let _ = writeln!(
        out,
        "| function | MB | warm p50 (ms) | warm p99 (ms) | CPU p50 (ms) | $ per million | answers |\n|---|---:|---:|---:|---:|---:|---|"
    );
    for sized in &on.sizes {
        let steady = &sized.steady;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            steady.name,
            sized.memory_mb,
            ms(median(&steady.warm)),
            ms(percentile(&steady.warm, 99.0)),
            ms(median(&steady.warm_cpu)),
            median(&steady.warm).map_or_else(
                || "–".to_string(),
                |warm| format!("{:.2}", cost::per_million_at(warm, sized.memory_mb))
            ),
            outcomes(&steady.outcomes)
        );
    }
    let _ = writeln!(out);
    for function in super::SIZED {
        let sizes: Vec<&super::Sized> = on
            .sizes
            .iter()
            .filter(|s| s.steady.name == function)
            .collect();
        if let Some(chosen) = chosen_size(&sizes) {
            let _ = writeln!(
                out,
                "- {function}: **{} MB** (p50 {} ms, ${} per million).",
                chosen.memory_mb,
                ms(median(&chosen.steady.warm)),
                median(&chosen.steady.warm).map_or_else(
                    || "–".to_string(),
                    |warm| format!("{:.2}", cost::per_million_at(warm, chosen.memory_mb))
                ),
            );
        }
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
        "Lambda's cost of a million warm requests at each function's memory size, arm64: \
         the request price plus the warm p50 of section 5, billed per millisecond rounded \
         up. The local warm time runs under the model's CPU share but against emulators on \
         loopback; in AWS, DynamoDB answers in single-digit milliseconds, so read the \
         duration column as an order of magnitude. An init is billed as duration too: its \
         cost per million cold starts is in the last column. API Gateway's HTTP API adds \
         ${:.2} per million to every route.\n\n{}\n",
        cost::HTTP_API_PER_MILLION,
        cost::PRICES
    );
    let _ = writeln!(
        out,
        "| function | MB | warm p50 (ms) | billed (ms) | $ per million requests | of which duration | $ per million inits |\n|---|---:|---:|---:|---:|---:|---:|"
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
        let mb = steady.memory_mb;
        let _ = writeln!(
            out,
            "| {} | {mb} | {} | {} | {:.3} | {:.3} | {} |",
            steady.name,
            ms(Some(warm)),
            cost::billed_ms(warm),
            cost::per_million_at(warm, mb),
            cost::duration_per_million_at(warm, mb),
            inits.get(steady.name.as_str()).map_or_else(
                || "–".to_string(),
                |init| format!("{:.3}", cost::duration_per_million_at(*init, mb))
            )
        );
    }
    let _ = writeln!(out);
}
