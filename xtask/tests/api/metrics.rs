//! The metric lines (CloudWatch EMF, `shared::metrics`) of a short journey
//! on an instance of its own: one line per invocation with its outcome,
//! cold start, store calls and problem code, counted exactly; and the
//! correlation id of a job's request on the worker's lines and logs.

use std::time::Duration;

use serde_json::{Value, json};
use xtask::client::{Client, poll};
use xtask::emf;
use xtask::stack::{Instance, StackInfo};

#[test]
fn every_invocation_writes_one_metric_line_with_its_outcome_and_the_job_keeps_its_correlation_id() {
    let stack = StackInfo::from_env().unwrap();
    let instance = Instance::start(&stack, "metrics", &[]).unwrap();
    let api = Client::at(&instance.api_url);
    let (_, token) = api.register_and_login().unwrap();
    let token = Some(token.as_str());
    for _ in 0..2 {
        assert_eq!(
            api.call("GET", "/me", token, &[], None).unwrap().status,
            200
        );
    }
    let forged = api
        .call("GET", "/me", Some("not-a-token"), &[], None)
        .unwrap();
    assert_eq!(forged.status, 401);
    let items = json!({"items": []});
    let unconditional = api.call("PUT", "/cart", token, &[], Some(&items)).unwrap();
    assert_eq!(unconditional.status, 428);
    let key = [("idempotency-key", "metrics-once")];
    let export = json!({"type": "export"});
    let first = api
        .call("POST", "/jobs", token, &key, Some(&export))
        .unwrap();
    let again = api
        .call("POST", "/jobs", token, &key, Some(&export))
        .unwrap();
    assert_eq!((first.status, again.status), (202, 202));
    let job_path = format!("/jobs/{}", first.text("job_id").unwrap());
    poll(
        "the job",
        Duration::from_secs(60),
        || api.call("GET", &job_path, token, &[], None),
        |job| job["status"] == "succeeded",
    )
    .unwrap();

    let log = std::fs::read_to_string(stack.logs_dir.join("instances/metrics.log")).unwrap();
    let documents = emf::lines(&log);
    let totals = emf::totals(&documents);
    let me = &totals["me"];
    assert_eq!(me.invocations, 3, "{me:?}");
    assert_eq!(me.count("Requests"), 3.0);
    assert_eq!(me.count("ClientErrors"), 1.0);
    assert_eq!(me.count("ServerErrors"), 0.0);
    assert_eq!(me.count("ColdStarts"), 1.0, "only the first is cold");
    // Two answered (standing and budget, the user), the forged one asked nothing.
    assert_eq!(me.count("StoreCalls"), 6.0);
    assert_eq!(me.codes.get("invalid_token"), Some(&1));
    assert_eq!(me.latencies_ms.len(), 3);
    let put_cart = &totals["put-cart"];
    assert_eq!(put_cart.count("ClientErrors"), 1.0);
    assert_eq!(put_cart.codes.get("precondition_required"), Some(&1));
    let create_job = &totals["create-job"];
    assert_eq!(create_job.count("Requests"), 2.0);
    assert_eq!(create_job.count("IdempotentReplays"), 1.0);
    for function in [
        "register",
        "login",
        "me",
        "put-cart",
        "create-job",
        "get-job",
    ] {
        assert!(
            totals.contains_key(function),
            "no line of {function}: {totals:?}"
        );
    }
    // Only the function dimension, whatever the line.
    for document in &documents {
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName"]]),
            "{document}"
        );
        assert!(document["correlation_id"].is_string(), "{document}");
    }

    // The job's request id travels with its message: the worker's metric
    // line and its log lines carry it.
    let created: Vec<&Value> = documents
        .iter()
        .filter(|d| d["FunctionName"] == "create-job" && d["IdempotentReplays"].is_null())
        .collect();
    let [created] = created.as_slice() else {
        panic!("one first create-job line: {created:?}");
    };
    let id = created["correlation_id"].as_str().unwrap();
    let stack_log = std::fs::read_to_string(stack.logs_dir.join("functions.log")).unwrap();
    let worker = emf::lines(&stack_log)
        .into_iter()
        .find(|d| {
            d["FunctionName"] == "job-worker"
                && d["correlation_ids"]
                    .as_array()
                    .is_some_and(|ids| ids.iter().any(|i| i == id))
        })
        .unwrap_or_else(|| panic!("no job-worker line names {id}"));
    // (Its batch may hold other tests' jobs too.)
    assert!(worker["JobsSucceeded"].as_u64() >= Some(1), "{worker}");
    assert!(
        stack_log
            .lines()
            .any(|line| line.contains("job succeeded") && line.contains(id)),
        "the worker's log does not name {id}"
    );
    // `cargo xtask metrics` shows that trace: the request, then the worker.
    let logs = [
        stack.logs_dir.join("instances/metrics.log"),
        stack.logs_dir.join("functions.log"),
    ];
    let report = emf::report(&[&logs[0], &logs[1]], usize::MAX).unwrap();
    let trace = report
        .split(&format!("{id}  create-job 202"))
        .nth(1)
        .unwrap_or_else(|| panic!("no trace of {id} in:\n{report}"));
    assert!(
        trace
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("  └ job-worker")),
        "{trace}"
    );
}
