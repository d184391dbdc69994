//! Runs a function's binary the way Lambda runs it: a loopback stub of the
//! Lambda Runtime API hands the process its events one after the other,
//! takes its answers, and the process is killed after the last one. Every
//! process is a cold start in a sandbox of its own: a fresh, empty
//! `TMPDIR`, and a home and working directory the function cannot write to
//! (as root, the process runs as `nobody` so that the modes bind).
//!
//! Used by the statelessness tests (one invocation per process: a function
//! that needs a warm process, or writes where it should not, is caught) and
//! by the benchmarks (the time to the first `GET /runtime/invocation/next`
//! is the init time; the peak memory after many invocations is the RSS).
//!
//! Under a [`Confinement`] the stub also plays Lambda's CPU model: init runs
//! at full speed, and from its first `GET /runtime/invocation/next` on the
//! process is held to the CPU share of its memory size ([`crate::cpu_share`]),
//! and each invocation's CPU is read from its group.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cpu_share::{Controller, CpuGroup, CpuShare};
use crate::http1::{self, write_response};

/// The uid and gid a sandboxed function runs as when the tool runs as root.
const NOBODY: u32 = 65534;

/// The folders one invocation may see.
#[derive(Debug)]
pub struct Sandbox {
    dir: PathBuf,
    /// The only writable place (`TMPDIR`); it must be empty after the call.
    pub tmp: PathBuf,
    home: PathBuf,
    work: PathBuf,
    run_as: Option<u32>,
}

impl Sandbox {
    /// A new sandbox in `parent/<name>` whose processes run as `run_as`
    /// (see [`sandbox_user`]).
    pub fn create(parent: &Path, name: &str, run_as: Option<u32>) -> Result<Self> {
        let dir = parent.join(name);
        if dir.exists() {
            remove_tree(&dir)?;
        }
        let (tmp, home, work) = (dir.join("tmp"), dir.join("home"), dir.join("work"));
        for folder in [&tmp, &home, &work] {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))?;
        if let Some(id) = run_as {
            std::os::unix::fs::chown(&tmp, Some(id), Some(id))?;
        }
        for read_only in [&home, &work] {
            std::fs::set_permissions(read_only, std::fs::Permissions::from_mode(0o555))?;
        }
        Ok(Self {
            dir,
            tmp,
            home,
            work,
            run_as,
        })
    }

    /// Everything a call left in the sandbox (it should leave nothing).
    pub fn leftovers(&self) -> Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        for folder in [&self.tmp, &self.home, &self.work] {
            for entry in std::fs::read_dir(folder)? {
                found.push(entry?.path());
            }
        }
        Ok(found)
    }

    /// A command that runs `program` in the sandbox: its home, working
    /// directory and `TMPDIR`, as the sandbox's user, with no other
    /// environment than `env`.
    pub fn command(
        &self,
        program: &Path,
        env: &BTreeMap<String, String>,
    ) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .envs(env)
            .env("HOME", &self.home)
            .env("TMPDIR", &self.tmp)
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(id) = self.run_as {
            command.uid(id).gid(id);
        }
        command
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = remove_tree(&self.dir);
    }
}

fn remove_tree(dir: &Path) -> Result<()> {
    for sub in ["home", "work"] {
        let path = dir.join(sub);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// What the function answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `POST /runtime/invocation/{id}/response`: the payload.
    Response(Vec<u8>),
    /// `POST /runtime/invocation/{id}/error`: the error document.
    Error(String),
    /// `POST /runtime/init/error`: the function could not start.
    InitError(String),
}

/// One invocation of a fresh process.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Its answer.
    pub answer: Answer,
    /// From spawning the process to its first `GET /runtime/invocation/next`
    /// (its init).
    pub ready_after: Option<Duration>,
    /// From spawning the process to its answer.
    pub answered_after: Duration,
    /// The CPU the invocation used, under a [`Confinement`].
    pub cpu: Option<Duration>,
}

