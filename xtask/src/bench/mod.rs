//! `cargo xtask bench`: every performance measure in one run, written to
//! `BENCHMARKS.md`. Release builds and package sizes ([`build`]), the CPU of
//! the hot paths ([`cpu`]), cold starts beside Node.js and Python and peak
//! memory ([`processes`], events from [`crate::happy_path`]), AWS calls per route
//! ([`crate::calls`]), local load with wrk ([`load`]) and what all that
//! costs on Lambda ([`cost`]). [`render`] writes the file.

pub mod build;
pub mod cache;
pub mod cost;
pub mod cpu;
pub mod load;
pub mod processes;
pub mod render;
pub mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::calls::RouteCalls;
use crate::happy_path::HappyPath;
use crate::stack::{Instance, StackInfo};
use crate::tools::Tools;
use processes::{ColdStarts, SIGNING_KEY_VARIABLE, Steady, Subject, Workspace};

/// How much of each measure to take.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Fresh processes per function.
    pub cold_runs: usize,
    /// Events one process serves for the memory measure.
    pub steady_events: usize,
    /// How long wrk loads each route, per instance count.
    pub load_for: Duration,
    /// wrk's connections.
    pub concurrency: usize,
    /// Requests for one hot product, and for one cold listing (section 9).
    pub hot_requests: usize,
    /// See `hot_requests`.
    pub cold_requests: usize,
}

impl Options {
    /// What `cargo xtask bench` measures.
    pub const FULL: Options = Options {
        cold_runs: 30,
        steady_events: 200,
        load_for: Duration::from_secs(10),
        concurrency: 8,
        hot_requests: 1000,
        cold_requests: 200,
    };

    /// Every code path once or twice: that the suite runs (in `cargo xtask test`).
    pub const SMOKE: Options = Options {
        cold_runs: 2,
        steady_events: 3,
        load_for: Duration::from_secs(1),
        concurrency: 2,
        hot_requests: 100,
        cold_requests: 20,
    };
}

