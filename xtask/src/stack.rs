//! The whole service on this machine: DynamoDB Local and moto on loopback,
//! the template's tables, queues and bucket created in them, every function
//! behind `cargo lambda watch` with the template's routes and environment,
//! and the template's SQS event sources played against the local queues.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::call_log::CallLog;
use crate::checks;
use crate::cors;
use crate::docker::Engine;
use crate::dynamodb_local;
use crate::event_sources::{self, Mapping};
use crate::local_names::{REGION, Resolver};
pub use crate::process::free_port;
use crate::process::{self, Managed, Output};
use crate::provision;
use crate::sam_local::{self, SamInfo};
use crate::template::Template;
use crate::tools::Tools;
use crate::ws_gateway;

pub use crate::local_names::LOCAL_ACCESS_KEY;

/// The origin a test stack's HTTP API admits by CORS (`AllowedOrigins`).
pub const ALLOWED_TEST_ORIGIN: &str = "https://app.example.test";

/// The template parameter naming the origins the uploads bucket's CORS admits.
const UPLOAD_CORS_ORIGINS: &str = "UploadCorsOrigins";

/// Each bucket's CORS, by its local name.
fn bucket_policies(
    template: &Template,
    resolver: &crate::local_names::Resolver<'_>,
) -> Result<BTreeMap<String, cors::Policy>> {
    template
        .ids_of_kind("AWS::S3::Bucket")
        .map(|id| {
            Ok((
                resolver.local_name(id),
                cors::Policy::bucket(template, resolver, id)?,
            ))
        })
        .collect()
}

/// The loopback ports of one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// The HTTP API and the Lambda invoke endpoint (`cargo lambda watch`).
    pub api: u16,
    /// DynamoDB Local.
    pub dynamodb: u16,
    /// moto (S3 and SQS).
    pub moto: u16,
    /// The WebSocket API (`xtask::ws_gateway`).
    pub websocket: u16,
    /// Its Management API.
    pub management: u16,
}

impl Ports {
    /// The fixed ports of `cargo xtask dev`.
    pub const DEV: Ports = Ports {
        api: 9000,
        dynamodb: 8000,
        moto: 5050,
        websocket: 9001,
        management: 9002,
    };

    /// Ports the system reports free right now (for test stacks).
    pub fn free() -> Result<Self> {
        let listeners = (0..5)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<std::io::Result<Vec<_>>>()?;
        let port = |i: usize| -> Result<u16> { Ok(listeners[i].local_addr()?.port()) };
        Ok(Self {
            api: port(0)?,
            dynamodb: port(1)?,
            moto: port(2)?,
            websocket: port(3)?,
            management: port(4)?,
        })
    }

    fn all(&self) -> [(u16, &'static str); 5] {
        [
            (self.api, "the HTTP API"),
            (self.dynamodb, "DynamoDB Local"),
            (self.moto, "moto"),
            (self.websocket, "the WebSocket API"),
            (self.management, "the WebSocket Management API"),
        ]
    }
}

/// How to start a stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// A name for its run folder (`.tools/run/<name>`): `dev`, `test`, …
    pub name: String,
    /// Its ports.
    pub ports: Ports,
    /// Rebuild and restart functions when the code changes (`dev`).
    pub reload: bool,
    /// Function logs on this terminal instead of a log file.
    pub function_logs: Output,
    /// Template parameters given a local value over their `Default`.
    pub parameters: BTreeMap<String, String>,
    /// Run the functions' release builds (`cargo xtask bench`) instead of debug ones.
    pub release: bool,
    /// Play the template's SQS event sources (off for the bench, where a
    /// worker busy with the jobs one measure queued would slow the next).
    pub event_sources: bool,
    /// Serve the functions through `sam local` (built this way) instead of
    /// `cargo lambda watch`.
    pub sam: Option<sam_local::Build>,
    /// Put the template's CORS in front of the API and of S3
    /// ([`crate::cors`]): the API's URL and the presigned URLs are then the
    /// fronts'. Off for the bench (it measures the functions, not a relay)
    /// and under `sam local`.
    pub cors_fronts: bool,
    /// The WebSocket API's limits (API Gateway's; shorter in tests).
    pub websocket_limits: ws_gateway::Limits,
}

