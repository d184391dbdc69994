//! Background jobs on the local stack: an export end to end over HTTP and the
//! event-source pump; idempotency keys; the worker's at-most-once work under
//! repeated, interleaved and poisoned deliveries; the dead-letter path; a
//! worker killed mid-job; a failed send and the sweep.
//!
//! Tests that need a queue of their own (a short visibility timeout, a
//! dead-letter queue that only they read) create it in moto and point a
//! second instance of the functions at it, so the stack's own event sources
//! never touch their messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{Value, json};
use shared::jobs::exports::export_key;
use shared::jobs::queue::JobMessage;
use shared::jobs::records::{JobKind, JobRecord, JobStatus, JobStore};
use shared::jobs::worker::{FailJobs, Outcome, RunJobs, SweepJobs};
use shared::time::Timestamp;
use support::{Api, Reply, download, poll_until, private_queue};
use xtask::pump::{self, Mapping};
use xtask::stack::{Instance, StackInfo};
use xtask::template::Template;

const EXPORT: &str = r#"{"type": "export"}"#;

fn create_job(api: &Api, token: &str, key: Option<&str>, body: &str) -> Reply {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    api.send("POST", "/jobs", Some(token), &headers, Some(body))
}

fn get_job(api: &Api, token: &str, job_id: &str) -> Reply {
    api.send("GET", &format!("/jobs/{job_id}"), Some(token), &[], None)
}

fn wait_for_job(api: &Api, token: &str, job_id: &str, wanted: &str, within: Duration) -> Value {
    poll_until(
        &format!("job {job_id}"),
        within,
        || get_job(api, token, job_id),
        |job| job["status"] == wanted,
    )
}

fn list_jobs(api: &Api, token: &str) -> Vec<Value> {
    let reply = api.send("GET", "/jobs?limit=100", Some(token), &[], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["jobs"].as_array().unwrap().clone()
}

/// The user id behind an access token (its `sub`).
fn user_id(api: &Api, token: &str) -> String {
    let reply = api.send("GET", "/me", Some(token), &[], None);
    reply.body["user_id"].as_str().unwrap().to_string()
}

async fn stack() -> (StackInfo, shared::aws::AwsClients) {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    (stack, aws)
}

fn job_store(stack: &StackInfo, aws: &shared::aws::AwsClients) -> JobStore {
    let env = stack.template_environment("job-worker");
    JobStore::new(aws.dynamodb().clone(), env.require("JOBS_TABLE").unwrap())
}

/// A queued job written straight to the store, already "sent", so neither
/// the stack's worker nor the sweep will ever see it: only the test runs it.
async fn stored_job(store: &JobStore, user_id: &str) -> JobRecord {
    let mut record = JobRecord::queued(
        user_id,
        &shared::ids::new_id(),
        JobKind::Export,
        Timestamp::now(),
    );
    record.unsent = false;
    assert!(store.create(&record).await.unwrap());
    record
}

fn sqs_message(id: &str, body: &str) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_string());
    message.body = Some(body.to_string());
    message
}

fn job_body(record: &JobRecord) -> String {
    serde_json::to_string(&JobMessage::from(record)).unwrap()
}

fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages;
    event
}

/// The template's `maxReceiveCount` of the jobs queue.
fn jobs_queue_max_receive_count() -> u64 {
    let template = Template::load(&xtask::workspace_root().join("template.yaml")).unwrap();
    let queue = template.resource("JobsQueue").unwrap();
    xtask::template::number(&queue.properties["RedrivePolicy"]["maxReceiveCount"]).unwrap()
}

