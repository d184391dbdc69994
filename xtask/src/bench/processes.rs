//! Function processes under the Runtime API stub: cold starts (a fresh
//! process per event: its init, and its first answer) and steady use (one
//! process, one event after the other: its peak memory and warm durations).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::runtime_api::{Answer, Confinement, Function, Sandbox, sandbox_user};

/// The variable naming the signing key's secret (template.yaml).
pub const SIGNING_KEY_VARIABLE: &str = "SIGNING_KEY_SECRET_ARN";

/// How long one process may take for all its events.
const TIMEOUT: Duration = Duration::from_secs(120);

/// A function to measure, in one of the compared languages.
#[derive(Debug, Clone)]
pub struct Subject {
    /// `Rust`, `Node.js`, `Python`.
    pub language: &'static str,
    /// How to run it; its name is a binary of this workspace, or the one
    /// whose route a comparison implements.
    pub function: Function,
    /// Its `MemorySize` (the template's, or its Rust twin's), MB.
    pub memory_mb: u32,
}

impl Subject {
    /// A Rust function's binary under `bin_dir`, with `env`, at `memory_mb`.
    pub fn rust(name: &str, bin_dir: &Path, env: BTreeMap<String, String>, memory_mb: u32) -> Self {
        Self {
            language: "Rust",
            memory_mb,
            function: Function {
                name: name.to_string(),
                binary: bin_dir.join(name),
                args: Vec::new(),
                env,
            },
        }
    }

    /// An interpreter running `script`, as function `name` at `memory_mb`.
    pub fn script(
        name: &str,
        language: &'static str,
        interpreter: PathBuf,
        script: &Path,
        env: BTreeMap<String, String>,
        memory_mb: u32,
    ) -> Self {
        Self {
            language,
            memory_mb,
            function: Function {
                name: name.to_string(),
                binary: interpreter,
                args: vec![script.display().to_string()],
                env,
            },
        }
    }

    /// The same function with `env` instead of its own environment.
    pub fn with_env(&self, env: BTreeMap<String, String>) -> Self {
        let mut subject = self.clone();
        subject.function.env = env;
        subject
    }

    /// Whether its init reads the signing key from Secrets Manager (login
    /// and refresh, and the comparisons held against them): a network call
    /// the other functions do not make at init.
    pub fn reads_signing_key(&self) -> bool {
        // The rotation has the variable too, but reads the secret per tick.
        self.function.env.contains_key(SIGNING_KEY_VARIABLE) && self.function.name != "rotate-keys"
    }

    /// Its rows' name: the function's, and for a comparison whose init also
    /// reads the signing key, `<function> + signing key`.
    pub fn title(&self) -> String {
        if self.language != "Rust" && self.reads_signing_key() {
            format!("{} + signing key", self.function.name)
        } else {
            self.function.name.clone()
        }
    }

    fn label(&self) -> String {
        format!("{}-{}", self.language, self.title()).replace(['.', ' ', '+'], "")
    }
}

/// What the function answered, in a word: the HTTP status, `ok` for an
/// event source's answer without failed records, else what went wrong.
pub fn outcome(answer: &Answer) -> String {
    match answer {
        Answer::Response(payload) => {
            let value: Value = serde_json::from_slice(payload).unwrap_or_default();
            if let Some(status) = value["statusCode"].as_u64() {
                status.to_string()
            } else if value["batchItemFailures"]
                .as_array()
                .is_some_and(|failed| !failed.is_empty())
            {
                "records failed".to_string()
            } else {
                "ok".to_string()
            }
        }
        Answer::Error(_) => "error".to_string(),
        Answer::InitError(_) => "init error".to_string(),
    }
}

/// Counts of each outcome.
pub type Outcomes = BTreeMap<String, usize>;

fn count(outcomes: &mut Outcomes, answer: &Answer) {
    *outcomes.entry(outcome(answer)).or_default() += 1;
}

/// Cold starts of one function.
#[derive(Debug, Clone)]
pub struct ColdStarts {
    pub name: String,
    pub language: &'static str,
    /// The memory size it ran at (its CPU share, under the model).
    pub memory_mb: u32,
    /// See [`Subject::reads_signing_key`].
    pub reads_signing_key: bool,
    /// Spawn to first `GET /runtime/invocation/next`, per run.
    pub init: Vec<Duration>,
    /// Spawn to the first answer, per run.
    pub first_answer: Vec<Duration>,
    /// The first invocation's CPU (under the CPU model), per run.
    pub cpu: Vec<Duration>,
    pub outcomes: Outcomes,
}