/// Lambda's CPU model for a process: where its group is made, and the
/// share it is held to once its init is done.
#[derive(Debug, Clone)]
pub struct Confinement {
    pub controller: Controller,
    pub share: CpuShare,
}

/// One answer of a run.
#[derive(Debug, Clone)]
pub struct Answered {
    pub answer: Answer,
    /// From spawning the process to the answer.
    pub after: Duration,
    /// The CPU from handing out the event to the answer, under a [`Confinement`].
    pub cpu: Option<Duration>,
}

/// A process that served a sequence of invocations, one after the other,
/// as a warm Lambda instance does.
#[derive(Debug, Clone)]
pub struct Run {
    /// From spawning the process to its first `GET /runtime/invocation/next`.
    pub ready_after: Option<Duration>,
    /// Each invocation's answer.
    pub answers: Vec<Answered>,
    /// The process's peak resident memory (`VmHWM`) after its last answer, in KiB.
    pub peak_rss_kib: Option<u64>,
}

/// A function binary and the environment Lambda would give it.
#[derive(Debug, Clone)]
pub struct Function {
    /// The function's name (its binary's name).
    pub name: String,
    /// Its binary (or the interpreter of a script, with `args`).
    pub binary: PathBuf,
    /// Arguments (none for a Rust function).
    pub args: Vec<String>,
    /// Its environment (the template's variables and the AWS settings).
    pub env: BTreeMap<String, String>,
}

impl Function {
    /// Starts the binary in `sandbox`, gives it `event`, waits (up to
    /// `timeout`) for its answer and kills it. Its output goes to `log`.
    pub async fn invoke_once(
        &self,
        sandbox: &Sandbox,
        event: Vec<u8>,
        timeout: Duration,
        log: &Path,
    ) -> Result<Invocation> {
        self.invoke_once_under(sandbox, event, timeout, log, None)
            .await
    }

    /// [`invoke_once`](Self::invoke_once), under Lambda's CPU model when
    /// `confinement` is given.
    pub async fn invoke_once_under(
        &self,
        sandbox: &Sandbox,
        event: Vec<u8>,
        timeout: Duration,
        log: &Path,
        confinement: Option<&Confinement>,
    ) -> Result<Invocation> {
        let mut run = self
            .serve_under(sandbox, vec![event], timeout, log, confinement)
            .await?;
        let answered = run
            .answers
            .pop()
            .context("the runtime API ended without an answer")?;
        Ok(Invocation {
            answer: answered.answer,
            ready_after: run.ready_after,
            answered_after: answered.after,
            cpu: answered.cpu,
        })
    }

    /// Starts the binary in `sandbox` and hands it `events` one after the
    /// other, each when it asks for the next; after the last answer (or an
    /// init error) reads its peak memory and kills it. Fails if all that
    /// takes longer than `timeout`. Its output goes to `log`.
    pub async fn serve(
        &self,
        sandbox: &Sandbox,
        events: Vec<Vec<u8>>,
        timeout: Duration,
        log: &Path,
    ) -> Result<Run> {
        self.serve_under(sandbox, events, timeout, log, None).await
    }

    /// [`serve`](Self::serve), under Lambda's CPU model when `confinement`
    /// is given: full speed until the first `GET /runtime/invocation/next`,
    /// then the share of its memory size; each answer with its CPU.
    pub async fn serve_under(
        &self,
        sandbox: &Sandbox,
        events: Vec<Vec<u8>>,
        timeout: Duration,
        log: &Path,
        confinement: Option<&Confinement>,
    ) -> Result<Run> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let mut env = self.env.clone();
        let memory_mb = confinement.map_or(128, |c| c.share.memory_mb);
        env.extend(lambda_environment(&self.name, address, memory_mb));
        let group = confinement
            .map(|c| {
                c.controller
                    .group(&format!("{}-{}", self.name, address.port()), c.share)
            })
            .transpose()?
            .map(Arc::new);
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut command = sandbox.command(&self.binary, &env);
        command
            .args(&self.args)
            .stdout(output.try_clone()?)
            .stderr(output);