impl StackOptions {
    /// The options of a stack that tests (and the bench, and the proofs)
    /// run against: free ports, function output to a log file, the per-IP
    /// limits lifted, debug binaries, the SQS event sources played.
    pub fn for_tests(name: &str) -> Result<Self> {
        Ok(Self {
            name: name.into(),
            ports: Ports::free()?,
            reload: false,
            function_logs: Output::LogFile,
            // cargo-lambda gives every request the source IP 127.0.0.1, so the
            // whole suite registers and logs in "from one address"; the per-IP
            // limits are proven in-process with addresses of their own
            // (xtask/tests/api/rate_limits.rs).
            parameters: [
                ("LoginAttemptsPerIpPerMinute".into(), "1000000".into()),
                ("RegisterAttemptsPerIpPerHour".into(), "1000000".into()),
                // One origin the HTTP API's CORS admits, for the CORS tests
                // (xtask/tests/api/browser.rs); none is admitted by default.
                ("AllowedOrigins".into(), ALLOWED_TEST_ORIGIN.into()),
            ]
            .into(),
            release: false,
            event_sources: true,
            sam: None,
            cors_fronts: true,
            websocket_limits: ws_gateway::Limits::default(),
        })
    }
}

/// Where a running stack answers; written to `.tools/run/<name>/stack.json`
/// for the tests, which find it through `STACK_FILE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackInfo {
    /// Base URL of the HTTP API, e.g. `http://127.0.0.1:9000`.
    pub api_url: String,
    /// The WebSocket API, e.g. `ws://127.0.0.1:9001/live` (with its stage, as on AWS).
    #[serde(default)]
    pub websocket_url: String,
    /// Its Management API, as the functions get it.
    #[serde(default)]
    pub management_endpoint: String,
    /// DynamoDB Local's endpoint.
    pub dynamodb_endpoint: String,
    /// moto's endpoint (S3 and SQS).
    pub moto_endpoint: String,
    /// Where the functions reach S3, and so where presigned URLs point:
    /// the bucket CORS front before moto, or moto itself without fronts.
    #[serde(default)]
    pub s3_endpoint: String,
    /// Each function's environment (by binary name), as the template gives it, resolved locally.
    pub function_env: BTreeMap<String, BTreeMap<String, String>>,
    /// The environment every local function shares: region, dummy credentials, endpoints.
    pub aws_env: BTreeMap<String, String>,
    /// Where the stack's logs are (`functions.log` holds every function's output on a test stack).
    pub logs_dir: PathBuf,
    /// Whether its functions (and its instances') are release builds.
    #[serde(default)]
    pub release: bool,
    /// Set when the functions run under `sam local`.
    #[serde(default)]
    pub sam: Option<SamInfo>,
}

