//! `cargo xtask <command>`; run `cargo xtask help` for the list.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xtask::cargo;
use xtask::process::Output;
use xtask::stack::{Ports, Stack, StackOptions};
use xtask::tools::{Tools, run};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  dev      run the whole service locally (emulators, functions, event sources) until Ctrl-C
  dev --sam
           the same with the functions under `sam local start-api` (port 3000) and
           `sam local start-lambda`, built by `sam build`, in Docker (installed and
           started here as root when no engine runs)
  invoke <Function> <event file>
           on the running `dev --sam`: `sam local invoke` of a sample event, made live
           (a token of a user of its own, the ids that user owns)
  test     run every check and test against a local stack of its own
           (arguments after it go to `cargo test`, e.g. `cargo xtask test --test api cart::`)
  prove    the statelessness scenarios on a stack of their own, and a report of
           requests, instances, kills, outages, failures and lost writes
  bench    the performance measures (release builds and sizes, cold starts beside
           Node.js and Python, CPU, AWS calls, memory, local load, cost) into BENCHMARKS.md;
           `bench --cold me,refresh [--runs N]` prints only those cold starts under the
           model (with me's Node.js and Python twins): a before and after in minutes
  routes   write the `cargo lambda watch` router in Cargo.toml from template.yaml
           (dev does it before it starts; a test fails when it is stale)
  install  install the pinned local tools into .tools/ (dev and test do it when needed)
  lint     cfn-lint and checkov on template.yaml
  keygen   a deployment's first signing key and its account key (two secrets)
  keys tick | keys withdraw <kid>
           on the running dev stack (or STACK_FILE's): one step of the signing keys'
           rotation, or the emergency withdrawal of a key
  admin grant|revoke <email> <role>
           on the running dev stack (or STACK_FILE's): gives or takes a role
           (`admin`), seen by that user's very next request
  metrics [--traces N]
           on the running dev stack: requests, errors, p50/p99, cold starts and
           store calls per function (from its metric lines), and the last N traces
  sam ...  the pinned AWS SAM CLI (e.g. `cargo xtask sam validate --lint`, `cargo xtask sam build`)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => match &args[1..] {
            [] => dev(false),
            [flag] if flag == "--sam" => dev(true),
            _ => Err(anyhow::anyhow!("usage: cargo xtask dev [--sam]")),
        },
        Some("invoke") => invoke(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("prove") => prove(),
        Some("bench") => match &args[1..] {
            [] => bench(),
            [flag, functions] if flag == "--cold" => bench_cold(functions, 30),
            [flag, functions, runs, count] if flag == "--cold" && runs == "--runs" => count
                .parse()
                .map_err(|_| anyhow::anyhow!("--runs takes a number, not {count}"))
                .and_then(|count| bench_cold(functions, count)),
            _ => Err(anyhow::anyhow!(
                "usage: cargo xtask bench [--cold <function>[,<function>...] [--runs N]]"
            )),
        },
        Some("routes") => routes(),
        Some("install") => install(),
        Some("lint") => install().and_then(|()| lint()).and_then(|()| checkov()),
        Some("sam") => sam(&args[1..]),
        Some("keygen") => keygen(),
        Some("keys") => keys(&args[1..]),
        Some("admin") => admin(&args[1..]),
        Some("metrics") => metrics(&args[1..]),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> std::path::PathBuf {
    xtask::workspace_root()
}

fn install() -> Result<()> {
    Tools::new(&root()).ensure_installed(&root())
}

fn lint() -> Result<()> {
    let tools = Tools::new(&root());
    println!("xtask: cfn-lint template.yaml");
    run(Command::new(tools.cfn_lint())
        .arg("template.yaml")
        .current_dir(root()))
}

/// checkov's security checks on the template, offline: no platform API key,
/// no download of its policies, no update check. Its settings and every
/// skipped check, with the reason, are in `.checkov.yaml`; skips that
/// concern one resource are in that resource's `Metadata.checkov`.
fn checkov() -> Result<()> {
    let tools = Tools::new(&root());
    println!("xtask: checkov template.yaml (settings and skips: .checkov.yaml)");
    run(Command::new(tools.checkov())
        .args(["--config-file", ".checkov.yaml"])
        .current_dir(root())
        .env_remove("BC_API_KEY")
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true"))
}

/// Runs the SAM CLI: telemetry off; for commands that work offline, a region
/// and dummy credentials unless real ones are set.
fn sam(args: &[String]) -> Result<()> {
    run(&mut sam_command(args, None)?)
}

/// The SAM CLI command of [`sam`]; with a limit (seconds), under
/// `timeout`, which stops it and everything it started when time is up.
fn sam_command(args: &[String], limit: Option<u64>) -> Result<Command> {
    let tools = Tools::new(&root());
    install()?;
    let sam = tools.ensure_sam(&root())?;
    let mut command = match limit {
        Some(seconds) => {
            let mut command = Command::new("timeout");
            command
                .args(["--kill-after=10", &seconds.to_string()])
                .arg(sam);
            command
        }
        None => Command::new(sam),
    };
    command
        .args(args)
        .current_dir(root())
        .env("SAM_CLI_TELEMETRY", "0")
        .env("PATH", tools.path_env());
    let offline = matches!(args.first().map(String::as_str), Some("validate" | "build"));
    if offline && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        command
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local");
    }
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        command.env("AWS_DEFAULT_REGION", xtask::local_names::REGION);
    }
    Ok(command)
}

/// Writes a deployment's first signing key (the key set's secret JSON) and
/// a new account key (secret JSON) under `.tools/keys/`, and says how to
/// deploy them.
fn keygen() -> Result<()> {
    let keys = shared::accounts::keyset::KeySet::first(shared::time::Timestamp::now())
        .map_err(|e| anyhow::anyhow!("generating the key: {e}"))?;
    let kid = keys
        .signing_key()
        .map_err(|e| anyhow::anyhow!("generating the key: {e}"))?
        .kid()
        .to_string();
    let (account_secret, _) = shared::accounts::account_key::AccountKeys::generate();
    let dir = root().join(".tools/keys");
    std::fs::create_dir_all(&dir)?;
    let write_secret = |name: String, text: &str| -> Result<std::path::PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?
            .write_all(text.as_bytes())?;
        Ok(path)
    };
    let secret = keys
        .to_secret()
        .map_err(|e| anyhow::anyhow!("the signing keys' secret: {e}"))?;
    let secret_file = write_secret(format!("{kid}.signing-keys.json"), &secret)?;
    let account_file = write_secret(format!("{kid}.account-key.json"), &account_secret)?;
    println!(
        "signing keys (secret, mode 0600): {}",
        secret_file.display()
    );
    println!(
        "account key (secret, mode 0600):  {}",
        account_file.display()
    );
    println!();
    println!("Store both secrets in Secrets Manager, then deploy with them:");
    println!("  aws secretsmanager create-secret --name stateless-lambda/signing-keys \\");
    println!("      --secret-string file://{}", secret_file.display());
    println!("  aws secretsmanager create-secret --name stateless-lambda/account-key \\");
    println!("      --secret-string file://{}", account_file.display());
    println!("  sam deploy --parameter-overrides SigningKeySecretArn=<first ARN> \\");
    println!("      AccountKeySecretArn=<second ARN>");
    println!();
    println!("Then publish the first key at once, rather than at the hourly tick:");
    println!(
        "  aws sqs send-message --queue-url <the stack's KeyRotationQueue URL> --message-body '{{}}'"
    );
    println!();
    println!("From then on RotateKeysFunction rotates the signing key every KEY_ROTATION_DAYS.");
    println!("Keep the account key: a new one ends every session's refresh tokens.");
    println!(
        "Then delete {} and {} .",
        secret_file.display(),
        account_file.display()
    );
    Ok(())
}

/// The running dev stack (or the one `STACK_FILE` names).
fn running_stack() -> Result<xtask::stack::StackInfo> {
    let stack_file = std::env::var_os("STACK_FILE")
        .map_or_else(|| root().join(".tools/run/dev/stack.json"), Into::into);
    let text = std::fs::read_to_string(&stack_file).with_context(|| {
        format!(
            "reading {}: is `cargo xtask dev` running?",
            stack_file.display()
        )
    })?;
    Ok(serde_json::from_str(&text)?)
}

/// What an operator would see of the running stack, read from its function
/// logs: the metrics per function, and the last requests' traces.
fn metrics(args: &[String]) -> Result<()> {
    let last = match args {
        [] => 10,
        [flag, n] if flag == "--traces" => n.parse().context("--traces takes a number")?,
        _ => bail!("usage: cargo xtask metrics [--traces N]"),
    };
    let log = running_stack()?.logs_dir.join("functions.log");
    print!("{}", xtask::emf::report(&[&log], last)?);
    Ok(())
}

/// Drives the signing keys' rotation of a running stack, as its schedule
/// (`tick`) or an operator (`withdraw <kid>`) would through its queue.
/// `cargo xtask admin grant|revoke <email> <role>` on the running stack:
/// the same store call a deployment's operator makes (README, "Roles").
fn admin(args: &[String]) -> Result<()> {
    use shared::accounts::roles::{Role, RoleStore};
    let [action, email, role] = args else {
        bail!("usage: cargo xtask admin grant|revoke <email> <role>");
    };
    let role =
        Role::parse(role).with_context(|| format!("unknown role {role:?} (known: admin)"))?;
    let email = shared::accounts::email::Email::parse(email)
        .map_err(|why| anyhow::anyhow!("{email:?} is not an email: {why}"))?;
    let info = running_stack()?;
    runtime()?.block_on(async {
        let env = info.template_environment("me");
        let users = env.require("USERS_TABLE")?;
        let store = RoleStore::new(info.aws_clients().await.dynamodb().clone(), users);
        let user = match action.as_str() {
            "grant" => store.grant(&email, role).await?,
            "revoke" => store.revoke(&email, role).await?,
            other => bail!("unknown action {other:?}: grant or revoke"),
        };
        println!("xtask: {action} {} for user {user}", role.as_str());
        Ok(())
    })
}

fn keys(args: &[String]) -> Result<()> {
    use shared::sqs_batch::Consumer as _;
    let info = running_stack()?;
    runtime()?.block_on(async {
        let rotation = shared::accounts::rotation::RotateKeys::build(
            &info.template_environment("rotate-keys"),
            &info.aws_clients().await,
        )
        .await?;
        let now = shared::time::Timestamp::now();
        let changes = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["tick"] => rotation.tick(now).await?,
            ["withdraw", kid] => rotation.withdraw(kid, now).await?,
            _ => bail!("usage: cargo xtask keys tick | cargo xtask keys withdraw <kid>"),
        };
        println!(
            "created {:?}, now signing {:?}, retired or withdrawn {:?}",
            changes.created, changes.promoted, changes.retired
        );
        Ok(())
    })
}

/// Builds every function binary, so that `cargo lambda watch` starts them at once.
///
/// Not `--workspace`: cargo-lambda runs `cargo run --bin <function>`, which
/// unifies features over that function alone; the default members (shared
/// and the functions) unify to the same set, the dev tool's would not, and
/// every function would then recompile on its first request.
fn build_functions() -> Result<()> {
    println!("xtask: building every function (cargo build --bins)");
    run(cargo().args(["build", "--bins"]))
}

/// The `GET /me` with a planted statelessness bug that the statelessness
/// suite must catch (`xtask/tests/devtool/stateless.rs`). Its dependencies
/// unify to the functions' own set, so only `shared` and the one binary
/// compile.
fn build_planted() -> Result<()> {
    println!("xtask: building the planted-bug binary (planted-me)");
    run(cargo().args([
        "build",
        "--package",
        "me",
        "--bin",
        "planted-me",
        "--features",
        "planted-tmp-session-cache",
    ]))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Writes the router from the template, saying whether it changed.
fn routes() -> Result<()> {
    if xtask::router::write(&root())? {
        println!("xtask: wrote the router in Cargo.toml from template.yaml");
    } else {
        println!("xtask: the router in Cargo.toml is the template's already");
    }
    Ok(())
}

/// The API's port under `cargo xtask dev --sam` (SAM's own default).
const SAM_API_PORT: u16 = 3000;

fn dev(sam: bool) -> Result<()> {
    routes()?;
    install()?;
    if sam {
        install_sam()?;
    } else {
        build_functions()?;
    }
    runtime()?.block_on(async {
        let options = StackOptions {
            name: "dev".into(),
            ports: if sam {
                Ports {
                    api: SAM_API_PORT,
                    ..Ports::DEV
                }
            } else {
                Ports::DEV
            },
            reload: !sam,
            function_logs: Output::TerminalAndLogFile,
            parameters: Default::default(),
            release: false,
            event_sources: true,
            sam: sam.then_some(xtask::sam_local::Build::SamBuild),
            cors_fronts: true,
            websocket_limits: Default::default(),
        };
        if sam {
            println!("xtask: starting DynamoDB Local, moto, Docker and sam local on 127.0.0.1");
        } else {
            println!("xtask: starting DynamoDB Local, moto and the functions on 127.0.0.1");
        }
        let mut stack = Stack::start(&root(), &options).await?;
        let info = &stack.info;
        println!();
        println!("  HTTP API         {}", info.api_url);
        println!("  web client       {}/app/index.html", info.api_url);
        if !sam {
            println!(
                "  WebSocket API    {} (a ticket from POST /realtime/tickets opens it)",
                info.websocket_url
            );
        }
        println!("  DynamoDB Local   {}", info.dynamodb_endpoint);
        println!("  moto (S3, SQS)   {}", info.moto_endpoint);
        if info.s3_endpoint != info.moto_endpoint {
            println!(
                "  S3 with CORS     {} (presigned URLs point here)",
                info.s3_endpoint
            );
        }
        println!();
        println!("  try:  curl -i {}/health", info.api_url);
        println!();
        if let Some(sam) = &info.sam {
            println!(
                "  Lambda Invoke    {} (sam local start-lambda)",
                sam.lambda_url
            );
            println!("  built template   {}", sam.template.display());
            println!();
            println!("  a sample event:  cargo xtask invoke MeFunction events/me/bearer.json");
            println!();
            println!("Functions run from the sam build above. Ctrl-C stops everything.");
        } else {
            println!("  metrics and the last requests' traces:  cargo xtask metrics");
            println!();
            println!("Functions rebuild when the code changes. Ctrl-C stops everything.");
        }
        let outcome = loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if let Err(error) = stack.check_running() {
                        break Err(error);
                    }
                }
            }
        };
        println!("\nxtask: stopping the stack");
        stack.stop().await;
        outcome
    })
}

