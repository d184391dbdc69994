//! The functions under AWS SAM CLI instead of `cargo lambda watch`: built by
//! `sam build` (or, for the tests, the debug binaries laid out exactly where
//! `sam build` puts its output), served by `sam local start-api` (the HTTP
//! API) and `sam local start-lambda` (the Lambda `Invoke` endpoint the SQS
//! event sources are played against), each function in a container of the
//! stack's Docker engine (`crate::docker`), with the template's environment
//! pointed at the emulators from inside the container. That environment is
//! written into the built template (`.aws-sam/build/template.yaml` of the
//! stack's run folder), never into `template.yaml`.
//!
//! Locally the functions are built for this machine's architecture (the
//! template's `Architecture` parameter, `arm64` when deployed): x86-64
//! binaries run natively here, where arm64 ones would need qemu-user and
//! binfmt, which these machines do not have, and would run many times
//! slower.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::docker::{self, Engine};
use crate::glibc;
use crate::local_names::{LOCAL_ACCESS_KEY, REGION};
use crate::template::{Function, Template};
use crate::tools::Tools;

/// How the functions are built for SAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// `sam build` (release builds with cargo-lambda, for this machine): the user's path.
    SamBuild,
    /// The debug binaries of `cargo build --bins`, laid out as `sam build`
    /// lays out its output (`<LogicalId>/bootstrap` beside the built
    /// template): what the tests use, where a release build of every
    /// function would cost them minutes.
    DebugBinaries,
}

/// What a stack served through `sam local` adds to its [`StackInfo`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamInfo {
    /// `sam local start-lambda`'s Lambda `Invoke` endpoint (on loopback).
    pub lambda_url: String,
    /// The built template the functions run from (with their local environment).
    pub template: PathBuf,
    /// The Docker engine (`DOCKER_HOST`) and the stack's network on it.
    pub docker_host: String,
    pub network: String,
    /// Whether the engine is the stack's own `dockerd`.
    pub private_engine: bool,
    /// The host's address on that network (where the containers reach the emulators).
    pub gateway: std::net::Ipv4Addr,
}

/// How SAM keeps the function containers (`--warm-containers`).
pub const WARM_CONTAINERS: &str = "LAZY";

pub use crate::template::ARCHITECTURE_PARAMETER;

/// The Lambda architecture of this machine.
pub fn host_architecture() -> &'static str {
    if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "x86_64"
    }
}

/// Where the stack's build goes: `.aws-sam/build` of its run folder (a
/// private build, so a local build for this machine never reaches `sam
/// deploy`, which reads the project's own `.aws-sam/build`).
pub fn build_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(".aws-sam/build")
}

/// Builds the functions into `build_dir` as `build` says.
pub fn build(root: &Path, build_dir: &Path, template: &Template, build: Build) -> Result<()> {
    match build {
        Build::SamBuild => {
            println!(
                "xtask: sam build (cargo lambda build --release, for {}) into {}",
                host_architecture(),
                build_dir.display()
            );
            let overrides = format!("{ARCHITECTURE_PARAMETER}={}", host_architecture());
            let build_dir = build_dir.to_string_lossy().into_owned();
            crate::tools::run(&mut sam_command(
                root,
                &[
                    "build",
                    "--build-dir",
                    &build_dir,
                    "--parameter-overrides",
                    &overrides,
                ],
            )?)
        }
        Build::DebugBinaries => {
            let _ = std::fs::remove_dir_all(build_dir);
            for function in template.functions()? {
                let dir = build_dir.join(&function.logical_id);
                std::fs::create_dir_all(&dir)?;
                let binary = root.join("target/debug").join(&function.binary);
                let bootstrap = dir.join("bootstrap");
                // A hard link costs nothing; a copy where the folders are on two file systems.
                if std::fs::hard_link(&binary, &bootstrap).is_err() {
                    std::fs::copy(&binary, &bootstrap)
                        .with_context(|| format!("copying {}", binary.display()))?;
                }
            }
            Ok(())
        }
    }
}

