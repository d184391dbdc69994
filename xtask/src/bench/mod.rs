//! `cargo xtask bench`: every performance measure in one run, written to
//! `BENCHMARKS.md`. Release builds and package sizes ([`build`]), the CPU of
//! the hot paths ([`cpu`]), cold starts beside Node.js and Python, warm
//! durations and peak memory ([`processes`], events from
//! [`crate::happy_path`]) under Lambda's model of CPU and TLS ([`model`]),
//! AWS calls per route ([`crate::calls`]), local load with wrk ([`load`])
//! and what all that costs on Lambda ([`cost`]). [`render`] writes the file.

pub mod build;
pub mod cache;
pub mod capacity;
pub mod cost;
pub mod cpu;
pub mod load;
pub mod model;
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
use crate::template::Template;
use crate::tools::Tools;
use model::{MEMORY_SIZES, Model, PERIOD};
use processes::{ColdStarts, SIGNING_KEY_VARIABLE, Steady, Subject, Workspace};
use shared::route::PRECONNECT_VARIABLE;

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
    /// Requests for one hot product, and for one cold listing (section 10).
    pub hot_requests: usize,
    /// See `hot_requests`.
    pub cold_requests: usize,
    /// Events one process serves at each memory size of [`MEMORY_SIZES`].
    pub sized_events: usize,
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
        sized_events: 40,
    };

    /// Every code path once or twice: that the suite runs (in `cargo xtask test`).
    pub const SMOKE: Options = Options {
        cold_runs: 2,
        steady_events: 3,
        load_for: Duration::from_secs(1),
        concurrency: 2,
        hot_requests: 100,
        cold_requests: 20,
        sized_events: 2,
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

/// The functions whose cold start is also measured without TLS and without
/// their connections opened at init: the twins of the comparisons (login
/// and register hash for tens of milliseconds, which drowns a handshake).
pub const TLS_COMPARED: [&str; 2] = ["me", "refresh"];

/// The functions measured at every size of [`MEMORY_SIZES`] (they hash).
pub const SIZED: [&str; 2] = ["login", "register"];

/// How a function reached its stores, in the TLS comparison.
pub const PLAIN: &str = "plain HTTP";
/// Over TLS, its first request opening the connections.
pub const TLS_LAZY: &str = "TLS, opened by the first request";
/// Over TLS, connections opened at init (what the functions do).
pub const TLS_AT_INIT: &str = "TLS, opened at init";

/// One cold-start measure of a variant of a function.
#[derive(Debug, Clone)]
pub struct Variant {
    /// What differs ([`PLAIN`], [`TLS_LAZY`], [`TLS_AT_INIT`], or a period).
    pub label: String,
    pub cold: ColdStarts,
}

/// A function served warm at one memory size.
#[derive(Debug, Clone)]
pub struct Sized {
    pub memory_mb: u32,
    pub steady: Steady,
}

/// What was measured against a running stack.
#[derive(Debug, Clone, Default)]
pub struct OnStack {
    /// The model the process measures ran under, in words.
    pub model: String,
    /// Whether the CPU share was applied (else every figure is at full CPU).
    pub cpu_modelled: bool,
    /// TLS handshakes the fronts completed.
    pub tls_handshakes: usize,
    /// Every function and comparison, under the model, over TLS.
    pub cold: Vec<ColdStarts>,
    pub steady: Vec<Steady>,
    /// [`TLS_COMPARED`] three ways.
    pub tls: Vec<Variant>,
    /// `GET /me` under each period of [`model::periods_compared`].
    pub periods: Vec<Variant>,
    /// [`SIZED`] at each of [`MEMORY_SIZES`].
    pub sizes: Vec<Sized>,
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
    let memory: BTreeMap<String, u32> = Template::load(&root.join("template.yaml"))?
        .functions()?
        .into_iter()
        .map(|function| (function.binary, function.memory_mb))
        .collect();
    let memory_of = |binary: &str| memory.get(binary).copied().unwrap_or(128);
    let mut subjects: Vec<Subject> = stack
        .function_env
        .keys()
        .map(|binary| {
            Subject::rust(
                binary,
                bin_dir,
                stack.environment_of(binary),
                memory_of(binary),
            )
        })
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
            memory_of("me"),
        ));
        subjects.push(Subject::script(
            "me",
            "Python",
            tools.bench_python(),
            &root.join("xtask/bench/python/bootstrap.py"),
            env,
            memory_of("me"),
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

/// Measures 2 (cold start), 4 (AWS calls), 5 (warm and memory) and 6
/// (local load) against `stack`, whose functions' binaries are in
/// `bin_dir`; the process measures under the Lambda [`Model`].
pub async fn on_stack(
    stack: &StackInfo,
    bin_dir: &Path,
    options: Options,
    progress: impl Fn(&str),
) -> Result<OnStack> {
    let tools = Tools::new(&crate::workspace_root());
    let Prepared {
        happy,
        workspace,
        model,
        mut measured,
    } = prepare(stack, "bench").await?;
    for subject in subjects(stack, bin_dir, &tools)? {
        let name = subject.function.name.clone();
        progress(&format!("{} {}", subject.language, subject.title()));
        let over_tls = subject.with_env(model.over_tls(&subject.function.env));
        let confinement = model.confinement(subject.memory_mb, PERIOD);
        let cold = events_for(&happy, &name, options.cold_runs)?;
        measured.cold.push(
            processes::cold_starts(&over_tls, &cold, &workspace, confinement.as_ref()).await?,
        );
        let steady = events_for(&happy, &name, options.steady_events)?;
        measured
            .steady
            .push(processes::steady(&over_tls, &steady, &workspace, confinement.as_ref()).await?);
        if subject.language != "Rust" {
            continue;
        }
        if TLS_COMPARED.contains(&name.as_str()) {
            progress(&format!(
                "{name}: plain HTTP, TLS opened late, TLS opened at init"
            ));
            let variants = tls_variants(&subject, &model, &happy, &workspace, options.cold_runs);
            measured.tls.extend(variants.await?);
        }
        if name == "me" {
            for period in model::periods_compared() {
                progress(&format!("me under a {period:?} period"));
                let confinement = model.confinement(subject.memory_mb, period);
                let cold = events_for(&happy, &name, options.cold_runs)?;
                let cold =
                    processes::cold_starts(&over_tls, &cold, &workspace, confinement.as_ref())
                        .await?;
                measured.periods.push(Variant {
                    label: format!("{:.1} ms", period.as_secs_f64() * 1000.0),
                    cold,
                });
            }
        }
        if SIZED.contains(&name.as_str()) {
            for memory_mb in MEMORY_SIZES {
                progress(&format!("{name} at {memory_mb} MB"));
                let confinement = model.confinement(memory_mb, PERIOD);
                let events = events_for(&happy, &name, options.sized_events)?;
                let steady =
                    processes::steady(&over_tls, &events, &workspace, confinement.as_ref()).await?;
                measured.sizes.push(Sized { memory_mb, steady });
            }
        }
    }
    measured.tls_handshakes = model.tls.handshakes();
    drop(model);
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

/// What every measure against a stack starts from.
struct Prepared {
    happy: HappyPath,
    workspace: Workspace,
    model: Model,
    /// Empty but for the model's description.
    measured: OnStack,
}

/// `name`: the folder of the stack's logs its sandboxes, log and TLS front
/// use (so two measures can share a stack).
async fn prepare(stack: &StackInfo, name: &str) -> Result<Prepared> {
    let api = stack.api_url.clone();
    let info = stack.clone();
    let happy = tokio::task::spawn_blocking(move || HappyPath::new(&api, Some(&info))).await??;
    let workspace = Workspace {
        sandboxes: stack.logs_dir.join(name),
        log: stack.logs_dir.join(format!("{name}-functions.log")),
    };
    std::fs::create_dir_all(&workspace.sandboxes)?;
    let model = Model::new(
        &stack.logs_dir.join(format!("{name}-tls")),
        &[&stack.dynamodb_endpoint, &stack.moto_endpoint],
    )
    .await?;
    let measured = OnStack {
        model: model.describe(),
        cpu_modelled: model.cpu.is_ok(),
        ..OnStack::default()
    };
    Ok(Prepared {
        happy,
        workspace,
        model,
        measured,
    })
}

/// A Rust `subject`'s cold start over plain HTTP, over TLS opened by its
/// first request, and over TLS opened at init.
async fn tls_variants(
    subject: &Subject,
    model: &Model,
    happy: &HappyPath,
    workspace: &Workspace,
    runs: usize,
) -> Result<Vec<Variant>> {
    let mut lazy = model.over_tls(&subject.function.env);
    lazy.insert(PRECONNECT_VARIABLE.to_string(), "off".to_string());
    let variants = [
        (PLAIN, subject.clone()),
        (TLS_LAZY, subject.with_env(lazy)),
        (
            TLS_AT_INIT,
            subject.with_env(model.over_tls(&subject.function.env)),
        ),
    ];
    let confinement = model.confinement(subject.memory_mb, PERIOD);
    let mut measured = Vec::new();
    for (label, variant) in variants {
        let events = events_for(happy, &subject.function.name, runs)?;
        let cold =
            processes::cold_starts(&variant, &events, workspace, confinement.as_ref()).await?;
        measured.push(Variant {
            label: label.to_string(),
            cold,
        });
    }
    Ok(measured)
}

/// `cargo xtask bench --cold`: only the cold starts of `functions` under
/// the model (with their Node.js and Python twins, and their TLS
/// comparison where [`TLS_COMPARED`] has them), `runs` each: the before and
/// after of a change to a cold start, in minutes instead of the hour of the
/// whole bench.
pub async fn cold_only(
    stack: &StackInfo,
    bin_dir: &Path,
    functions: &[String],
    runs: usize,
    progress: impl Fn(&str),
) -> Result<OnStack> {
    let tools = Tools::new(&crate::workspace_root());
    let chosen: Vec<Subject> = subjects(stack, bin_dir, &tools)?
        .into_iter()
        .filter(|subject| functions.contains(&subject.function.name))
        .collect();
    for function in functions {
        anyhow::ensure!(
            chosen
                .iter()
                .any(|subject| &subject.function.name == function),
            "the bench knows no function {function}"
        );
    }
    let Prepared {
        happy,
        workspace,
        model,
        mut measured,
    } = prepare(stack, "bench-cold").await?;
    for subject in chosen {
        progress(&format!("{} {}", subject.language, subject.title()));
        let confinement = model.confinement(subject.memory_mb, PERIOD);
        let events = events_for(&happy, &subject.function.name, runs)?;
        let over_tls = subject.with_env(model.over_tls(&subject.function.env));
        measured.cold.push(
            processes::cold_starts(&over_tls, &events, &workspace, confinement.as_ref()).await?,
        );
        if subject.language == "Rust" && TLS_COMPARED.contains(&subject.function.name.as_str()) {
            let variants = tls_variants(&subject, &model, &happy, &workspace, runs);
            measured.tls.extend(variants.await?);
        }
    }
    measured.tls_handshakes = model.tls.handshakes();
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
