//! `cargo xtask bench` runs: every measure it takes on a stack (cold starts
//! beside Node.js and Python under the Lambda model of CPU share and TLS,
//! the TLS and period comparisons, the memory sizes of the hashing
//! functions, warm durations, memory, AWS calls, local load with wrk) taken
//! small (`Options::SMOKE`) on the test stack's debug binaries gives a
//! figure for every function and route, each from the real path, and
//! `BENCHMARKS.md` renders from them. The release builds and criterion's
//! benchmarks are not run here (`cargo test --all-targets` runs each
//! benchmark once); the figures themselves are not judged.

use std::time::Duration;

use xtask::bench::build::{Build, Packages};
use xtask::bench::render::{Report, render};
use xtask::bench::{self, Options};
use xtask::stack::StackInfo;

#[tokio::test(flavor = "multi_thread")]
async fn the_bench_suite_runs_on_the_test_stack() {
    let stack = StackInfo::from_env().unwrap();
    let bin_dir = xtask::workspace_root().join("target/debug");
    let measured = bench::on_stack(&stack, &bin_dir, Options::SMOKE, |step| {
        println!("bench: {step}")
    })
    .await
    .unwrap();

    let runs = Options::SMOKE.cold_runs;
    let functions = stack.function_env.len();
    assert_eq!(
        measured.cold.len(),
        functions + 4,
        "every function, Node.js and Python, each with and without the signing key"
    );
    for cold in &measured.cold {
        let who = format!("{} {}", cold.language, cold.name);
        assert_eq!(cold.init.len(), runs, "{who}: an init per run");
        assert_eq!(cold.first_answer.len(), runs, "{who}");
        for (init, answer) in cold.init.iter().zip(&cold.first_answer) {
            assert!(init <= answer, "{who}: ready after it answered");
        }
        let answers: usize = cold.outcomes.values().sum();
        assert_eq!(answers, runs, "{who}: {:?}", cold.outcomes);
        for outcome in cold.outcomes.keys() {
            assert!(
                !outcome.contains("error"),
                "{who} failed: {:?}",
                cold.outcomes
            );
            // An HTTP answer's outcome is its status.
            if outcome.parse::<u16>().is_ok() {
                assert!(
                    outcome.starts_with('2'),
                    "{who} left its happy path: {outcome}"
                );
            }
        }
    }
    for steady in &measured.steady {
        let who = format!("{} {}", steady.language, steady.name);
        assert!(
            steady.peak_rss_kib.is_some_and(|kib| kib > 0),
            "{who}: no peak RSS"
        );
        assert_eq!(steady.warm.len(), Options::SMOKE.steady_events - 1, "{who}");
        let answers: usize = steady.outcomes.values().sum();
        assert_eq!(answers, Options::SMOKE.steady_events, "{who}");
    }
    let minting: Vec<_> = measured
        .cold
        .iter()
        .filter(|c| c.reads_signing_key)
        .map(|c| format!("{} {}", c.language, c.name))
        .collect();
    assert_eq!(
        minting,
        [
            "Rust login",
            "Rust refresh",
            "Node.js me + signing key",
            "Python me + signing key"
        ],
        "the minting inits and their comparisons"
    );
    assert_eq!(measured.calls.len(), 25, "every route's AWS calls");
    // The cache's figures, on and off side by side, counted.
    let cache: Vec<(&str, bool)> = measured
        .cache
        .iter()
        .map(|f| (f.measure, f.cached))
        .collect();
    assert_eq!(
        cache,
        [
            ("hot product", true),
            ("hot product", false),
            ("cold listing", true),
            ("cold listing", false)
        ]
    );
    for figure in &measured.cache {
        assert_eq!(figure.latencies.len(), figure.requests, "{figure:?}");
    }
    let (hot_on, hot_off) = (&measured.cache[0], &measured.cache[1]);
    assert!(
        hot_on.computed <= 2 && hot_off.computed == hot_off.requests,
        "{hot_on:?} {hot_off:?}"
    );
    let (cold_on, cold_off) = (&measured.cache[2], &measured.cache[3]);
    assert!(
        cold_on.computed <= 2 && cold_off.computed == cold_off.requests,
        "{cold_on:?} {cold_off:?}"
    );

    // The model: TLS to the stores always; the CPU share wherever a group
    // can be made (as root on these machines, and in CI).
    assert!(
        measured.tls_handshakes > 0,
        "nothing reached the TLS fronts"
    );
    let root = nix::unistd::geteuid().is_root();
    if root {
        assert!(
            measured.cpu_modelled,
            "no CPU model as root: {}",
            measured.model
        );
    }
    if measured.cpu_modelled {
        for cold in &measured.cold {
            assert_eq!(
                cold.cpu.len(),
                runs,
                "{} {}: the first invocation's CPU, every run",
                cold.language,
                cold.name
            );
        }
    }
    let variants = |list: &[bench::Variant]| {
        list.iter()
            .map(|v| format!("{} {}", v.cold.name, v.label))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        variants(&measured.tls),
        [
            "me plain HTTP",
            "me TLS, opened by the first request",
            "me TLS, opened at init",
            "refresh plain HTTP",
            "refresh TLS, opened by the first request",
            "refresh TLS, opened at init",
        ]
    );
    assert_eq!(
        measured.periods.len(),
        3,
        "{:?}",
        variants(&measured.periods)
    );
    for variant in measured.tls.iter().chain(&measured.periods) {
        assert!(
            variant.cold.outcomes.keys().all(|o| o.starts_with('2')),
            "{} {}: {:?}",
            variant.cold.name,
            variant.label,
            variant.cold.outcomes
        );
    }
    let sized: Vec<String> = measured
        .sizes
        .iter()
        .map(|s| format!("{} {}", s.steady.name, s.memory_mb))
        .collect();
    assert_eq!(
        sized,
        [
            "login 256",
            "login 512",
            "login 1024",
            "register 256",
            "register 512",
            "register 1024"
        ]
    );
    let cpu_modelled = measured.cpu_modelled;

    assert_eq!(measured.loads.len(), 2 * bench::load::ROUTES.len());
    for load in &measured.loads {
        let ok: u64 = load
            .statuses
            .iter()
            .filter(|(status, _)| status.starts_with('2'))
            .map(|(_, count)| count)
            .sum();
        assert!(
            ok > 0,
            "{} on {}: {:?}",
            load.route,
            load.instances,
            load.statuses
        );
        assert!(load.per_second > 0.0 && load.p50 <= load.p99, "{load:?}");
    }
    for route in bench::load::ROUTES {
        assert!(
            measured.load_rss.contains_key(route.binary),
            "no process served {} under load",
            route.label
        );
    }

    let build = Build {
        command: "not run in the smoke test".into(),
        took: Duration::ZERO,
        compiled: 0,
    };
    let markdown = render(&Report {
        when: "now".into(),
        machine: "this one".into(),
        options: Options::SMOKE,
        profile: xtask::bench::build::release_profile(&xtask::workspace_root()).unwrap(),
        packages: Packages {
            architecture: "arm64".into(),
            fallback: None,
            build: build.clone(),
            sizes: Vec::new(),
        },
        host_build: build,
        cpu: Vec::new(),
        on_stack: measured,
        sam: Vec::new(),
        took: Duration::ZERO,
        load_average: "0.00 0.00 0.00".into(),
    });
    let sections = [
        "## 2. Cold start, under the Lambda model",
        "### TLS, and the connections opened at init",
        "### The period of the CPU share",
        "## 5. Warm requests and memory",
        "### Memory sizes of the functions that hash",
        "## 6. Local load",
        "## 7. Cost",
        "## 9. Capacity",
        "| revoked tokens |",
        "## 10. The cache: on against off",
        "| hot product | on |",
        "| cold listing | off |",
    ]
    .map(String::from);
    // Kept beside the stack's logs, to read.
    std::fs::write(stack.logs_dir.join("BENCHMARKS-smoke.md"), &markdown).unwrap();
    // Where the model could not be applied, the file says so.
    assert_eq!(!cpu_modelled, markdown.contains("NOT APPLIED"));
    let comparisons = [
        "| me | Node.js |",
        "| me | Python |",
        "| me + signing key | Node.js |",
        "| me + signing key | Python |",
    ]
    .map(String::from);
    let functions = stack
        .function_env
        .keys()
        .map(|binary| format!("| {binary} | Rust |"));
    for expected in sections.into_iter().chain(comparisons).chain(functions) {
        assert!(
            markdown.contains(&expected),
            "{expected} missing:\n{markdown}"
        );
    }
}

