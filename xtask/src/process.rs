//! Child processes the stack starts: each leads its own process group, so
//! stopping it stops everything it started in turn (cargo-lambda's function
//! processes included), and is stopped on drop, on error and on panic.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Where a child's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// To a log file in the stack's run folder.
    LogFile,
    /// To this terminal and to a log file in the stack's run folder
    /// (function logs under `cargo xtask dev`: seen as they come, and read
    /// back by `cargo xtask metrics`).
    TerminalAndLogFile,
}

/// A running child process group.
#[derive(Debug)]
pub struct Managed {
    name: String,
    child: Child,
    log: Option<std::path::PathBuf>,
}

impl Managed {
    /// Spawns `command` as the leader of a new process group.
    pub fn spawn(
        name: &str,
        command: &mut Command,
        run_dir: &Path,
        output: Output,
    ) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        command.process_group(0).stdin(Stdio::null());
        let log = match output {
            Output::LogFile => {
                let path = run_dir.join(format!("{name}.log"));
                let file =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                command.stdout(file.try_clone()?).stderr(file);
                Some(path)
            }
            Output::TerminalAndLogFile => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
                Some(run_dir.join(format!("{name}.log")))
            }
        };
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        if let (Output::TerminalAndLogFile, Some(path)) = (output, &log) {
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            if let Some(pipe) = child.stdout.take() {
                tee(pipe, file.try_clone());
            }
            if let Some(pipe) = child.stderr.take() {
                tee(pipe, Ok(file));
            }
        }
        Ok(Self {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// The process group id (the leader's pid).
    pub fn pgid(&self) -> u32 {
        self.child.id()
    }

    /// The process name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The end of its log, for error messages.
    pub fn log_tail(&self) -> String {
        let Some(path) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(30);
        format!(
            "--- last lines of {} ---\n{}",
            path.display(),
            lines[start..].join("\n")
        )
    }

    /// Fails if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status})\n{}", self.name, self.log_tail());
        }
        Ok(())
    }

    /// Waits until `addr` accepts connections, failing if the process dies first.
    pub fn wait_for_port(&mut self, addr: SocketAddr, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on {addr} within {timeout:?}\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the whole group: `first` (SIGINT or SIGTERM), then SIGKILL after `grace`.
    pub fn stop(&mut self, first: Signal, grace: Duration) {
        let group = Pid::from_raw(self.child.id() as i32);
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = killpg(group, first);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if self.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Whatever the leader left behind in its group goes too.
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.stop(Signal::SIGTERM, Duration::from_secs(3));
    }
}

/// Kills the process groups a previous run recorded, if any are still alive.
pub fn kill_groups(pgids: &[u32]) {
    for &pgid in pgids {
        let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL);
    }
}

/// Whether a process with this pid is alive.
pub fn is_alive(pid: u32) -> bool {
    nix::sys::signal::kill(Pid::from_raw(pid as i32), None).is_ok()
}

/// A loopback port the system reports free right now.
pub fn free_port() -> Result<u16> {
    Ok(
        std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port(),
    )
}

/// Copies what `pipe` carries, line by line, to this terminal and to `file`
/// (if it could be opened), until the child closes it.
fn tee(pipe: impl std::io::Read + Send + 'static, file: std::io::Result<File>) {
    use std::io::{BufRead, Write};
    let mut file = file.ok();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(pipe);
        let mut line = Vec::new();
        while lines
            .read_until(b'\n', &mut line)
            .is_ok_and(|read| read > 0)
        {
            let _ = std::io::stdout().lock().write_all(&line);
            if let Some(file) = file.as_mut() {
                let _ = file.write_all(&line);
            }
            line.clear();
        }
    });
}