impl StackInfo {
    /// The stack the tests run against, named by `STACK_FILE`.
    pub fn from_env() -> Result<Self> {
        let path = std::env::var_os("STACK_FILE").context(
            "STACK_FILE is not set: these tests need the local stack; run them with `cargo xtask test`",
        )?;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", Path::new(&path).display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    /// The SDK clients a function would get on this stack (each service at its emulator).
    pub async fn aws_clients(&self) -> shared::aws::AwsClients {
        self.build_aws_clients(None).await
    }

    /// `aws_clients` whose every call is recorded in `log`.
    pub async fn aws_clients_logged(&self, log: &CallLog) -> shared::aws::AwsClients {
        self.build_aws_clients(Some(log)).await
    }

    async fn build_aws_clients(&self, log: Option<&CallLog>) -> shared::aws::AwsClients {
        provision::clients(&self.dynamodb_endpoint, &self.moto_endpoint, log).await
    }

    /// Exactly the variables `binary` gets from the template, resolved on
    /// this stack, plus the AWS settings every local function gets (region,
    /// credentials, emulator endpoints): what the function sees in Lambda.
    pub fn template_environment(&self, binary: &str) -> shared::config::Environment {
        shared::config::Environment::from_pairs(self.environment_of(binary))
    }

    /// Everything a function gets locally: the shared AWS settings and its own variables.
    pub fn environment_of(&self, binary: &str) -> BTreeMap<String, String> {
        let mut env = self.aws_env.clone();
        env.extend(self.function_env.get(binary).cloned().unwrap_or_default());
        env
    }
}

/// A running local stack; dropping it stops every process it started.
pub struct Stack {
    /// Where it answers.
    pub info: StackInfo,
    run_dir: PathBuf,
    // Stopped in reverse order of start: functions first, emulators last.
    processes: Vec<Managed>,
    stop_pumps: watch::Sender<bool>,
    pumps: Vec<JoinHandle<()>>,
    websocket: Option<ws_gateway::Gateway>,
    // Under `sam local`: the engine (its containers and network go before
    // its private dockerd stops) and the emulators' ports on its network.
    engine: Option<Engine>,
    forwarders: Vec<JoinHandle<()>>,
    // The CORS fronts of the API and of S3 (stopped when dropped).
    fronts: Vec<cors::Front>,
    // The private engine (tools folder, stack name, gateway): what its
    // dockerd leaves on the host goes once it has stopped.
    private_engine: Option<(PathBuf, String, std::net::Ipv4Addr)>,
}

impl Stack {
    /// Starts a stack for the workspace at `root` (tools must be installed).
    pub async fn start(root: &Path, options: &StackOptions) -> Result<Self> {
        let tools = Tools::new(root);
        ensure_inotify_watches();
        let template = Template::load(&root.join("template.yaml"))?;
        let functions = template.functions()?;
        let mut problems = checks::router_mismatches(
            &checks::template_routes(&template)?,
            &checks::router_routes(root)?,
        );
        problems.extend(checks::binary_mismatches(&template, root)?);
        if !problems.is_empty() {
            bail!(
                "template.yaml, the router and the binaries disagree:\n  {}",
                problems.join("\n  ")
            );
        }
        let run_dir = tools.root().join("run").join(&options.name);
        claim_run_dir(&run_dir, &options.name)?;
        for (port, what) in options.ports.all() {
            if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
                bail!(
                    "port {port} (for {what}) is in use on 127.0.0.1; stop what holds it and retry"
                );
            }
        }

        let (stop_pumps, _) = watch::channel(false);
        let mut stack = Stack {
            info: StackInfo {
                api_url: format!("http://127.0.0.1:{}", options.ports.api),
                websocket_url: format!(
                    "ws://127.0.0.1:{}/{}",
                    options.ports.websocket,
                    ws_gateway::stage_of(&template)
                ),
                management_endpoint: format!(
                    "http://127.0.0.1:{}/{}",
                    options.ports.management,
                    ws_gateway::stage_of(&template)
                ),
                dynamodb_endpoint: format!("http://127.0.0.1:{}", options.ports.dynamodb),
                moto_endpoint: format!("http://127.0.0.1:{}", options.ports.moto),
                s3_endpoint: format!("http://127.0.0.1:{}", options.ports.moto),
                function_env: BTreeMap::new(),
                aws_env: BTreeMap::new(),
                logs_dir: run_dir.clone(),
                release: options.release,
                sam: None,
            },
            run_dir: run_dir.clone(),
            processes: Vec::new(),
            stop_pumps,
            pumps: Vec::new(),
            websocket: None,
            engine: None,
            forwarders: Vec::new(),
            fronts: Vec::new(),
            private_engine: None,
        };
        let fronts = options.cors_fronts && options.sam.is_none();

