//! The metric lines the functions write (`shared::metrics`, CloudWatch
//! Embedded Metric Format), read back from their logs: what CloudWatch
//! would make of them, without AWS. The tests hold the counts to what a
//! journey did; `cargo xtask dev` prints the summary of its own stack.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// `cargo xtask metrics`: the summary of the function logs `logs` (a
/// stack's `functions.log`, an instance's log), then the last `last`
/// requests' traces.
pub fn report(logs: &[&Path], last: usize) -> Result<String> {
    let mut documents = Vec::new();
    for log in logs {
        let text =
            std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
        documents.extend(lines(&text));
    }
    Ok(format!(
        "{}\nthe last {last} requests, and the queue work each set off:\n\n{}",
        render(&totals(&documents)),
        traces(&documents, last)
    ))
}

/// Every EMF document among the lines of `log` (other lines are skipped).
pub fn lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| line.starts_with('{') && line.contains("\"_aws\""))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|document| document["_aws"]["CloudWatchMetrics"].is_array())
        .collect()
}

/// One function's metrics, summed over its lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Invocations (lines).
    pub invocations: u64,
    /// Each metric defined, summed (latencies apart).
    pub counts: BTreeMap<String, f64>,
    /// Every latency, in milliseconds, in order.
    pub latencies_ms: Vec<f64>,
    /// How many answers carried each problem code.
    pub codes: BTreeMap<String, u64>,
}

impl Totals {
    /// A metric's sum (0 when never written).
    pub fn count(&self, metric: &str) -> f64 {
        self.counts.get(metric).copied().unwrap_or_default()
    }

    /// The latency at quantile `q` (0 to 1), nearest rank.
    pub fn latency_at(&self, q: f64) -> Option<f64> {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
        sorted.get(rank - 1).copied()
    }
}

/// The totals of `documents` by `FunctionName`.
pub fn totals(documents: &[Value]) -> BTreeMap<String, Totals> {
    let mut all: BTreeMap<String, Totals> = BTreeMap::new();
    for document in documents {
        let function = document["FunctionName"].as_str().unwrap_or("unknown");
        let totals = all.entry(function.to_string()).or_default();
        totals.invocations += 1;
        let definitions = document["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|directive| directive["Metrics"].as_array().into_iter().flatten());
        for definition in definitions {
            let Some(name) = definition["Name"].as_str() else {
                continue;
            };
            let value = document[name].as_f64().unwrap_or_default();
            if definition["Unit"] == "Milliseconds" {
                totals.latencies_ms.push(value);
            } else {
                *totals.counts.entry(name.to_string()).or_default() += value;
            }
        }
        if let Some(code) = document["code"].as_str() {
            *totals.codes.entry(code.to_string()).or_default() += 1;
        }
    }
    all
}

/// A table of `totals`: requests, errors, p50/p99 latency, cold starts and
/// store calls per function, as an operator's dashboard would show them.
pub fn render(totals: &BTreeMap<String, Totals>) -> String {
    let mut out = format!(
        "{:<16} {:>8} {:>5} {:>5} {:>8} {:>8} {:>5} {:>7} {:>6}\n",
        "function", "requests", "4xx", "5xx", "p50 ms", "p99 ms", "cold", "store", "failed"
    );
    for (function, t) in totals {
        let requests = t.count("Requests").max(t.count("Messages"));
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>5} {:>5} {:>8.1} {:>8.1} {:>5} {:>7} {:>6}",
            function,
            requests,
            t.count("ClientErrors"),
            t.count("ServerErrors"),
            t.latency_at(0.5).unwrap_or_default(),
            t.latency_at(0.99).unwrap_or_default(),
            t.count("ColdStarts"),
            t.count("StoreCalls"),
            t.count("StoreFailures") + t.count("MessagesFailed"),
        );
    }
    out
}