/// The SAM CLI, Docker (where it can be had) and the base image's files.
fn install_sam() -> Result<()> {
    Tools::new(&root()).ensure_sam(&root())?;
    xtask::docker::ensure_installed()?;
    xtask::docker::ensure_base_image_files(&root().join(".tools"))?;
    Ok(())
}

/// `sam local invoke` of a sample event, made live, on the running `dev --sam`.
fn invoke(args: &[String]) -> Result<()> {
    let [function, event] = args else {
        bail!(
            "usage: cargo xtask invoke <Function> <event file> (e.g. MeFunction events/me/bearer.json)"
        );
    };
    let info = running_stack()?;
    let sam = info
        .sam
        .as_ref()
        .context("the running dev stack is not under sam local: start `cargo xtask dev --sam`")?;
    let template = xtask::template::Template::load(&root().join("template.yaml"))?;
    let function = template
        .functions()?
        .into_iter()
        .find(|f| &f.logical_id == function || &f.binary == function)
        .with_context(|| format!("no function {function} in template.yaml"))?;
    let path = std::fs::canonicalize(event).with_context(|| format!("reading {event}"))?;
    let happy = xtask::happy_path::HappyPath::new(&info.api_url, Some(&info))?;
    let live = xtask::happy_path::live_event(&happy, &function.binary, &path)?;
    let dir = info.logs_dir.join("events");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!("{}.json", function.binary));
    std::fs::write(&file, serde_json::to_string_pretty(&live)?)?;
    println!(
        "xtask: sam local invoke {} --event {}",
        function.logical_id,
        file.display()
    );
    run(&mut xtask::sam_local::invoke_command(
        &root(),
        sam,
        &function.logical_id,
        &file,
    )?)
}