        let mut dynamodb = dynamodb_local::command(
            root,
            options.ports.dynamodb,
            dynamodb_local::Storage::Memory,
            &run_dir,
        )?;
        stack.spawn("dynamodb-local", &mut dynamodb, Output::LogFile)?;

        let mut moto = Command::new(tools.moto_server());
        moto.args(["-H", "127.0.0.1", "-p"])
            .arg(options.ports.moto.to_string())
            .current_dir(&run_dir);
        stack.spawn("moto", &mut moto, Output::LogFile)?;

        let startup = dynamodb_local::STARTUP;
        stack.processes[0].wait_for_port(loopback(options.ports.dynamodb), startup)?;
        stack.processes[1].wait_for_port(loopback(options.ports.moto), startup)?;

        let clients = provision::clients(
            &stack.info.dynamodb_endpoint,
            &stack.info.moto_endpoint,
            None,
        )
        .await;
        let mut resolver = Resolver::new(&template, "");
        for (name, value) in &options.parameters {
            if !template.has_parameter(name) {
                bail!("parameter {name} is not in template.yaml");
            }
            resolver.set_parameter(name, value.clone());
        }
        // The buckets' CORS admits the web client's origin: the API's own.
        if fronts && !options.parameters.contains_key(UPLOAD_CORS_ORIGINS) {
            resolver.set_parameter(UPLOAD_CORS_ORIGINS, stack.info.api_url.clone());
        }
        provision::provision(&clients, &template, &mut resolver).await?;
        provision::local_parameters(&clients, &template, &mut resolver, &options.name).await?;
        // The watch listens inside, the API's front on the API's port.
        let watch_port = if fronts {
            let s3 = cors::Front::start(
                0,
                &stack.info.moto_endpoint,
                cors::Applies::Buckets(bucket_policies(&template, &resolver)?),
            )
            .await?;
            stack.info.s3_endpoint = s3.url.clone();
            stack.fronts.push(s3);
            free_port()?
        } else {
            options.ports.api
        };

        stack.info.aws_env = aws_env(&stack.info);
        for function in &functions {
            let mut env = BTreeMap::new();
            for (name, value) in &function.environment {
                let local = ws_gateway::local_value(
                    name,
                    &stack.info.websocket_url,
                    &stack.info.management_endpoint,
                );
                let value = match local {
                    Some(local) => local,
                    None => resolver.resolve(value).with_context(|| {
                        format!("{}: environment variable {name}", function.logical_id)
                    })?,
                };
                env.insert(name.clone(), value);
            }
            stack.info.function_env.insert(function.binary.clone(), env);
        }
        let invoke_base = match options.sam {
            Some(build) => {
                stack
                    .start_sam(root, &template, options, build, &run_dir)
                    .await?
            }
            None => {
                let env_file = run_dir.join("functions.env");
                std::fs::write(&env_file, union_env_file(&stack.info, &BTreeMap::new())?)?;
                let mut watch = watch_command(root, &stack.info, &env_file, watch_port);
                if !options.reload {
                    watch.arg("--ignore-changes");
                }
                stack.spawn("functions", &mut watch, options.function_logs)?;
                let api = stack.processes.len() - 1;
                stack.processes[api].wait_for_port(loopback(watch_port), startup)?;
                let watch_url = format!("http://127.0.0.1:{watch_port}");
                if fronts {
                    let policy = cors::Policy::api(&template, &resolver)?;
                    let front = cors::Front::start(
                        options.ports.api,
                        &watch_url,
                        cors::Applies::Api(policy),
                    )
                    .await?;
                    stack.fronts.push(front);
                }
                watch_url
            }
        };