impl ColdStarts {
    /// Init's end to the first answer, per run.
    pub fn after_init(&self) -> Vec<Duration> {
        self.first_answer
            .iter()
            .zip(&self.init)
            .map(|(answer, init)| answer.saturating_sub(*init))
            .collect()
    }
}

/// Where processes run and log.
pub struct Workspace {
    /// Parent of the sandboxes.
    pub sandboxes: PathBuf,
    /// Every process's output.
    pub log: PathBuf,
}

impl Workspace {
    fn sandbox(&self, subject: &Subject, run: usize) -> Result<Sandbox> {
        let mut programs = vec![subject.function.binary.as_path()];
        programs.extend(subject.function.args.iter().map(Path::new));
        Sandbox::create(
            &self.sandboxes,
            &format!("{}-{run}", subject.label()),
            sandbox_user(&programs),
        )
    }
}

/// One fresh process per event, under `confinement` if given.
pub async fn cold_starts(
    subject: &Subject,
    events: &[Value],
    workspace: &Workspace,
    confinement: Option<&Confinement>,
) -> Result<ColdStarts> {
    let mut measured = ColdStarts {
        name: subject.title(),
        language: subject.language,
        memory_mb: confinement.map_or(subject.memory_mb, |c| c.share.memory_mb),
        reads_signing_key: subject.reads_signing_key(),
        init: Vec::new(),
        first_answer: Vec::new(),
        cpu: Vec::new(),
        outcomes: Outcomes::new(),
    };
    for (run, event) in events.iter().enumerate() {
        let sandbox = workspace.sandbox(subject, run)?;
        let invocation = subject
            .function
            .invoke_once_under(
                &sandbox,
                serde_json::to_vec(event)?,
                TIMEOUT,
                &workspace.log,
                confinement,
            )
            .await
            .with_context(|| {
                format!("{} {}, run {run}", subject.language, subject.function.name)
            })?;
        count(&mut measured.outcomes, &invocation.answer);
        if let Some(ready) = invocation.ready_after {
            measured.init.push(ready);
        }
        measured.first_answer.push(invocation.answered_after);
        measured.cpu.extend(invocation.cpu);
    }
    Ok(measured)
}

/// One process serving many events.
#[derive(Debug, Clone)]
pub struct Steady {
    pub name: String,
    pub language: &'static str,
    /// The memory size it ran at.
    pub memory_mb: u32,
    /// Peak resident memory after the last event, KiB.
    pub peak_rss_kib: Option<u64>,
    /// Each warm invocation's time (previous answer to this answer).
    pub warm: Vec<Duration>,
    /// Each warm invocation's CPU (under the CPU model).
    pub warm_cpu: Vec<Duration>,
    pub outcomes: Outcomes,
}

/// One process, `events` one after the other, under `confinement` if given.
pub async fn steady(
    subject: &Subject,
    events: &[Value],
    workspace: &Workspace,
    confinement: Option<&Confinement>,
) -> Result<Steady> {
    let sandbox = workspace.sandbox(subject, 0)?;
    let events = events
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<Vec<_>, _>>()?;
    let run = subject
        .function
        .serve_under(&sandbox, events, TIMEOUT, &workspace.log, confinement)
        .await
        .with_context(|| {
            format!(
                "{} {} under steady use",
                subject.language, subject.function.name
            )
        })?;
    let mut outcomes = Outcomes::new();
    for answered in &run.answers {
        count(&mut outcomes, &answered.answer);
    }
    let warm = run
        .answers
        .windows(2)
        .map(|pair| pair[1].after.saturating_sub(pair[0].after))
        .collect();
    let warm_cpu = run.answers.iter().skip(1).filter_map(|a| a.cpu).collect();
    Ok(Steady {
        name: subject.title(),
        language: subject.language,
        memory_mb: confinement.map_or(subject.memory_mb, |c| c.share.memory_mb),
        peak_rss_kib: run.peak_rss_kib,
        warm,
        warm_cpu,
        outcomes,
    })
}