/// Runs `xtask::prove`'s scenarios against a stack of their own and prints
/// the report; fails if any property did not hold.
fn prove() -> Result<()> {
    install()?;
    build_functions()?;
    let runtime = runtime()?;
    println!("xtask: starting a stack on free loopback ports");
    let stack = runtime.block_on(Stack::start(&root(), &StackOptions::for_tests("prove")?))?;
    println!(
        "xtask: stack up at {} (logs in .tools/run/prove/)",
        stack.info.api_url
    );
    // Scenarios block on their HTTP calls; the stack's event sources go on
    // running on the runtime's workers meanwhile.
    let tallies = xtask::prove::run_all(&stack.info, |tally| {
        let verdict = if tally.problems.is_empty() {
            "ok"
        } else {
            "FAILED"
        };
        println!(
            "xtask: {}: {verdict} ({} requests, {}s)",
            tally.scenario,
            tally.requests,
            tally.took.as_secs()
        );
    });
    runtime.block_on(stack.stop());
    println!();
    print!("{}", xtask::prove::render(&tallies));
    let problems: usize = tallies.iter().map(|t| t.problems.len()).sum();
    if problems > 0 {
        bail!("{problems} problems");
    }
    Ok(())
}

/// How long the bench lets each SAM command run.
const SAM_LIMIT_SECONDS: u64 = 1200;

