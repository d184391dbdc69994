//! Release builds: `cargo lambda build --release --arm64 --output-format
//! zip` for the packages Lambda runs (x86-64 when the arm64 target cannot
//! be had), timed, with each function's bootstrap and zip sizes; and a
//! release build for this machine, whose binaries the other measures run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::tools::Tools;

/// The arm64 Rust target that `cargo lambda build --arm64` needs.
const ARM64: &str = "aarch64-unknown-linux-gnu";

/// One timed build.
#[derive(Debug, Clone)]
pub struct Build {
    /// What was run.
    pub command: String,
    pub took: Duration,
    /// Crates cargo compiled (all of them on a cold build, the functions
    /// alone when the dependencies were built already).
    pub compiled: usize,
}

/// The packages Lambda would run.
#[derive(Debug, Clone)]
pub struct Packages {
    /// `arm64`, or `x86-64` with the reason arm64 could not be built.
    pub architecture: String,
    pub fallback: Option<String>,
    pub build: Build,
    /// (function, bootstrap bytes, zip bytes), by function.
    pub sizes: Vec<(String, u64, u64)>,
}

/// Runs `command`, echoing its output, and counts the crates it compiled.
fn timed(command: &mut Command) -> Result<Build> {
    let shown = format!("{command:?}");
    let started = Instant::now();
    let mut child = command
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    let mut compiled = 0;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line?;
            if line.trim_start().starts_with("Compiling ") {
                compiled += 1;
            }
            eprintln!("{line}");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(Build {
        command: shown,
        took: started.elapsed(),
        compiled,
    })
}

/// Adds the arm64 target; the reason when that is not possible here.
fn arm64_target() -> Result<(), String> {
    let output = Command::new("rustup")
        .args(["target", "add", ARM64])
        .output()
        .map_err(|e| format!("rustup could not run: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`rustup target add {ARM64}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// `cargo lambda build --release --arm64 --output-format zip` of every
/// function (`binaries`), timed, and the size of each one's package.
pub fn lambda_packages(root: &Path, binaries: &[String]) -> Result<Packages> {
    let tools = Tools::new(root);
    let (flag, triple, architecture, fallback) = match arm64_target() {
        Ok(()) => ("--arm64", ARM64, "arm64", None),
        Err(why) => {
            eprintln!("xtask: {why}; building for x86-64 instead");
            ("--x86-64", "x86_64-unknown-linux-gnu", "x86-64", Some(why))
        }
    };
    let mut command = Command::new(tools.cargo_lambda());
    command
        .args([
            "lambda",
            "build",
            "--release",
            flag,
            "--output-format",
            "zip",
        ])
        .args(binaries.iter().flat_map(|b| ["--bin", b.as_str()]))
        .current_dir(root)
        .env("PATH", tools.path_env());
    let build = timed(&mut command)?;
    let target = root.join("target");
    let sizes = binaries
        .iter()
        .map(|binary| {
            let bootstrap = target.join(triple).join("release").join(binary);
            let zip = target.join("lambda").join(binary).join("bootstrap.zip");
            Ok((binary.clone(), size(&bootstrap)?, size(&zip)?))
        })
        .collect::<Result<_>>()?;
    Ok(Packages {
        architecture: architecture.to_string(),
        fallback,
        build,
        sizes,
    })
}

/// `cargo build --release --bins` for this machine: the binaries the
/// cold-start, memory and load measures run (arm64 ones cannot run here).
pub fn host_release(root: &Path) -> Result<(Build, PathBuf)> {
    let build = timed(
        crate::cargo()
            .args(["build", "--release", "--bins"])
            .current_dir(root),
    )?;
    Ok((build, root.join("target/release")))
}

fn size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{} was not built", path.display()))?
        .len())
}

/// The `[profile.release]` settings of the workspace's `Cargo.toml`, as
/// `key = value` pairs joined by commas.
pub fn release_profile(root: &Path) -> Result<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let settings: Vec<&str> = manifest
        .lines()
        .skip_while(|line| line.trim() != "[profile.release]")
        .skip(1)
        .take_while(|line| !line.trim().is_empty() && !line.starts_with('['))
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(str::trim)
        .collect();
    if settings.is_empty() {
        bail!("Cargo.toml has no [profile.release] settings");
    }
    Ok(settings.join(", "))
}