#[tokio::test]
async fn an_export_holds_the_users_data_and_nobody_elses() {
    let api = Api::new();
    let (email, token) = api.new_user();
    let (other_email, other_token) = api.new_user();
    for (token, sku) in [(&token, "SKU-MINE-1"), (&other_token, "SKU-THEIRS-1")] {
        let reply = api.send(
            "PUT",
            "/cart",
            Some(token),
            &[("if-match", "\"0\"")],
            Some(&json!({"items": [{"sku": sku, "quantity": 2}]}).to_string()),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let upload = api.send(
        "POST",
        "/uploads",
        Some(&token),
        &[],
        Some(r#"{"filename": "notes.txt", "content_type": "text/plain", "size": 5}"#),
    );
    assert_eq!(upload.status, 201, "{}", upload.body);
    let other_job = create_job(&api, &other_token, None, EXPORT);
    assert_eq!(other_job.status, 202, "{}", other_job.body);

    let created = create_job(&api, &token, None, EXPORT);
    assert_eq!(created.status, 202, "{}", created.body);
    assert_eq!(created.body["type"], "export");
    assert_eq!(created.body["status"], "queued");
    let job_id = created.body["job_id"].as_str().unwrap();
    assert!(shared::ids::is_id(job_id));
    assert_eq!(
        created.header("location"),
        Some(&*format!("/jobs/{job_id}"))
    );
    assert!(created.body["created_at"].as_str().unwrap().ends_with('Z'));

    let done = wait_for_job(&api, &token, job_id, "succeeded", Duration::from_secs(60));
    assert_eq!(done["attempts"], 1);
    assert!(done.get("error").is_none());
    let url = done["result"]["download_url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(url.contains(&format!("/exports/{job_id}.json")), "{url}");
    let (status, text) = download(url);
    assert_eq!(status, 200, "{text}");
    let document: Value = serde_json::from_str(&text).unwrap();

    let me = user_id(&api, &token);
    assert_eq!(document["format"], shared::jobs::export::EXPORT_FORMAT);
    assert_eq!(document["user_id"], me);
    assert_eq!(document["profile"]["email"], email);
    assert_eq!(document["cart"]["items"][0]["sku"], "SKU-MINE-1");
    assert_eq!(
        document["uploads"][0]["upload_id"],
        upload.body["upload_id"]
    );
    assert_eq!(document["uploads"][0]["filename"], "notes.txt");
    assert!(!document["sessions"].as_array().unwrap().is_empty());
    assert!(document["sessions"][0].get("current").is_none());
    let jobs: Vec<&str> = document["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, [job_id]);
    // Nothing of the other user, anywhere in the document.
    let other = user_id(&api, &other_token);
    for theirs in [
        other.as_str(),
        other_email.as_str(),
        "SKU-THEIRS-1",
        other_job.body["job_id"].as_str().unwrap(),
    ] {
        assert!(!text.contains(theirs), "the export holds {theirs}");
    }
    // Nor can the other user see the job.
    assert_eq!(get_job(&api, &other_token, job_id).status, 404);
}

#[tokio::test]
async fn jobs_are_listed_by_page_and_bad_requests_are_refused() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let reply = create_job(&api, &token, None, EXPORT);
        assert_eq!(reply.status, 202, "{}", reply.body);
        ids.push(reply.body["job_id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut path = "/jobs?limit=2".to_string();
    loop {
        let reply = api.send("GET", &path, Some(&token), &[], None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        for job in reply.body["jobs"].as_array().unwrap() {
            seen.push(job["job_id"].as_str().unwrap().to_string());
        }
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/jobs?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);

    for (body, code) in [
        (r#"{"type": "shred"}"#, "unknown_job_type"),
        (r#"{"type": "export", "when": "now"}"#, "invalid_body"),
        (r#"{}"#, "invalid_body"),
        ("[1]", "invalid_body"),
    ] {
        let reply = create_job(&api, &token, None, body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(reply.body["code"], code, "{body}");
    }
    for path in ["/jobs/not-an-id", "/jobs/AAAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(api.send("GET", path, Some(&token), &[], None).status, 404);
    }
    for path in ["/jobs?limit=0", "/jobs?limit=x", "/jobs?cursor=forged"] {
        let reply = api.send("GET", path, Some(&token), &[], None);
        assert_eq!(reply.status, 400, "{path}");
        assert_eq!(reply.body["code"], "invalid_query");
    }
    assert_eq!(create_job(&api, "nope", None, EXPORT).status, 401);
    assert_eq!(api.send("GET", "/jobs", None, &[], None).status, 401);
}

#[tokio::test]
async fn one_key_and_one_body_make_one_job() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let key = format!("export-{}", shared::ids::new_id());

    let first = create_job(&api, &token, Some(&key), EXPORT);
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same request in another spelling is the same request.
    let again = create_job(&api, &token, Some(&key), "{ \"type\" :\"export\" }");
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));

    let other_body = create_job(&api, &token, Some(&key), r#"{"type": "shred"}"#);
    assert_eq!(other_body.status, 422, "{}", other_body.body);
    assert_eq!(other_body.body["code"], "idempotency_key_reused");
    assert_eq!(list_jobs(&api, &token).len(), 1);

    // Keys belong to their caller: another user's same key is another job.
    let (_, other_token) = api.new_user();
    let theirs = create_job(&api, &other_token, Some(&key), EXPORT);
    assert_eq!(theirs.status, 202);
    assert_ne!(theirs.body["job_id"], first.body["job_id"]);

    // A final answer is kept too: a 400 is replayed, not re-judged.
    let bad_key = format!("bad-{}", shared::ids::new_id());
    let bad = create_job(&api, &token, Some(&bad_key), r#"{"type": "shred"}"#);
    assert_eq!(bad.status, 400);
    let bad_again = create_job(&api, &token, Some(&bad_key), r#"{"type": "shred"}"#);
    assert_eq!(bad_again.status, 400);
    assert_eq!(bad_again.header("idempotent-replayed"), Some("true"));

    let long = "k".repeat(256);
    for invalid in [long.as_str(), " "] {
        let reply = create_job(&api, &token, Some(invalid), EXPORT);
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body["code"], "invalid_idempotency_key");
    }
    assert_eq!(list_jobs(&api, &token).len(), 1);
}

#[tokio::test]
async fn parallel_requests_with_one_key_make_one_job() {
    let stack = StackInfo::from_env().unwrap();
    let second = Instance::start(&stack, "jobs-idempotency", &[]).unwrap();
    let apis = [Api::new(), Api::at(&second.api_url)];
    let (_, token) = apis[0].new_user();
    let key = format!("parallel-{}", shared::ids::new_id());
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (api, token, key) = (&apis[i % 2], &token, &key);
                scope.spawn(move || create_job(api, token, Some(key), EXPORT))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut job_ids: Vec<&str> = Vec::new();
    for reply in &replies {
        match reply.status {
            202 => job_ids.push(reply.body["job_id"].as_str().unwrap()),
            409 => {
                assert_eq!(reply.body["code"], "idempotency_key_in_use");
                assert!(reply.header("retry-after").is_some());
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert!(!job_ids.is_empty());
    job_ids.dedup();
    assert_eq!(job_ids.len(), 1, "{job_ids:?}");
    let jobs = list_jobs(&apis[0], &token);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    // Once the first has answered, a repeat is a replay of it.
    let later = create_job(&apis[1], &token, Some(&key), EXPORT);
    assert_eq!(later.status, 202);
    assert_eq!(later.body["job_id"], job_ids[0]);
}

#[tokio::test]
async fn a_message_delivered_three_times_among_others_does_the_work_once() {
    let (stack, aws) = stack().await;
    let store = job_store(&stack, &aws);
    let worker = RunJobs::new(&stack.template_environment("job-worker"), &aws).unwrap();
    let (a, b) = (
        stored_job(&store, &shared::ids::new_id()).await,
        stored_job(&store, &shared::ids::new_id()).await,
    );
    let event = batch(vec![
        sqs_message("a-1", &job_body(&a)),
        sqs_message("b-1", &job_body(&b)),
        sqs_message("a-2", &job_body(&a)),
        sqs_message("a-3", &job_body(&a)),
    ]);
    let answer = worker
        .handle(event, lambda_runtime::Context::default())
        .await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    for job in [&a, &b] {
        let record = store
            .get(&job.user_id, &job.job_id, Timestamp::now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status, JobStatus::Succeeded);
        assert_eq!(record.attempts, 1, "the work ran more than once");
    }

    // Concurrent copies: one does the work, the others find it taken or done.
    let c = stored_job(&store, &shared::ids::new_id()).await;
    let message = JobMessage::from(&c);
    let lease = Timestamp::now().plus(60);
    let outcomes = futures_join3(
        worker.run(&message, lease),
        worker.run(&message, lease),
        worker.run(&message, lease),
    )
    .await;
    let succeeded = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Outcome::Succeeded)))
        .count();
    assert_eq!(succeeded, 1, "{outcomes:?}");
    // A late copy after it finished changes nothing.
    let before = store
        .get(&c.user_id, &c.job_id, Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        worker.run(&message, lease).await,
        Ok(Outcome::Skipped)
    ));
    let after = store
        .get(&c.user_id, &c.job_id, Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before);
    assert_eq!(after.attempts, 1);
}

async fn futures_join3<T>(
    a: impl std::future::Future<Output = T>,
    b: impl std::future::Future<Output = T>,
    c: impl std::future::Future<Output = T>,
) -> Vec<T> {
    let (a, b, c) = tokio::join!(a, b, c);
    vec![a, b, c]
}

#[tokio::test]
async fn a_poison_message_is_the_only_one_reported() {
    let (stack, aws) = stack().await;
    let store = job_store(&stack, &aws);
    let worker = RunJobs::new(&stack.template_environment("job-worker"), &aws).unwrap();
    let (a, b) = (
        stored_job(&store, &shared::ids::new_id()).await,
        stored_job(&store, &shared::ids::new_id()).await,
    );
    let event = batch(vec![
        sqs_message("ok-1", &job_body(&a)),
        sqs_message("poison", "{\"job\": \"not one of ours\"}"),
        sqs_message("ok-2", &job_body(&b)),
    ]);
    let answer = worker
        .handle(event, lambda_runtime::Context::default())
        .await;
    let failed: Vec<&str> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["poison"]);
    for job in [&a, &b] {
        let record = store
            .get(&job.user_id, &job.job_id, Timestamp::now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status, JobStatus::Succeeded);
    }

    // Through the event source: the good messages are deleted, the poison stays.
    let queue = private_queue(aws.sqs(), "jobs-batch", 30, None).await;
    let c = stored_job(&store, &shared::ids::new_id()).await;
    for body in [job_body(&c), "not json".to_string()] {
        aws.sqs()
            .send_message()
            .queue_url(&queue.0)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let mapping = Mapping::to_instance(&queue, "job-worker", &stack.api_url);
    let mut received = 0;
    let mut deleted = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while received < 2 && Instant::now() < deadline {
        let outcome = pump::deliver_one_batch(aws.sqs(), &mapping, 1)
            .await
            .unwrap();
        received += outcome.received;
        deleted += outcome.deleted;
    }
    assert_eq!((received, deleted), (2, 1));
    let record = store
        .get(&c.user_id, &c.job_id, Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, JobStatus::Succeeded);
}

#[tokio::test]
async fn a_job_that_keeps_failing_ends_failed_through_the_dead_letter_queue() {
    let (stack, aws) = stack().await;
    let max_receive_count = jobs_queue_max_receive_count();
    assert_eq!(max_receive_count, 5);
    let dead_letters = private_queue(aws.sqs(), "jobs-dlq", 30, None).await;
    let jobs = private_queue(
        aws.sqs(),
        "jobs-poison",
        1,
        Some((&dead_letters.1, max_receive_count)),
    )
    .await;
    // An instance whose jobs go to the test's queue and whose exports
    // bucket does not exist: every attempt fails at the last write.
    let missing_bucket = format!(
        "missing-{}",
        shared::ids::new_id().to_lowercase().replace('_', "x")
    );
    let broken = Instance::start(
        &stack,
        "jobs-poison",
        &[
            ("JOBS_QUEUE_URL", &jobs.0),
            ("EXPORTS_BUCKET", &missing_bucket),
        ],
    )
    .unwrap();
    let api = Api::at(&broken.api_url);
    let (_, token) = api.new_user();
    let created = create_job(&api, &token, None, EXPORT);
    assert_eq!(created.status, 202, "{}", created.body);
    let job_id = created.body["job_id"].as_str().unwrap().to_string();

    let worker = Mapping::to_instance(&jobs, "job-worker", &broken.api_url);
    let failures = Mapping::to_instance(&dead_letters, "job-failures", &stack.api_url);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut deliveries = 0;
    let mut dead = 0;
    while dead == 0 {
        assert!(
            Instant::now() < deadline,
            "no dead letter after {deliveries} deliveries"
        );
        let outcome = pump::deliver_one_batch(aws.sqs(), &worker, 1)
            .await
            .unwrap();
        assert_eq!(outcome.deleted, 0, "a failing job's message was deleted");
        deliveries += outcome.received;
        dead = pump::deliver_one_batch(aws.sqs(), &failures, 0)
            .await
            .unwrap()
            .deleted;
    }
    assert_eq!(deliveries as u64, max_receive_count);
    let failed = get_job(&Api::new(), &token, &job_id);
    assert_eq!(failed.body["status"], "failed", "{}", failed.body);
    assert_eq!(failed.body["attempts"], max_receive_count);
    let error = failed.body["error"].as_str().unwrap();
    assert!(error.contains("after 5 attempts"), "{error}");
    assert!(error.contains("S3.PutObject was unavailable"), "{error}");
    assert!(failed.body.get("result").is_none());

    // A dead letter for a finished job changes nothing.
    let store = job_store(&stack, &aws);
    let user = user_id(&api, &token);
    let handler = FailJobs::new(&stack.template_environment("job-failures"), &aws).unwrap();
    let message = JobMessage {
        user_id: user.clone(),
        job_id: job_id.clone(),
    };
    let before = store.get(&user, &job_id, Timestamp::now()).await.unwrap();
    assert!(!handler.give_up(&message).await.unwrap());
    assert_eq!(
        store.get(&user, &job_id, Timestamp::now()).await.unwrap(),
        before
    );
}

/// A TCP server that takes connections and never answers: a store that hangs.
fn black_hole() -> (
    u16,
    std::thread::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(true).ok();
                    let mut buffer = [0u8; 4096];
                    let _ = stream.read(&mut buffer);
                    held.push(stream);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (port, handle, stop)
}

#[tokio::test]
async fn a_worker_killed_mid_job_leaves_it_to_finish_exactly_once() {
    let (stack, aws) = stack().await;
    let store = job_store(&stack, &aws);
    let queue = private_queue(aws.sqs(), "jobs-kill", 2, None).await;
    let (port, hole, stop_hole) = black_hole();
    let stalled_s3 = format!("http://127.0.0.1:{port}");
    // Its writes to S3 hang: the worker is caught mid-job, lease held.
    let doomed = Instance::start(
        &stack,
        "jobs-kill",
        &[
            ("JOBS_QUEUE_URL", &queue.0),
            ("AWS_ENDPOINT_URL_S3", &stalled_s3),
        ],
    )
    .unwrap();
    let api = Api::at(&doomed.api_url);
    let (_, token) = api.new_user();
    let user = user_id(&api, &token);
    let created = create_job(&api, &token, None, EXPORT);
    assert_eq!(created.status, 202, "{}", created.body);
    let job_id = created.body["job_id"].as_str().unwrap().to_string();

    let doomed_worker = Mapping::to_instance(&queue, "job-worker", &doomed.api_url);
    let sqs = aws.sqs().clone();
    let in_flight =
        tokio::spawn(async move { pump::deliver_one_batch(&sqs, &doomed_worker, 5).await });
    let deadline = Instant::now() + Duration::from_secs(60);
    let running = loop {
        let record = store
            .get(&user, &job_id, Timestamp::now())
            .await
            .unwrap()
            .unwrap();
        if record.status == JobStatus::Running {
            break record;
        }
        assert!(
            Instant::now() < deadline,
            "the job never started: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(running.attempts, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    doomed.kill();
    let outcome = in_flight.await.unwrap();
    assert!(
        outcome.as_ref().map_or(true, |o| o.deleted == 0),
        "the killed worker's message was deleted: {outcome:?}"
    );
    stop_hole.store(true, std::sync::atomic::Ordering::Relaxed);
    hole.join().unwrap();

    // The message comes back after its visibility timeout; a healthy worker
    // takes over once the dead one's lease has lapsed (until then it is
    // refused as busy, and the message comes back again).
    let healthy = Mapping::to_instance(&queue, "job-worker", &stack.api_url);
    let lease_until = running.lease_until.unwrap();
    let deadline =
        Instant::now() + Duration::from_secs(lease_until.0.saturating_sub(Timestamp::now().0) + 60);
    loop {
        pump::deliver_one_batch(aws.sqs(), &healthy, 1)
            .await
            .unwrap();
        let record = store
            .get(&user, &job_id, Timestamp::now())
            .await
            .unwrap()
            .unwrap();
        if record.status == JobStatus::Succeeded {
            assert_eq!(record.attempts, 2);
            break;
        }
        assert!(Instant::now() < deadline, "never finished: {record:?}");
    }
    let done = wait_for_job(
        &Api::new(),
        &token,
        &job_id,
        "succeeded",
        Duration::from_secs(5),
    );
    let (status, text) = download(done["result"]["download_url"].as_str().unwrap());
    assert_eq!(status, 200);
    assert!(text.contains(&user));
    let bucket = stack.template_environment("job-worker");
    let objects = aws
        .s3()
        .list_objects_v2()
        .bucket(bucket.require("EXPORTS_BUCKET").unwrap())
        .prefix(format!("users/{user}/"))
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = objects.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [export_key(&user, &job_id).as_str()]);
    // The queue is empty: the message was deleted once the job finished.
    let left = pump::deliver_one_batch(aws.sqs(), &healthy, 3)
        .await
        .unwrap();
    assert_eq!(left.received, 0);
}

#[tokio::test]
async fn a_failed_send_is_retried_by_the_key_and_undone_without_one() {
    let (stack, aws) = stack().await;
    let store = job_store(&stack, &aws);
    let missing_queue = format!("{}/123456789012/no-such-queue", stack.moto_endpoint);
    let broken =
        Instance::start(&stack, "jobs-send", &[("JOBS_QUEUE_URL", &missing_queue)]).unwrap();
    let broken_api = Api::at(&broken.api_url);
    let api = Api::new();
    let (_, token) = api.new_user();
    let user = user_id(&api, &token);

    // Without a key: 503, and no job is left behind.
    let unkeyed = create_job(&broken_api, &token, None, EXPORT);
    assert_eq!(unkeyed.status, 503, "{}", unkeyed.body);
    assert!(unkeyed.header("retry-after").is_some());
    assert!(store.all(&user, Timestamp::now()).await.unwrap().is_empty());

    // With a key: 503, the job stays, marked unsent...
    let key = format!("send-{}", shared::ids::new_id());
    let failed = create_job(&broken_api, &token, Some(&key), EXPORT);
    assert_eq!(failed.status, 503, "{}", failed.body);
    let kept = store.all(&user, Timestamp::now()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].unsent);
    assert_eq!(kept[0].status, JobStatus::Queued);

    // ...and the retry is the same job, sent this time, and it runs.
    let retried = create_job(&api, &token, Some(&key), EXPORT);
    assert_eq!(retried.status, 202, "{}", retried.body);
    assert_eq!(retried.body["job_id"], kept[0].job_id.as_str());
    wait_for_job(
        &api,
        &token,
        &kept[0].job_id,
        "succeeded",
        Duration::from_secs(60),
    );
    assert_eq!(store.all(&user, Timestamp::now()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_sweep_sends_what_was_never_sent() {
    let (stack, aws) = stack().await;
    let store = job_store(&stack, &aws);
    let api = Api::new();
    let (_, token) = api.new_user();
    let user = user_id(&api, &token);
    // A job whose route died between the record and the message.
    let job = JobRecord::queued(
        &user,
        &shared::ids::new_id(),
        JobKind::Export,
        Timestamp(Timestamp::now().0 - 120),
    );
    assert!(store.create(&job).await.unwrap());
    let fresh = JobRecord::queued(
        &user,
        &shared::ids::new_id(),
        JobKind::Export,
        Timestamp::now(),
    );
    assert!(store.create(&fresh).await.unwrap());

    let sweep = SweepJobs::new(&stack.template_environment("job-sweeper"), &aws).unwrap();
    let sent = sweep.sweep(Timestamp::now()).await.unwrap();
    assert!(sent >= 1);
    wait_for_job(
        &api,
        &token,
        &job.job_id,
        "succeeded",
        Duration::from_secs(60),
    );
    // One still being sent by its route is left alone.
    let young = store
        .get(&user, &fresh.job_id, Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert!(young.unsent);
    assert_eq!(young.status, JobStatus::Queued);
    assert!(store.delete_unsent(&user, &fresh.job_id).await.unwrap());
}

#[test]
fn the_worker_outlives_no_message_and_every_consumer_reports_partial_failures() {
    let template = Template::load(&xtask::workspace_root().join("template.yaml")).unwrap();
    let functions = template.functions().unwrap();
    let mut consumers = 0;
    for function in &functions {
        for source in &function.queue_sources {
            consumers += 1;
            assert!(
                source.report_batch_item_failures,
                "{} must answer with ReportBatchItemFailures",
                function.logical_id
            );
            let queue = template.resource(&source.queue).unwrap();
            let visibility = queue
                .properties
                .get("VisibilityTimeout")
                .and_then(xtask::template::number)
                .unwrap_or(30);
            assert!(
                visibility >= 6 * function.timeout_seconds,
                "{}: visibility {visibility} s is under six times {}'s timeout of {} s",
                source.queue,
                function.logical_id,
                function.timeout_seconds
            );
        }
    }
    assert!(consumers >= 4);
    let worker = functions.iter().find(|f| f.binary == "job-worker").unwrap();
    assert_eq!(worker.queue_sources[0].queue, "JobsQueue");
    let failures = functions
        .iter()
        .find(|f| f.binary == "job-failures")
        .unwrap();
    let jobs_queue = template.resource("JobsQueue").unwrap();
    let redrive = &jobs_queue.properties["RedrivePolicy"];
    assert_eq!(
        xtask::template::number(&redrive["maxReceiveCount"]),
        Some(5)
    );
    let (dead_letter_queue, _) = xtask::template::get_att(&redrive["deadLetterTargetArn"]).unwrap();
    assert_eq!(dead_letter_queue, failures.queue_sources[0].queue);
}
