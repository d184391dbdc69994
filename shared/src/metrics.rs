//! Metrics in CloudWatch Embedded Metric Format (EMF): one JSON line on
//! stdout per invocation, which CloudWatch Logs turns into metrics. No API
//! call, and nothing added to the answer's latency.
//!
//! The runtime loops (`shared::http::serve`, `shared::sqs_batch::run`) open
//! a recorder around every invocation and write its line when it ends: the
//! outcome (requests, 4xx, 5xx, 429 by status; the problem `code` as a
//! property), the latency, whether it was a cold start, and the store calls
//! it made with how many failed (`shared::aws` counts every attempt).
//! Anything else is one line where it happens:
//! `metrics::count(Metric::IdempotentReplays)`.
//!
//! Dimensions are few by design: every metric is by `FunctionName` alone
//! (the same dimension as `AWS/Lambda`'s, so one dashboard lines them up).
//! The status class, the problem code and the correlation id are properties
//! of the line, searchable in Logs Insights, never dimensions; nothing here
//! can add a per-user one.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "StatelessLambda";

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// Requests answered (an HTTP function).
    Requests,
    /// Answers with a 4xx status.
    ClientErrors,
    /// Answers with a 5xx status.
    ServerErrors,
    /// Answers 429: a rate limit refused the request.
    RateLimited,
    /// The invocation was the execution environment's first.
    ColdStarts,
    /// AWS calls, one per attempt (a retry is a call).
    StoreCalls,
    /// Attempts that got no answer or a 5xx.
    StoreFailures,
    /// A request under a used `Idempotency-Key` got the first one's answer.
    IdempotentReplays,
    /// Messages of a batch (a queue's function).
    Messages,
    /// Messages reported back as failed, to come again.
    MessagesFailed,
    /// Jobs that finished well.
    JobsSucceeded,
    /// Jobs given up for good (the dead-letter queue's function).
    JobsFailed,
    /// Attempts at a job, the first included.
    JobAttempts,
    /// Uploads whose object matched, confirmed.
    UploadsConfirmed,
    /// Uploads whose object did not match, rejected and deleted.
    UploadsRejected,
}

impl Metric {
    /// Its name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "Requests",
            Self::ClientErrors => "ClientErrors",
            Self::ServerErrors => "ServerErrors",
            Self::RateLimited => "RateLimited",
            Self::ColdStarts => "ColdStarts",
            Self::StoreCalls => "StoreCalls",
            Self::StoreFailures => "StoreFailures",
            Self::IdempotentReplays => "IdempotentReplays",
            Self::Messages => "Messages",
            Self::MessagesFailed => "MessagesFailed",
            Self::JobsSucceeded => "JobsSucceeded",
            Self::JobsFailed => "JobsFailed",
            Self::JobAttempts => "JobAttempts",
            Self::UploadsConfirmed => "UploadsConfirmed",
            Self::UploadsRejected => "UploadsRejected",
        }
    }
}

/// What one invocation recorded.
#[derive(Debug, Default)]
struct Recorder {
    counts: BTreeMap<Metric, u64>,
    properties: Map<String, Value>,
}

tokio::task_local! {
    static RECORDER: RefCell<Recorder>;
}

/// Counts one `metric` for the invocation running; nothing outside one.
pub fn count(metric: Metric) {
    add(metric, 1);
}

/// Counts `n` of `metric` for the invocation running.
pub fn add(metric: Metric, n: u64) {
    let _ = RECORDER.try_with(|recorder| {
        *recorder.borrow_mut().counts.entry(metric).or_default() += n;
    });
}

/// Puts a property on the invocation's line (a status, a code, an id:
/// searchable, never a dimension).
pub fn property(name: &str, value: impl Into<Value>) {
    let _ = RECORDER.try_with(|recorder| {
        recorder
            .borrow_mut()
            .properties
            .insert(name.to_string(), value.into());
    });
}

/// The status of an HTTP answer, counted: a request, and its class.
pub fn answered(status: u16, code: Option<&str>) {
    count(Metric::Requests);
    add(
        Metric::ClientErrors,
        u64::from((400..500).contains(&status)),
    );
    add(Metric::ServerErrors, u64::from(status >= 500));
    add(Metric::RateLimited, u64::from(status == 429));
    property("status", status);
    if let Some(code) = code {
        property("code", code);
    }
}

static FIRST: AtomicBool = AtomicBool::new(true);

/// Runs `invocation` with a recorder, then writes its EMF line to stdout.
pub async fn recorded<F: Future>(invocation: F) -> F::Output {
    recorded_to(std::io::stdout(), invocation).await
}

/// Runs `invocation` with a recorder, then writes its EMF line to `out`
/// (a line that cannot be written is lost, never the answer).
pub async fn recorded_to<F: Future>(mut out: impl Write, invocation: F) -> F::Output {
    let started = Instant::now();
    let cold = FIRST.swap(false, Ordering::Relaxed);
    let (output, recorder) = RECORDER
        .scope(RefCell::new(Recorder::default()), async {
            let output = invocation.await;
            let recorder = RECORDER.with(|recorder| std::mem::take(&mut *recorder.borrow_mut()));
            (output, recorder)
        })
        .await;
    let line = emf_line(
        Context::of_process(),
        recorder,
        cold,
        started.elapsed().as_secs_f64() * 1000.0,
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    );
    let _ = writeln!(out, "{line}");
    output
}