/// `cargo xtask bench --cold me,jwks`: those functions alone, `me` with its
/// twins and its TLS comparison, printed with the goals they decide; an
/// unknown name is refused before anything runs.
#[tokio::test(flavor = "multi_thread")]
async fn the_cold_only_bench_measures_just_the_functions_named() {
    let stack = StackInfo::from_env().unwrap();
    let bin_dir = xtask::workspace_root().join("target/debug");
    let named = ["me".to_string(), "jwks".to_string()];
    let measured = bench::cold_only(&stack, &bin_dir, &named, 1, |_| {})
        .await
        .unwrap();
    let measured_names: Vec<String> = measured
        .cold
        .iter()
        .map(|c| format!("{} {}", c.language, c.name))
        .collect();
    assert_eq!(
        measured_names,
        [
            "Rust jwks",
            "Rust me",
            "Node.js me",
            "Python me",
            "Node.js me + signing key",
            "Python me + signing key",
        ]
    );
    for cold in &measured.cold {
        assert_eq!(
            cold.first_answer.len(),
            1,
            "{} {}",
            cold.language,
            cold.name
        );
        assert!(
            cold.outcomes.keys().all(|o| o.starts_with('2')),
            "{:?}",
            cold.outcomes
        );
    }
    let variants: Vec<&str> = measured.tls.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(
        variants,
        [bench::PLAIN, bench::TLS_LAZY, bench::TLS_AT_INIT]
    );
    let printed = bench::render::cold_only(&measured);
    assert!(printed.contains("| me | Rust |"), "{printed}");
    assert!(
        printed.contains("Rust `me` at least 10× faster"),
        "{printed}"
    );

    let unknown = ["no-such-function".to_string()];
    let refused = bench::cold_only(&stack, &bin_dir, &unknown, 1, |_| {}).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("no function no-such-function")));
}