/// Runs every measure of `xtask::bench` once and writes `BENCHMARKS.md`.
fn bench() -> Result<()> {
    use xtask::bench::{self, Options, build, render::Report};
    let started = Instant::now();
    let when = utc_now()?;
    install()?;
    Tools::new(&root()).ensure_bench_tools(&root())?;
    let binaries: Vec<String> = xtask::template::Template::load(&root().join("template.yaml"))?
        .functions()?
        .into_iter()
        .map(|f| f.binary)
        .collect();
    println!("xtask: bench 1/5: release packages (cargo lambda build --release --arm64)");
    let packages = build::lambda_packages(&root(), &binaries)?;
    println!("xtask: bench 2/5: release binaries for this machine");
    let (host_build, bin_dir) = build::host_release(&root())?;
    println!("xtask: bench 3/5: CPU of the hot paths (criterion)");
    let cpu = bench::cpu::measure(&root(), &root().join("target"), false)?;
    println!("xtask: bench 4/5: cold starts, memory, AWS calls and load on a release stack");
    let runtime = runtime()?;
    let options = StackOptions {
        parameters: bench::stack_parameters(),
        release: true,
        event_sources: false,
        cors_fronts: false,
        ..StackOptions::for_tests("bench")?
    };
    let stack = runtime.block_on(Stack::start(&root(), &options))?;
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string());
    let measured = runtime.block_on(bench::on_stack(
        &stack.info,
        &bin_dir,
        Options::FULL,
        |step| println!("xtask: bench: {step}"),
    ));
    runtime.block_on(stack.stop());
    println!("xtask: bench 5/5: sam validate --lint, sam build; BENCHMARKS.md");
    let mut sam_runs = Vec::new();
    for args in [&["validate", "--lint"][..], &["build"][..]] {
        let args: Vec<String> = args.iter().map(ToString::to_string).collect();
        let started = Instant::now();
        let result = sam_command(&args, Some(SAM_LIMIT_SECONDS))
            .and_then(|mut command| run(&mut command))
            .map(|()| started.elapsed())
            .map_err(|e| format!("{e:#} (after {}s)", started.elapsed().as_secs()));
        sam_runs.push((format!("sam {}", args.join(" ")), result));
    }
    // The user's own path under SAM: `sam build` for this machine, then the
    // stack of `cargo xtask dev --sam`, and the journey through it.
    let journey_started = Instant::now();
    let result = runtime
        .block_on(sam_journey())
        .map(|()| journey_started.elapsed())
        .map_err(|e| format!("{e:#} (after {}s)", journey_started.elapsed().as_secs()));
    sam_runs.push((
        "sam build, then sam local start-api and start-lambda (dev --sam): the journey".into(),
        result,
    ));
    let report = Report {
        when,
        machine: machine(),
        options: Options::FULL,
        profile: build::release_profile(&root())?,
        packages,
        host_build,
        cpu,
        on_stack: measured?,
        sam: sam_runs,
        took: started.elapsed(),
        load_average,
    };
    std::fs::write(root().join("BENCHMARKS.md"), bench::render::render(&report))?;
    println!(
        "xtask: wrote BENCHMARKS.md in {}m",
        started.elapsed().as_secs().div_ceil(60)
    );
    Ok(())
}