        let mut mappings = Vec::new();
        for function in &functions {
            for source in &function.queue_sources {
                let queue = resolver.provisioned(&source.queue).with_context(|| {
                    format!(
                        "{}: queue {} is not in the template",
                        function.logical_id, source.queue
                    )
                })?;
                mappings.push(Mapping {
                    queue_url: queue.url.clone().unwrap_or_default(),
                    queue_arn: queue.arn.clone(),
                    function: function.binary.clone(),
                    // cargo-lambda knows a function by its binary, SAM by its logical id.
                    invoke_url: format!(
                        "{invoke_base}/2015-03-31/functions/{}/invocations",
                        if options.sam.is_some() {
                            &function.logical_id
                        } else {
                            &function.binary
                        }
                    ),
                    batch_size: source.batch_size,
                    report_batch_item_failures: source.report_batch_item_failures,
                });
            }
        }
        event_sources::check_distinct(&mappings)?;
        let socket_routes = ws_gateway::check_routes(&template)?;
        if options.sam.is_none() && !socket_routes.is_empty() {
            stack.websocket = Some(
                ws_gateway::Gateway::start(
                    socket_routes,
                    ws_gateway::stage_of(&template),
                    vec![invoke_base.clone()],
                    options.ports.websocket,
                    options.ports.management,
                    options.websocket_limits,
                )
                .await?,
            );
        }
        if !options.event_sources {
            mappings.clear();
        }
        for mapping in mappings {
            let sqs = clients.sqs().clone();
            let stop = stack.stop_pumps.subscribe();
            stack
                .pumps
                .push(tokio::spawn(event_sources::run(sqs, mapping, stop)));
        }

        std::fs::write(
            run_dir.join("stack.json"),
            serde_json::to_string_pretty(&stack.info)?,
        )?;
        Ok(stack)
    }

    /// The file tests read the stack's coordinates from (`STACK_FILE`).
    pub fn info_file(&self) -> PathBuf {
        self.run_dir.join("stack.json")
    }

    /// Fails if any process of the stack has died.
    pub fn check_running(&mut self) -> Result<()> {
        for process in &mut self.processes {
            process.check_running()?;
        }
        Ok(())
    }

    /// Stops the event sources, then every process, newest first.
    pub async fn stop(mut self) {
        if let Some(gateway) = self.websocket.take() {
            gateway.stop().await;
        }
        self.stop_pumps.send_replace(true);
        for pump in std::mem::take(&mut self.pumps) {
            let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
        }
        self.stop_processes();
    }

    fn stop_processes(&mut self) {
        // Instances tests started and could not stop (a killed test) go first.
        process::kill_groups(&recorded_instances(&self.run_dir));
        for forwarder in self.forwarders.drain(..) {
            forwarder.abort();
        }
        self.fronts.clear();
        // SAM (it stops its containers on SIGINT), then what it left on the
        // engine, then the engine itself with the emulators.
        while self
            .processes
            .last()
            .is_some_and(|p| p.name().starts_with("sam-"))
        {
            if let Some(mut process) = self.processes.pop() {
                process.stop(Signal::SIGINT, Duration::from_secs(10));
            }
        }
        if let Some(engine) = self.engine.take() {
            engine.clean_up();
        }
        while let Some(mut process) = self.processes.pop() {
            // cargo-lambda stops its functions on SIGINT, as on Ctrl-C; a
            // dockerd takes longer (it unmounts what it mounted).
            let grace = if process.name() == "dockerd" { 20 } else { 5 };
            process.stop(Signal::SIGINT, Duration::from_secs(grace));
        }
        if let Some((tools, name, gateway)) = self.private_engine.take() {
            crate::docker::clean_up_after_dockerd(&tools, &name, gateway);
        }
        for file in ["pids", "stack.json"] {
            let _ = std::fs::remove_file(self.run_dir.join(file));
        }
    }