/// The last `last` requests among `documents`, each with what it set off:
/// the HTTP invocation (function, status, latency, store calls), and under
/// it every queue consumer's invocation that carried its correlation id.
pub fn traces(documents: &[Value], last: usize) -> String {
    let roots: Vec<&Value> = documents
        .iter()
        .filter(|d| d["correlation_id"].is_string())
        .collect();
    let mut out = String::new();
    for root in roots.iter().skip(roots.len().saturating_sub(last)) {
        let id = root["correlation_id"].as_str().unwrap_or_default();
        let _ = writeln!(out, "{id}  {}", invocation(root));
        let children = documents.iter().filter(|d| {
            d["correlation_ids"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|i| i == id))
        });
        for child in children {
            let _ = writeln!(out, "  └ {}", invocation(child));
        }
    }
    out
}

/// One invocation in a line: function, status or messages, latency, store
/// calls, and the outcome counts it recorded.
fn invocation(document: &Value) -> String {
    let what = match (document["status"].as_u64(), document["Messages"].as_u64()) {
        (Some(status), _) => format!("{status}"),
        (None, Some(messages)) => format!("{messages} message(s)"),
        (None, None) => String::new(),
    };
    let mut line = format!(
        "{} {what}  {:.1} ms  {} store call(s)",
        document["FunctionName"].as_str().unwrap_or("unknown"),
        document["Latency"].as_f64().unwrap_or_default(),
        document["StoreCalls"].as_u64().unwrap_or_default(),
    );
    for name in [
        "StoreFailures",
        "IdempotentReplays",
        "JobsSucceeded",
        "JobsFailed",
        "UploadsConfirmed",
        "UploadsRejected",
        "MessagesFailed",
    ] {
        if let Some(n) = document[name].as_u64().filter(|n| *n > 0) {
            let _ = write!(line, "  {name} {n}");
        }
    }
    if let Some(code) = document["code"].as_str() {
        let _ = write!(line, "  {code}");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_summed_by_function_and_other_lines_are_skipped() {
        let log = r#"
 INFO starting lambda function function="me"
{"level":"INFO","message":"not a metric"}
{"_aws":{"CloudWatchMetrics":[{"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds"}]}]},"FunctionName":"me","Requests":1,"Latency":4.0}
{"_aws":{"CloudWatchMetrics":[{"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds"}]}]},"FunctionName":"me","Requests":1,"Latency":2.0,"code":"invalid_token"}
"#;
        let documents = lines(log);
        assert_eq!(documents.len(), 2);
        let me = &totals(&documents)["me"];
        assert_eq!(me.invocations, 2);
        assert_eq!(me.count("Requests"), 2.0);
        assert_eq!(me.latency_at(0.5), Some(2.0));
        assert_eq!(me.latency_at(0.99), Some(4.0));
        assert_eq!(me.codes["invalid_token"], 1);
        assert!(render(&totals(&documents)).contains("me"));
    }

    #[test]
    fn a_trace_is_a_request_and_the_consumers_that_carried_its_id() {
        let documents: Vec<Value> = [
            r#"{"FunctionName":"create-job","status":202,"Latency":12.0,"StoreCalls":5,"correlation_id":"r1"}"#,
            r#"{"FunctionName":"me","status":200,"Latency":3.0,"StoreCalls":3,"correlation_id":"r2"}"#,
            r#"{"FunctionName":"job-worker","Messages":1,"Latency":80.0,"StoreCalls":9,"JobsSucceeded":1,"correlation_ids":["r1"]}"#,
        ]
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_default())
        .collect();
        let all = traces(&documents, 10);
        assert_eq!(
            all,
            "r1  create-job 202  12.0 ms  5 store call(s)\n  \
             └ job-worker 1 message(s)  80.0 ms  9 store call(s)  JobsSucceeded 1\n\
             r2  me 200  3.0 ms  3 store call(s)\n"
        );
        assert_eq!(
            traces(&documents, 1),
            "r2  me 200  3.0 ms  3 store call(s)\n"
        );
    }
}