/// Template parameters of the bench's stack: no request is turned away by
/// a limit (each one still writes its counter, so it costs what it costs).
pub fn stack_parameters() -> BTreeMap<String, String> {
    [
        ("LoginAttemptsPerIpPerMinute", "1000000"),
        ("RegisterAttemptsPerIpPerHour", "1000000"),
        ("RequestsPerUserPerMinute", "1000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// What was measured against a running stack.
#[derive(Debug, Clone, Default)]
pub struct OnStack {
    pub cold: Vec<ColdStarts>,
    pub steady: Vec<Steady>,
    pub calls: Vec<RouteCalls>,
    pub loads: Vec<load::Load>,
    /// Peak RSS (KiB) of the processes that served each loaded route, by binary.
    pub load_rss: BTreeMap<String, u64>,
    /// `shared::cache` on against off.
    pub cache: Vec<cache::Figure>,
}

/// The functions and the comparisons the process measures run.
pub fn subjects(stack: &StackInfo, bin_dir: &Path, tools: &Tools) -> Result<Vec<Subject>> {
    let root = crate::workspace_root();
    let mut subjects: Vec<Subject> = stack
        .function_env
        .keys()
        .map(|binary| Subject::rust(binary, bin_dir, stack.environment_of(binary)))
        .collect();
    // The comparisons implement GET /me, with its environment; a second
    // pair also reads the signing key at init, as the minting functions do.
    let node_script = tools.bench_node_dir().join("index.mjs");
    std::fs::copy(root.join("xtask/bench/node/index.mjs"), &node_script)
        .context("copying the Node.js comparison next to its node_modules")?;
    let me = stack.environment_of("me");
    let signing_key = stack
        .function_env
        .values()
        .find_map(|env| env.get(SIGNING_KEY_VARIABLE));
    let mut environments = vec![me.clone()];
    environments.extend(signing_key.map(|arn| {
        let mut env = me.clone();
        env.insert(SIGNING_KEY_VARIABLE.to_string(), arn.clone());
        env
    }));
    for env in environments {
        subjects.push(Subject::script(
            "me",
            "Node.js",
            node()?,
            &node_script,
            env.clone(),
        ));
        subjects.push(Subject::script(
            "me",
            "Python",
            tools.bench_python(),
            &root.join("xtask/bench/python/bootstrap.py"),
            env,
        ));
    }
    Ok(subjects)
}

/// The `node` on `PATH` (a sandbox's `PATH` is a fixed one).
pub fn node() -> Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("node"))
        .find(|path| path.is_file())
        .context("node is not on PATH (the Node.js comparison needs it)")
}

/// Measures 1 (cold start), 3 (AWS calls), 4 (memory) and 5 (local load)
/// against `stack`, whose functions' binaries are in `bin_dir`.
pub async fn on_stack(
    stack: &StackInfo,
    bin_dir: &Path,
    options: Options,
    progress: impl Fn(&str),
) -> Result<OnStack> {
    let tools = Tools::new(&crate::workspace_root());
    let api = stack.api_url.clone();
    let info = stack.clone();
    let happy = tokio::task::spawn_blocking(move || HappyPath::new(&api, Some(&info))).await??;
    let workspace = Workspace {
        sandboxes: stack.logs_dir.join("bench"),
        log: stack.logs_dir.join("bench-functions.log"),
    };
    std::fs::create_dir_all(&workspace.sandboxes)?;
    let mut measured = OnStack::default();
    for subject in subjects(stack, bin_dir, &tools)? {
        let name = &subject.function.name;
        progress(&format!("{} {}", subject.language, subject.title()));
        let cold = events_for(&happy, name, options.cold_runs)?;
        measured
            .cold
            .push(processes::cold_starts(&subject, &cold, &workspace).await?);
        let steady = events_for(&happy, name, options.steady_events)?;
        measured
            .steady
            .push(processes::steady(&subject, &steady, &workspace).await?);
    }
    progress("AWS calls per route");
    measured.calls = crate::calls::per_route(stack).await?;
    progress("the cache, on and off");
    measured.cache = cache::on_and_off(stack, options.hot_requests, options.cold_requests).await?;
    measured.loads = loads(stack, &tools, &happy, options, &progress).await?;
    for route in load::ROUTES {
        let binary = std::fs::canonicalize(bin_dir.join(route.binary))?;
        if let Some(peak) = load::peak_rss_of(&binary).into_iter().max() {
            measured.load_rss.insert(route.binary.to_string(), peak);
        }
    }
    Ok(measured)
}

fn events_for(happy: &HappyPath, binary: &str, count: usize) -> Result<Vec<serde_json::Value>> {
    // The happy path calls the API with a blocking client.
    tokio::task::block_in_place(|| happy.events(binary, count))
}

/// Every route of [`load::ROUTES`] on one instance, then on two; each
/// connection is a new user's.
async fn loads(
    stack: &StackInfo,
    tools: &Tools,
    happy: &HappyPath,
    options: Options,
    progress: &impl Fn(&str),
) -> Result<Vec<load::Load>> {
    let second = tokio::task::block_in_place(|| Instance::start(stack, "bench-second", &[]))?;
    // Each instance starts a route's process on its first request: not under load.
    for url in [&stack.api_url, &second.api_url] {
        tokio::task::block_in_place(|| warm_up(url, &happy.new_user()?))?;
    }
    let first = load::address(&stack.api_url)?;
    let scripts = stack.logs_dir.join("bench");
    let mut loads = Vec::new();
    for backends in [vec![first], vec![first, load::address(&second.api_url)?]] {
        let instances = backends.len();
        let front = load::Front::start(backends).await?;
        for route in &load::ROUTES {
            progress(&format!("load {} on {instances} instance(s)", route.label));
            let users = tokio::task::block_in_place(|| {
                (0..options.concurrency)
                    .map(|_| happy.new_user())
                    .collect::<Result<Vec<_>>>()
            })?;
            let measured = load::run(
                tools,
                &scripts,
                &front.url,
                route,
                &users,
                options.load_for,
                instances,
            );
            loads.push(measured.await?);
        }
    }
    Ok(loads)
}

/// One request of every loaded route to the instance at `url`, as a user
/// with an empty cart.
fn warm_up(url: &str, token: &str) -> Result<()> {
    let client = crate::client::Client::at(url);
    for route in &load::ROUTES {
        let headers: &[(&str, &str)] = if route.if_match {
            &[("if-match", "\"0\"")]
        } else {
            &[]
        };
        let bearer = route.bearer.then_some(token);
        let reply = client
            .try_send(route.method, route.path, bearer, headers, route.body)
            .with_context(|| format!("warming up {} at {url}", route.label))?;
        anyhow::ensure!(
            reply.status < 300,
            "{} at {url}: {} {}",
            route.label,
            reply.status,
            reply.body
        );
    }
    Ok(())
}