    /// Serves the functions through `sam local start-api` on the API's port
    /// and `sam local start-lambda` (the queue consumers) on a port of its
    /// own, in containers of the stack's engine; the Invoke endpoint's URL.
    async fn start_sam(
        &mut self,
        root: &Path,
        template: &Template,
        options: &StackOptions,
        build: sam_local::Build,
        run_dir: &Path,
    ) -> Result<String> {
        let tools = Tools::new(root);
        let subnet = sam_local::subnet_of(&options.name);
        let mut engine = Engine::start(tools.root(), run_dir, &options.name, subnet)?;
        if let Some(dockerd) = engine.dockerd.take() {
            self.processes.push(dockerd);
            self.record_pids()?;
            self.private_engine = Some((
                tools.root().to_path_buf(),
                options.name.clone(),
                engine.gateway,
            ));
        }
        let gateway = engine.gateway;
        let network = engine.network.clone();
        let docker_host = engine.host.clone();
        let private_engine = engine.private;
        self.engine = Some(engine);
        // The emulators, also on the host's address of the stack's network
        // (and there only besides loopback).
        for port in [options.ports.dynamodb, options.ports.moto] {
            self.forwarders.push(
                sam_local::forward(gateway, port)
                    .await
                    .with_context(|| format!("listening on {gateway}:{port} for the containers"))?,
            );
        }
        let inside = format!("http://{gateway}:");
        let envs: BTreeMap<String, BTreeMap<String, String>> = self
            .info
            .function_env
            .iter()
            .map(|(binary, env)| {
                let env = env
                    .iter()
                    .map(|(k, v)| (k.clone(), v.replace("http://127.0.0.1:", &inside)))
                    .collect();
                (binary.clone(), env)
            })
            .collect();
        let endpoints: BTreeMap<String, String> = aws_env(&self.info)
            .into_iter()
            .filter(|(k, _)| k.starts_with("AWS_ENDPOINT_URL_") || k == "AWS_EC2_METADATA_DISABLED")
            .map(|(k, v)| (k, v.replace("http://127.0.0.1:", &inside)))
            .collect();
        let build_dir = sam_local::build_dir(run_dir);
        sam_local::build(root, &build_dir, template, build)?;
        let functions = template.functions()?;
        sam_local::check_glibc(&build_dir, &functions)?;
        let all = build_dir.join("template.yaml");
        let consumers = build_dir.join("queue-consumers.yaml");
        let write = |path: &Path, value: Value| -> Result<()> {
            Ok(std::fs::write(path, serde_json::to_string_pretty(&value)?)?)
        };
        write(
            &all,
            sam_local::built_template(template, &envs, &endpoints, |_| true)?,
        )?;
        write(
            &consumers,
            sam_local::built_template(template, &envs, &endpoints, |f| {
                !f.queue_sources.is_empty()
            })?,
        )?;
        let engine = self.engine.as_ref().context("the engine")?;
        let api_port = options.ports.api.to_string();
        let lambda_port = free_port()?.to_string();
        fn serve(port: &str) -> Vec<&str> {
            vec![
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--warm-containers",
                sam_local::WARM_CONTAINERS,
            ]
        }
        let mut api = sam_local::local_command(root, "start-api", &all, engine, &serve(&api_port))?;
        let mut lambda = sam_local::local_command(
            root,
            "start-lambda",
            &consumers,
            engine,
            &serve(&lambda_port),
        )?;
        self.spawn("sam-api", &mut api, options.function_logs)?;
        self.spawn("sam-lambda", &mut lambda, Output::LogFile)?;
        let startup = Duration::from_secs(120);
        let count = self.processes.len();
        self.processes[count - 2].wait_for_port(loopback(options.ports.api), startup)?;
        let lambda_port: u16 = lambda_port.parse()?;
        self.processes[count - 1].wait_for_port(loopback(lambda_port), startup)?;
        let lambda_url = format!("http://127.0.0.1:{lambda_port}");
        self.info.sam = Some(SamInfo {
            lambda_url: lambda_url.clone(),
            template: all,
            docker_host,
            network,
            private_engine,
            gateway,
        });
        Ok(lambda_url)
    }

    fn spawn(&mut self, name: &str, command: &mut Command, output: Output) -> Result<()> {
        let process = Managed::spawn(name, command, &self.run_dir, output)?;
        self.processes.push(process);
        self.record_pids()
    }