/// `cargo xtask bench --cold`: release builds of `functions` (a comma
/// list), their cold starts under the model on the bench's stack, printed.
fn bench_cold(functions: &str, runs: usize) -> Result<()> {
    use xtask::bench;
    let functions: Vec<String> = functions.split(',').map(str::to_string).collect();
    install()?;
    Tools::new(&root()).ensure_bench_tools(&root())?;
    println!(
        "xtask: bench --cold: release binaries of {}",
        functions.join(", ")
    );
    let mut build = xtask::cargo();
    build.args(["build", "--release"]).current_dir(root());
    for function in &functions {
        build.args(["--bin", function]);
    }
    run(&mut build)?;
    let runtime = runtime()?;
    // The stack only makes the events (users, tokens): its debug builds do.
    let options = StackOptions {
        parameters: bench::stack_parameters(),
        event_sources: false,
        ..StackOptions::for_tests("bench")?
    };
    let stack = runtime.block_on(Stack::start(&root(), &options))?;
    let measured = runtime.block_on(bench::cold_only(
        &stack.info,
        &root().join("target/release"),
        &functions,
        runs,
        |step| println!("xtask: bench: {step}"),
    ));
    runtime.block_on(stack.stop());
    print!("{}", bench::render::cold_only(&measured?));
    Ok(())
}