/// Where the lines go: the namespace and the function's name, each as a
/// JSON string once and for all.
#[derive(Debug, Clone)]
struct Context {
    namespace: String,
    function: String,
}

impl Context {
    fn new(namespace: &str, function: &str) -> Self {
        let quoted = |text: &str| Value::from(text).to_string();
        Self {
            namespace: quoted(namespace),
            function: quoted(function),
        }
    }

    fn of_process() -> &'static Self {
        static CONTEXT: OnceLock<Context> = OnceLock::new();
        CONTEXT.get_or_init(|| {
            let namespace = std::env::var("METRICS_NAMESPACE");
            let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME");
            Self::new(
                namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
                function.as_deref().unwrap_or("unknown"),
            )
        })
    }
}

/// The EMF document of one invocation: every metric it counted (and the
/// cold start, the latency and the store calls always, zero or not, so that
/// rates have their denominators), by `FunctionName`. Written straight into
/// one string: the names are fixed ASCII, the rest was quoted up front.
fn emf_line(
    context: &Context,
    recorder: Recorder,
    cold: bool,
    latency_ms: f64,
    timestamp_ms: u128,
) -> String {
    let mut counts = recorder.counts;
    counts.insert(Metric::ColdStarts, u64::from(cold));
    counts.entry(Metric::StoreCalls).or_default();
    counts.entry(Metric::StoreFailures).or_default();
    let mut line = String::with_capacity(640);
    let _ = write!(
        line,
        r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":[{{"Namespace":{},"Dimensions":[["FunctionName"]],"Metrics":["#,
        context.namespace
    );
    for metric in counts.keys() {
        let _ = write!(line, r#"{{"Name":"{}","Unit":"Count"}},"#, metric.name());
    }
    let _ = write!(
        line,
        r#"{{"Name":"Latency","Unit":"Milliseconds"}}]}}]}},"FunctionName":{}"#,
        context.function
    );
    for (metric, value) in &counts {
        let _ = write!(line, r#","{}":{value}"#, metric.name());
    }
    let _ = write!(
        line,
        r#","Latency":{}"#,
        (latency_ms * 1000.0).round() / 1000.0
    );
    for (name, value) in &recorder.properties {
        let _ = write!(line, ",{}:{value}", Value::from(name.as_str()));
    }
    line.push('}');
    line
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn context() -> Context {
        Context::new("Test", "me")
    }

    #[test]
    fn names_and_properties_are_escaped() {
        let mut recorder = Recorder::default();
        recorder.properties.insert("code".into(), json!("a\"b\n"));
        let text = emf_line(&Context::new("N\"s", "f\\n"), recorder, false, 1.0, 0);
        let line: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "N\"s");
        assert_eq!(line["FunctionName"], "f\\n");
        assert_eq!(line["code"], "a\"b\n");
        assert!(!text.contains('\n'), "one line");
    }

    #[tokio::test]
    async fn what_an_invocation_counts_is_its_own() {
        let (_, first) = RECORDER
            .scope(RefCell::new(Recorder::default()), async {
                answered(429, Some("rate_limited"));
                count(Metric::StoreCalls);
                add(Metric::StoreCalls, 2);
                ((), RECORDER.with(|r| std::mem::take(&mut *r.borrow_mut())))
            })
            .await;
        assert_eq!(first.counts[&Metric::Requests], 1);
        assert_eq!(first.counts[&Metric::ClientErrors], 1);
        assert_eq!(first.counts[&Metric::ServerErrors], 0);
        assert_eq!(first.counts[&Metric::RateLimited], 1);
        assert_eq!(first.counts[&Metric::StoreCalls], 3);
        assert_eq!(first.properties["code"], "rate_limited");
        // Outside an invocation nothing is counted, and nothing fails.
        count(Metric::Requests);
        let (_, second) = RECORDER
            .scope(RefCell::new(Recorder::default()), async {
                ((), RECORDER.with(|r| std::mem::take(&mut *r.borrow_mut())))
            })
            .await;
        assert!(second.counts.is_empty());
    }

    #[test]
    fn the_line_is_emf_with_one_dimension_and_every_value_defined() {
        let mut recorder = Recorder::default();
        recorder.counts.insert(Metric::Requests, 1);
        recorder.counts.insert(Metric::ServerErrors, 1);
        recorder.properties.insert("status".into(), json!(503));
        let text = emf_line(&context(), recorder, true, 12.3456, 1_700_000_000_000);
        let line: Value = serde_json::from_str(&text).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(directive["Namespace"], "Test");
        assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(line["FunctionName"], "me");
        assert_eq!(line["status"], 503);
        assert_eq!(line["ColdStarts"], 1);
        assert_eq!(line["StoreCalls"], 0);
        assert_eq!(line["Latency"], 12.346);
        // Every metric defined has its value on the line, and no more.
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in &names {
            assert!(line.get(*name).is_some_and(Value::is_number), "{name}");
        }
        assert_eq!(
            names,
            [
                "Requests",
                "ServerErrors",
                "ColdStarts",
                "StoreCalls",
                "StoreFailures",
                "Latency"
            ]
        );
    }
}