    fn record_pids(&self) -> Result<()> {
        let mut text = format!("{}\n", std::process::id());
        for process in &self.processes {
            text.push_str(&format!("{} {}\n", process.pgid(), process.name()));
        }
        std::fs::write(self.run_dir.join("pids"), text)?;
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop_pumps.send_replace(true);
        for pump in &self.pumps {
            pump.abort();
        }
        self.stop_processes();
    }
}

/// `cargo lambda watch` serving every function on `port`, with `env_file`
/// and the stack's AWS settings, and none of the developer's own.
fn watch_command(root: &Path, info: &StackInfo, env_file: &Path, port: u16) -> Command {
    let tools = Tools::new(root);
    let mut watch = Command::new(tools.cargo_lambda());
    watch
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(port.to_string())
        .arg("--env-file")
        .arg(env_file)
        .current_dir(root)
        .env("PATH", tools.path_env());
    if info.release {
        watch.arg("--release");
    }
    for (key, _) in std::env::vars_os() {
        // Real AWS settings of the developer never reach a local function.
        if key.to_string_lossy().starts_with("AWS_") {
            watch.env_remove(key);
        }
    }
    watch.envs(&info.aws_env);
    watch
}

/// One more instance of every function over a running stack's emulators:
/// its own `cargo lambda watch` (so its own function processes) on a port
/// of its own, with the stack's environment and, optionally, some variables
/// changed. Stopped when dropped, also when the test that started it fails;
/// the stack stops any a killed test left behind.
pub struct Instance {
    /// Base URL of this instance's HTTP API.
    pub api_url: String,
    process: Managed,
    pgid_file: PathBuf,
}

impl Instance {
    /// Starts instance `name` (a file name) of the stack `info` describes.
    pub fn start(info: &StackInfo, name: &str, overrides: &[(&str, &str)]) -> Result<Self> {
        let root = crate::workspace_root();
        let dir = info.logs_dir.join("instances");
        std::fs::create_dir_all(&dir)?;
        let overrides: BTreeMap<String, String> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env_file = dir.join(format!("{name}.env"));
        std::fs::write(&env_file, union_env_file(info, &overrides)?)?;
        let port = free_port()?;
        let mut watch = watch_command(&root, info, &env_file, port);
        // The functions inherit cargo-lambda's environment too (the stack's
        // AWS settings among it): the overrides win there as well.
        watch.arg("--ignore-changes").envs(&overrides);
        let mut process = Managed::spawn(name, &mut watch, &dir, Output::LogFile)?;
        let pgid_file = dir.join(format!("{name}.pgid"));
        std::fs::write(&pgid_file, process.pgid().to_string())?;
        process.wait_for_port(loopback(port), Duration::from_secs(60))?;
        Ok(Self {
            api_url: format!("http://127.0.0.1:{port}"),
            process,
            pgid_file,
        })
    }

    /// Kills every process of the instance at once, as a crash would: no
    /// signal to handle, no request finished.
    pub fn kill(mut self) {
        self.process.stop(Signal::SIGKILL, Duration::ZERO);
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.process.stop(Signal::SIGINT, Duration::from_secs(5));
        let _ = std::fs::remove_file(&self.pgid_file);
    }
}