/// Fails unless every function's `bootstrap` in `build_dir` needs glibc
/// 2.34 at most (Amazon Linux 2023's).
pub fn check_glibc(build_dir: &Path, functions: &[Function]) -> Result<()> {
    let mut problems = Vec::new();
    for function in functions {
        let bootstrap = build_dir.join(&function.logical_id).join("bootstrap");
        match glibc::newest_version(&bootstrap)? {
            Some(version) if version > glibc::AL2023 => problems.push(format!(
                "{}: needs GLIBC_{}.{}",
                bootstrap.display(),
                version.0,
                version.1
            )),
            _ => {}
        }
    }
    if !problems.is_empty() {
        bail!(
            "these binaries need a newer glibc than Amazon Linux 2023's {}.{}:\n  {}",
            glibc::AL2023.0,
            glibc::AL2023.1,
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// The built template of the local run: each function of `template` at
/// its folder of the build, for this machine's architecture, with its own
/// variables as `envs` gives them (resolved on the stack, every emulator
/// at `emulators`, the host's address on the stack's network) and the
/// emulators' endpoints, which only a local run has. `only` keeps some
/// functions (the queue consumers, for `start-lambda`).
pub fn built_template(
    template: &Template,
    envs: &BTreeMap<String, BTreeMap<String, String>>,
    endpoints: &BTreeMap<String, String>,
    only: impl Fn(&Function) -> bool,
) -> Result<Value> {
    let globals = template.globals_function();
    let mut resources = Map::new();
    for function in template.functions()?.into_iter().filter(|f| only(f)) {
        let mut variables: Map<String, Value> = endpoints
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        for (name, value) in envs.get(&function.binary).into_iter().flatten() {
            variables.insert(name.clone(), json!(value));
        }
        let resource = template
            .resource(&function.logical_id)
            .context("a function of the template")?;
        let setting = |key: &str| {
            resource
                .properties
                .get(key)
                .or_else(|| globals.get(key))
                .cloned()
        };
        let mut properties = Map::new();
        properties.insert("CodeUri".into(), json!(function.logical_id));
        properties.insert("Handler".into(), json!("bootstrap"));
        properties.insert(
            "Runtime".into(),
            setting("Runtime").unwrap_or(json!("provided.al2023")),
        );
        properties.insert("Architectures".into(), json!([host_architecture()]));
        for key in ["MemorySize", "Timeout"] {
            if let Some(value) = setting(key) {
                properties.insert(key.into(), value);
            }
        }
        properties.insert("Environment".into(), json!({ "Variables": variables }));
        let events: Map<String, Value> = function
            .routes
            .iter()
            .enumerate()
            .map(|(i, route)| {
                (
                    format!("Api{i}"),
                    json!({"Type": "HttpApi", "Properties": {"Path": route.path, "Method": route.method}}),
                )
            })
            .collect();
        if !events.is_empty() {
            properties.insert("Events".into(), Value::Object(events));
        }
        resources.insert(
            function.logical_id.clone(),
            json!({"Type": "AWS::Serverless::Function", "Properties": properties}),
        );
    }
    Ok(json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": "Written by cargo xtask for sam local (the local run's environment): not for deploying.",
        "Resources": resources,
    }))
}

/// The `sam` CLI of the project, telemetry off, from `root`, with the
/// local region and dummy credentials (the functions get these too).
pub fn sam_command(root: &Path, args: &[&str]) -> Result<Command> {
    let tools = Tools::new(root);
    let sam = tools.ensure_sam(root)?;
    let mut command = Command::new(sam);
    command
        .args(args)
        .current_dir(root)
        .env("SAM_CLI_TELEMETRY", "0")
        .env("PATH", tools.path_env());
    for (key, _) in std::env::vars_os() {
        // Real AWS settings of the developer never reach a local function.
        if key.to_string_lossy().starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
        .env("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", LOCAL_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_REGION", REGION);
    Ok(command)
}

/// The arguments every `sam local` command of a stack takes: its template,
/// its engine's network, the base image, no pulls, ports on loopback.
/// (On a private engine the network is its default bridge, where SAM
/// starts every container anyway.)
pub fn local_args(template: &Path, network: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "--template",
        &template.to_string_lossy(),
        "--skip-pull-image",
        "--invoke-image",
        &docker::base_image_name(),
        "--container-host",
        "127.0.0.1",
        "--container-host-interface",
        "127.0.0.1",
    ]
    .map(String::from)
    .to_vec();
    if network != "bridge" {
        args.extend(["--docker-network".to_string(), network.to_string()]);
    }
    args
}

/// `sam local <command>` on the stack's engine.
pub fn local_command(
    root: &Path,
    command: &str,
    template: &Path,
    engine: &Engine,
    extra: &[&str],
) -> Result<Command> {
    let mut args = vec!["local", command];
    args.extend(extra);
    let mut sam = sam_command(root, &args)?;
    sam.args(local_args(template, &engine.network))
        .env("DOCKER_HOST", &engine.host);
    Ok(sam)
}

/// `sam local invoke <function> --event <event>` on a running SAM stack.
pub fn invoke_command(
    root: &Path,
    sam: &SamInfo,
    logical_id: &str,
    event: &Path,
) -> Result<Command> {
    let event = event.to_string_lossy().into_owned();
    let mut command = sam_command(root, &["local", "invoke", logical_id, "--event", &event])?;
    command
        .args(local_args(&sam.template, &sam.network))
        .env("DOCKER_HOST", &sam.docker_host);
    Ok(command)
}

/// What `sam local invoke` printed as the function's answer: the last line
/// of its output that is JSON.
pub fn invoke_answer(stdout: &str) -> Option<Value> {
    stdout.lines().rev().find_map(|line| {
        serde_json::from_str::<Value>(line.trim())
            .ok()
            .filter(Value::is_object)
    })
}

/// The third byte of the stack's subnet, `10.213.<n>.0/24`, from its name
/// (so a `dev` and a `test` stack get two).
pub fn subnet_of(name: &str) -> u8 {
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (hash % 200) as u8 + 20
}

/// Listens on `gateway:port` and carries every connection to the same port
/// on loopback (where the emulator listens), until aborted.
pub async fn forward(
    gateway: std::net::Ipv4Addr,
    port: u16,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind((gateway, port)).await?;
    Ok(tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) =
                    tokio::net::TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    }))
}