/// `cargo xtask dev --sam`'s stack on free ports (`sam build` included),
/// and the journey of `cargo xtask prove` through it.
async fn sam_journey() -> Result<()> {
    install_sam()?;
    let options = StackOptions {
        sam: Some(xtask::sam_local::Build::SamBuild),
        ..StackOptions::for_tests("bench-sam")?
    };
    let stack = Stack::start(&root(), &options).await?;
    let info = stack.info.clone();
    let tally =
        tokio::task::spawn_blocking(move || xtask::prove::journey::on_one_instance(&info)).await;
    stack.stop().await;
    tally?.check()
}

/// `2026-11-23 15:04 UTC`.
fn utc_now() -> Result<String> {
    let output = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Cores, CPU model and system, for the record.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!(
        "{cores} cores, {cpu}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn test(cargo_test_args: &[String]) -> Result<()> {
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut step = |name: &str, result: Result<()>| {
        if let Err(error) = result {
            eprintln!("xtask: {name} FAILED: {error:#}");
            failures.push(name.to_string());
        }
    };

    println!("xtask: cargo fmt --check");
    step(
        "rustfmt",
        run(cargo().args(["fmt", "--all", "--", "--check"])),
    );
    println!("xtask: cargo clippy --workspace --all-targets -- -D warnings");
    step(
        "clippy",
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])),
    );
    install()?;
    // The bench's smoke test (xtask/tests/devtool/bench.rs) runs wrk and the comparisons.
    Tools::new(&root()).ensure_bench_tools(&root())?;
    // The browser tests (xtask/tests/api/browser.rs) drive Debian's chromium.
    Tools::new(&root()).ensure_browser_tools(&root())?;
    step("cfn-lint", lint());
    step("checkov", checkov());
    // What the SAM test needs (xtask/tests/sam.rs); where it cannot be had,
    // that test fails too, saying why.
    step("sam local (SAM CLI, Docker, base image)", install_sam());
    build_functions()?;
    build_planted()?;

    let outcome = runtime()?.block_on(async {
        println!("xtask: starting a test stack on free loopback ports");
        let stack = Stack::start(&root(), &StackOptions::for_tests("test")?).await?;
        println!(
            "xtask: stack up at {} (logs in .tools/run/test/)",
            stack.info.api_url
        );
        let file = stack.info_file();
        let cargo_test_args = cargo_test_args.to_vec();
        let tests = tokio::task::spawn_blocking(move || {
            let targets = if cargo_test_args.is_empty() {
                vec!["--all-targets".to_string()]
            } else {
                cargo_test_args
            };
            run(cargo()
                .args(["test", "--workspace"])
                .args(&targets)
                .env("STACK_FILE", &file))
        })
        .await;
        stack.stop().await;
        tests.context("the test run panicked")?
    });
    step("cargo test", outcome);

    let elapsed = started.elapsed().as_secs();
    println!("xtask: finished in {}m{:02}s", elapsed / 60, elapsed % 60);
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("failed: {}", failures.join(", "))
    }
}