/// The process groups of instances recorded under `run_dir` and still there.
fn recorded_instances(run_dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("instances")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pgid"))
        .filter_map(|path| {
            let pgid = std::fs::read_to_string(&path).ok()?.trim().parse().ok();
            let _ = std::fs::remove_file(&path);
            pgid
        })
        .collect()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Makes the run folder ours: refuses if a live run owns it, cleans up after a dead one.
fn claim_run_dir(run_dir: &Path, name: &str) -> Result<()> {
    std::fs::create_dir_all(run_dir)?;
    let pids_file = run_dir.join("pids");
    if let Ok(text) = std::fs::read_to_string(&pids_file) {
        let mut lines = text.lines();
        let owner: Option<u32> = lines.next().and_then(|l| l.trim().parse().ok());
        let groups: Vec<u32> = lines
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        if let Some(owner) =
            owner.filter(|&pid| pid != std::process::id() && process::is_alive(pid))
        {
            bail!(
                "a `{name}` stack is already running (xtask pid {owner}); stop it first (Ctrl-C in its terminal)"
            );
        }
        // The run that wrote this died without cleaning up: its processes go now.
        process::kill_groups(&groups);
        process::kill_groups(&recorded_instances(run_dir));
        std::fs::remove_file(&pids_file)?;
    }
    for stale in ["stack.json", "functions.env"] {
        let _ = std::fs::remove_file(run_dir.join(stale));
    }
    Ok(())
}

/// The inotify watches a stack may need. `cargo lambda watch` watches the
/// whole workspace even with `--ignore-changes` (about 130,000 watches in a
/// checkout with its `.tools/` and `target/`: seen in a fresh clone), and
/// the tests run several instances and SAM's own file observers beside it;
/// Debian's default of 192,536 a user ran out under the SAM test.
const INOTIFY_WATCHES: u64 = 1_048_576;

/// Raises `fs.inotify.max_user_watches` to [`INOTIFY_WATCHES`] where it is
/// lower and the tool runs as root, and says so (a watch costs the kernel
/// memory only while it is held). Elsewhere it leaves the limit as it is.
fn ensure_inotify_watches() {
    let path = Path::new("/proc/sys/fs/inotify/max_user_watches");
    let Some(limit) = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
    else {
        return;
    };
    if limit >= INOTIFY_WATCHES || !nix::unistd::geteuid().is_root() {
        return;
    }
    match std::fs::write(path, INOTIFY_WATCHES.to_string()) {
        Ok(()) => println!(
            "xtask: raised fs.inotify.max_user_watches from {limit} to {INOTIFY_WATCHES} \
             (cargo lambda watch holds about 130,000)"
        ),
        Err(error) => println!(
            "xtask: fs.inotify.max_user_watches is {limit} and could not be raised ({error}); \
             a second stack may run out of watches"
        ),
    }
}

/// Region, dummy credentials and the emulator endpoints, for every local function.
fn aws_env(info: &StackInfo) -> BTreeMap<String, String> {
    [
        ("AWS_REGION", REGION.to_string()),
        ("AWS_DEFAULT_REGION", REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", LOCAL_ACCESS_KEY.to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("AWS_ENDPOINT_URL_DYNAMODB", info.dynamodb_endpoint.clone()),
        ("AWS_ENDPOINT_URL_S3", info.s3_endpoint.clone()),
        ("AWS_ENDPOINT_URL_SQS", info.moto_endpoint.clone()),
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            info.moto_endpoint.clone(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// cargo-lambda gives every function one environment file, so the file is the
/// union of the functions' variables; a name two functions set differently
/// cannot be expressed that way and is refused. (That each function needs no
/// more than its own is checked by the handler tests, which configure each
/// handler from its template environment alone.) `overrides` replace any
/// variable of the union.
fn union_env_file(info: &StackInfo, overrides: &BTreeMap<String, String>) -> Result<String> {
    let mut union: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for (binary, env) in &info.function_env {
        for (name, value) in env {
            match union.get(name.as_str()) {
                Some((other, existing)) if existing != value => bail!(
                    "functions {other} and {binary} set {name} to different values; give the variable a name of its own in one of them"
                ),
                _ => {
                    union.insert(name, (binary, value));
                }
            }
        }
    }
    let mut text = String::new();
    for (name, value) in info
        .aws_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(union.iter().map(|(k, (_, v))| (*k, *v)))
        .filter(|(name, _)| !overrides.contains_key(*name))
        .chain(overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    {
        // Single quotes keep the value literal (JSON included) in cargo-lambda's dotenv parser.
        if value.contains('\n') || value.contains('\'') {
            bail!(
                "environment variable {name} has a newline or a single quote; the local stack cannot pass it"
            );
        }
        text.push_str(&format!("{name}='{value}'\n"));
    }
    Ok(text)
}