        let deadline = SystemTime::now() + timeout;
        let total = events.len();
        let (sender, mut received) = mpsc::unbounded_channel();
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let queue = Arc::new(Queue {
            events: Mutex::new(events.into_iter().enumerate().collect()),
            pending: Mutex::new(None),
            deadline_ms: deadline
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
            sender,
            cpu: group.clone().zip(child.id()).map(|(group, pid)| Cpu {
                group,
                pid,
                joined: Mutex::new(false),
                handed_out_at: Mutex::new(Duration::ZERO),
            }),
        });
        let server = tokio::spawn(serve(listener, queue));
        let mut ready_after = None;
        let mut answers = Vec::with_capacity(total);
        let waited = tokio::time::timeout(timeout, async {
            while answers.len() < total {
                tokio::select! {
                    event = received.recv() => match event {
                        Some(Event::Ready) => {
                            ready_after.get_or_insert(started.elapsed());
                        }
                        Some(Event::Answered(answer, cpu)) => {
                            let init_failed = matches!(answer, Answer::InitError(_));
                            answers.push(Answered { answer, after: started.elapsed(), cpu });
                            if init_failed {
                                break;
                            }
                        }
                        Some(Event::Failed(why)) => bail!("{}: {why}", self.name),
                        None => bail!("the runtime API stopped"),
                    },
                    status = child.wait() => bail!("{} exited ({}) before it answered", self.name, status?),
                }
            }
            Ok(())
        })
        .await;
        let peak_rss_kib = child.id().and_then(peak_rss_kib);
        server.abort();
        let _ = child.kill().await;
        // The group goes once the process has left it (its last holder).
        let _ = server.await;
        drop(group);
        match waited {
            Ok(outcome) => outcome?,
            Err(_) => bail!(
                "{} answered {} of {total} invocations within {timeout:?}",
                self.name,
                answers.len()
            ),
        }
        Ok(Run {
            ready_after,
            answers,
            peak_rss_kib,
        })
    }
}

/// `VmHWM` of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    vm_hwm_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// `VmHWM` (peak resident memory, KiB) from the text of `/proc/<pid>/status`.
pub fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The variables Lambda sets for every function.
fn lambda_environment(
    name: &str,
    runtime_api: SocketAddr,
    memory_mb: u32,
) -> [(String, String); 7] {
    [
        ("AWS_LAMBDA_RUNTIME_API".into(), runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), name.into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            format!("/aws/lambda/{name}"),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "local".into()),
        ("LAMBDA_TASK_ROOT".into(), "/var/task".into()),
    ]
}

enum Event {
    Ready,
    /// An answer, and the CPU its invocation used (under a confinement).
    Answered(Answer, Option<Duration>),
    /// The model could not be applied.
    Failed(String),
}

/// The process's group, under a [`Confinement`].
struct Cpu {
    group: Arc<CpuGroup>,
    pid: u32,
    /// Whether the process is in the group (its init is done).
    joined: Mutex<bool>,
    /// The group's usage when the pending event was handed out.
    handed_out_at: Mutex<Duration>,
}

impl Cpu {
    /// At each `GET /runtime/invocation/next`: the first moves the process
    /// into its group; each notes the usage so far.
    fn handing_out(&self) -> Result<()> {
        let mut joined = self.joined.lock().unwrap_or_else(PoisonError::into_inner);
        if !*joined {
            self.group.join(self.pid)?;
            *joined = true;
        }
        *self
            .handed_out_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = self.group.usage()?;
        Ok(())
    }

    /// The CPU since the event was handed out.
    fn used(&self) -> Option<Duration> {
        let since = *self
            .handed_out_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Some(self.group.usage().ok()?.saturating_sub(since))
    }
}

/// The invocations not handed out yet, numbered.
struct Queue {
    events: Mutex<VecDeque<(usize, Vec<u8>)>>,
    /// The request id handed out and not answered yet: only its answer counts.
    pending: Mutex<Option<String>>,
    deadline_ms: u128,
    sender: mpsc::UnboundedSender<Event>,
    cpu: Option<Cpu>,
}

impl Queue {
    /// Whether `id` is the invocation awaiting its answer (it no longer is).
    fn answer(&self, id: &str) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.as_deref() == Some(id) {
            *pending = None;
            true
        } else {
            false
        }
    }
}

/// The request id of invocation `number`.
fn request_id(number: usize) -> String {
    format!("00000000-0000-4000-8000-{number:012}")
}

async fn serve(listener: TcpListener, queue: Arc<Queue>) {
    // Dropped (and every connection with it) when the server task is aborted.
    let mut connections = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        connections.spawn(connection(stream, Arc::clone(&queue)));
    }
}

async fn connection(stream: TcpStream, queue: Arc<Queue>) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(request) = http1::read_request(&mut reader).await? {
        let path = request.target.as_str();
        let used = || queue.cpu.as_ref().and_then(Cpu::used);
        let answered = |answer, cpu| queue.sender.send(Event::Answered(answer, cpu));
        let invocation = path
            .strip_prefix("/2018-06-01/runtime/invocation/")
            .and_then(|rest| rest.split_once('/'));
        match (request.method.as_str(), path, invocation) {
            ("GET", "/2018-06-01/runtime/invocation/next", _) => {
                let next = queue
                    .events
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop_front();
                let Some((number, event)) = next else {
                    // No more invocations: the next one never comes (Lambda
                    // would freeze the process here; this one gets killed).
                    std::future::pending::<()>().await;
                    return Ok(());
                };
                let id = request_id(number);
                *queue.pending.lock().unwrap_or_else(PoisonError::into_inner) = Some(id.clone());
                let _ = queue.sender.send(Event::Ready);
                if let Some(Err(error)) = queue.cpu.as_ref().map(Cpu::handing_out) {
                    let _ = queue.sender.send(Event::Failed(format!("{error:#}")));
                }
                let headers = [
                    ("content-type", "application/json".to_string()),
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", queue.deadline_ms.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:000000000000:function:local".to_string(),
                    ),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000001;Sampled=0".to_string(),
                    ),
                ]
                .map(|(name, value)| (name.to_string(), value));
                write_response(&mut write, 200, &headers, &event).await?;
            }
            ("POST", "/2018-06-01/runtime/init/error", _) => {
                write_response(&mut write, 202, &[], b"{}").await?;
                let _ = answered(Answer::InitError(lossy(&request.body)), None);
            }
            ("POST", _, Some((id, "response"))) if queue.answer(id) => {
                let cpu = used();
                write_response(&mut write, 202, &[], b"{}").await?;
                let _ = answered(Answer::Response(request.body), cpu);
            }
            ("POST", _, Some((id, "error"))) if queue.answer(id) => {
                let cpu = used();
                write_response(&mut write, 202, &[], b"{}").await?;
                let _ = answered(Answer::Error(lossy(&request.body)), cpu);
            }
            _ => write_response(&mut write, 404, &[], b"{}").await?,
        }
    }
    Ok(())
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The user a sandbox runs `programs` as: as root, `nobody` (root ignores
/// the folders' modes) when every program is reachable by other users;
/// otherwise (a checkout under a private folder) the current user, and a
/// write outside `TMPDIR` is then not refused but still found by
/// [`Sandbox::leftovers`].
pub fn sandbox_user(programs: &[&Path]) -> Option<u32> {
    let root = nix::unistd::geteuid().is_root();
    (root && programs.iter().all(|p| runnable_by_others(p))).then_some(NOBODY)
}

/// Whether every folder on the way to `program` (links followed) lets
/// others through and the program lets others run it.
fn runnable_by_others(program: &Path) -> bool {
    let Ok(program) = std::fs::canonicalize(program) else {
        return false;
    };
    let mut path = PathBuf::new();
    program.components().all(|part| {
        path.push(part);
        std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o001 != 0)
    })
}
