//! Background jobs on the local stack: an export end to end over HTTP and the
//! event-source pump; the export document's exact shape, and a large one
//! sent in parts within bounded memory (or aborted, leaving no part);
//! idempotency keys; the worker's at-most-once work under repeated,
//! interleaved and poisoned deliveries; the dead-letter path; a worker
//! killed mid-job; a failed send and the sweep.
//!
//! Tests that need a queue of their own (a short visibility timeout, a
//! dead-letter queue that only they read) create it in moto and point a
//! second instance of the functions at it, so the stack's own event sources
//! never touch their messages.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::accounts::email::Email;
use shared::accounts::sessions::{SessionRecord, SessionStore};
use shared::accounts::users::{UserProfile, UserStore};
use shared::ids::{JobId, UserId};
use shared::jobs::export_bucket::{PART_BYTES, export_key};
use shared::jobs::messages::JobMessage;
use shared::jobs::records::{JobKind, JobRecord, JobStatus};
use shared::jobs::store::JobStore;
use shared::jobs::worker::{JobError, JobFailures, JobSweeper, JobWorker, Outcome};
use shared::sqs_batch::Consumer;
use shared::time::Timestamp;
use shared::uploads::records::{UploadRecord, UploadStatus, UploadStore};
use xtask::call_log::CallLog;
use xtask::event_sources::{self, Mapping};
use xtask::runtime_api::{Answer, Answered, Function, Sandbox, sandbox_user};
use xtask::stack::{Instance, StackInfo};
use xtask::template::Template;

use crate::helpers::{Api, Reply, download, poll_until, private_queue};

/// The body of `POST /jobs` for an export.
fn export() -> Value {
    json!({"type": "export"})
}

fn wait_for_job(api: &Api, token: &str, job_id: &str, wanted: &str, within: Duration) -> Value {
    poll_until(
        &format!("job {job_id}"),
        within,
        || api.get_job(token, job_id),
        |job| job["status"] == wanted,
    )
}

/// The caller's jobs (up to 100, as many as any test makes).
fn all_jobs(api: &Api, token: &str) -> Vec<Value> {
    let reply = api.list_jobs(token, "limit=100");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["jobs"].as_array().unwrap().clone()
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
async fn stored_job(store: &JobStore, user_id: &UserId) -> JobRecord {
    let mut record = JobRecord::queued(user_id, &JobId::new(), JobKind::Export, Timestamp::now());
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
    for (token, sku) in [(&token, "BOOK-DDIA"), (&other_token, "BOOK-SRE")] {
        let reply = api.put_cart(
            token,
            "\"0\"",
            &json!({"items": [{"sku": sku, "quantity": 2}]}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let upload = api.create_upload(
        &token,
        &json!({"filename": "notes.txt", "content_type": "text/plain", "size": 5}),
    );
    assert_eq!(upload.status, 201, "{}", upload.body);
    let other_job = api.create_job(&other_token, &export());
    assert_eq!(other_job.status, 202, "{}", other_job.body);

    let created = api.create_job(&token, &export());
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

    let me = api.user_id(&token);
    assert_eq!(
        document["format"],
        shared::jobs::export_format::EXPORT_FORMAT
    );
    assert_eq!(document["user_id"], me);
    assert_eq!(document["profile"]["email"], email);
    assert_eq!(document["cart"]["items"][0]["sku"], "BOOK-DDIA");
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
    let other = api.user_id(&other_token);
    for theirs in [
        other.as_str(),
        other_email.as_str(),
        "SKU-THEIRS-1",
        other_job.body["job_id"].as_str().unwrap(),
    ] {
        assert!(!text.contains(theirs), "the export holds {theirs}");
    }
    // Nor can the other user see the job.
    assert_eq!(api.get_job(&other_token, job_id).status, 404);
}

#[tokio::test]
async fn jobs_are_listed_by_page_and_bad_requests_are_refused() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let reply = api.create_job(&token, &export());
        assert_eq!(reply.status, 202, "{}", reply.body);
        ids.push(reply.body["job_id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut query = "limit=2".to_string();
    loop {
        let reply = api.list_jobs(&token, &query);
        assert_eq!(reply.status, 200, "{}", reply.body);
        for job in reply.body["jobs"].as_array().unwrap() {
            seen.push(job["job_id"].as_str().unwrap().to_string());
        }
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);

    for (body, code) in [
        (json!({"type": "shred"}), "unknown_job_type"),
        (json!({"type": "export", "when": "now"}), "invalid_body"),
        (json!({}), "invalid_body"),
        (json!([1]), "invalid_body"),
    ] {
        let reply = api.create_job(&token, &body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(reply.body["code"], code, "{body}");
    }
    for job_id in ["not-an-id", "AAAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(api.get_job(&token, job_id).status, 404, "{job_id}");
    }
    for query in ["limit=0", "limit=x", "cursor=forged"] {
        let reply = api.list_jobs(&token, query);
        assert_eq!(reply.status, 400, "/jobs?{query}");
        assert_eq!(reply.body["code"], "invalid_query");
    }
    assert_eq!(api.create_job("nope", &export()).status, 401);
    // No token at all: the request's shape is the subject.
    assert_eq!(api.send("GET", "/jobs", None, &[], None).status, 401);
}

#[tokio::test]
async fn one_key_and_one_body_make_one_job() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let key = format!("export-{}", shared::ids::new_id());

    let first = api.create_job_with_key(&token, &key, &export());
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same request in another spelling (sent as written) is the same
    // request.
    let again = api.send(
        "POST",
        "/jobs",
        Some(&token),
        &[("idempotency-key", key.as_str())],
        Some("{ \"type\" :\"export\" }"),
    );
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));

    let other_body = api.create_job_with_key(&token, &key, &json!({"type": "shred"}));
    assert_eq!(other_body.status, 422, "{}", other_body.body);
    assert_eq!(other_body.body["code"], "idempotency_key_reused");
    assert_eq!(all_jobs(&api, &token).len(), 1);

    // Keys belong to their caller: another user's same key is another job.
    let (_, other_token) = api.new_user();
    let theirs = api.create_job_with_key(&other_token, &key, &export());
    assert_eq!(theirs.status, 202);
    assert_ne!(theirs.body["job_id"], first.body["job_id"]);

    // A final answer is kept too: a 400 is replayed, not re-judged.
    let bad_key = format!("bad-{}", shared::ids::new_id());
    let bad = api.create_job_with_key(&token, &bad_key, &json!({"type": "shred"}));
    assert_eq!(bad.status, 400);
    let bad_again = api.create_job_with_key(&token, &bad_key, &json!({"type": "shred"}));
    assert_eq!(bad_again.status, 400);
    assert_eq!(bad_again.header("idempotent-replayed"), Some("true"));

    let long = "k".repeat(256);
    for invalid in [long.as_str(), " "] {
        let reply = api.create_job_with_key(&token, invalid, &export());
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body["code"], "invalid_idempotency_key");
    }
    assert_eq!(all_jobs(&api, &token).len(), 1);
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
                scope.spawn(move || api.create_job_with_key(token, key, &export()))
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
    let jobs = all_jobs(&apis[0], &token);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    // Once the first has answered, a repeat is a replay of it.
    let later = apis[1].create_job_with_key(&token, &key, &export());
    assert_eq!(later.status, 202);
    assert_eq!(later.body["job_id"], job_ids[0]);
}

#[tokio::test]
async fn a_message_delivered_three_times_among_others_does_the_work_once() {
    let (stack, aws) = stack().await;
    let store = job_store(&stack, &aws);
    let worker = JobWorker::build(&stack.template_environment("job-worker"), &aws)
        .await
        .unwrap();
    let (a, b) = (
        stored_job(&store, &UserId::new()).await,
        stored_job(&store, &UserId::new()).await,
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
    let c = stored_job(&store, &UserId::new()).await;
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
    let worker = JobWorker::build(&stack.template_environment("job-worker"), &aws)
        .await
        .unwrap();
    let (a, b) = (
        stored_job(&store, &UserId::new()).await,
        stored_job(&store, &UserId::new()).await,
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
    let c = stored_job(&store, &UserId::new()).await;
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
        let outcome = event_sources::deliver_one_batch(aws.sqs(), &mapping, 1)
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
    let created = api.create_job(&token, &export());
    assert_eq!(created.status, 202, "{}", created.body);
    let job_id = JobId::from(created.body["job_id"].as_str().unwrap());

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
        let outcome = event_sources::deliver_one_batch(aws.sqs(), &worker, 1)
            .await
            .unwrap();
        assert_eq!(outcome.deleted, 0, "a failing job's message was deleted");
        deliveries += outcome.received;
        dead = event_sources::deliver_one_batch(aws.sqs(), &failures, 0)
            .await
            .unwrap()
            .deleted;
    }
    assert_eq!(deliveries as u64, max_receive_count);
    let failed = Api::new().get_job(&token, &job_id);
    assert_eq!(failed.body["status"], "failed", "{}", failed.body);
    assert_eq!(failed.body["attempts"], max_receive_count);
    let error = failed.body["error"].as_str().unwrap();
    assert!(error.contains("after 5 attempts"), "{error}");
    assert!(error.contains("S3.PutObject was unavailable"), "{error}");
    assert!(failed.body.get("result").is_none());

    // A dead letter for a finished job changes nothing.
    let store = job_store(&stack, &aws);
    let user = UserId::from(api.user_id(&token));
    let handler = JobFailures::build(&stack.template_environment("job-failures"), &aws)
        .await
        .unwrap();
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
    let user = UserId::from(api.user_id(&token));
    let created = api.create_job(&token, &export());
    assert_eq!(created.status, 202, "{}", created.body);
    let job_id = JobId::from(created.body["job_id"].as_str().unwrap());

    let doomed_worker = Mapping::to_instance(&queue, "job-worker", &doomed.api_url);
    let sqs = aws.sqs().clone();
    let in_flight =
        tokio::spawn(
            async move { event_sources::deliver_one_batch(&sqs, &doomed_worker, 5).await },
        );
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
        event_sources::deliver_one_batch(aws.sqs(), &healthy, 1)
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
    assert!(text.contains(user.as_str()));
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
    let left = event_sources::deliver_one_batch(aws.sqs(), &healthy, 3)
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
    let user = UserId::from(api.user_id(&token));

    // Without a key: 503, and no job is left behind.
    let unkeyed = broken_api.create_job(&token, &export());
    assert_eq!(unkeyed.status, 503, "{}", unkeyed.body);
    assert!(unkeyed.header("retry-after").is_some());
    assert!(store.all(&user, Timestamp::now()).await.unwrap().is_empty());

    // With a key: 503, the job stays, marked unsent...
    let key = format!("send-{}", shared::ids::new_id());
    let failed = broken_api.create_job_with_key(&token, &key, &export());
    assert_eq!(failed.status, 503, "{}", failed.body);
    let kept = store.all(&user, Timestamp::now()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].unsent);
    assert_eq!(kept[0].status, JobStatus::Queued);

    // ...and the retry is the same job, sent this time, and it runs.
    let retried = api.create_job_with_key(&token, &key, &export());
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
    let user = UserId::from(api.user_id(&token));
    // A job whose route died between the record and the message.
    let job = JobRecord::queued(
        &user,
        &JobId::new(),
        JobKind::Export,
        Timestamp(Timestamp::now().0 - 120),
    );
    assert!(store.create(&job).await.unwrap());
    let fresh = JobRecord::queued(&user, &JobId::new(), JobKind::Export, Timestamp::now());
    assert!(store.create(&fresh).await.unwrap());

    let sweep = JobSweeper::build(&stack.template_environment("job-sweeper"), &aws)
        .await
        .unwrap();
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

/// The stores an export reads, over the stack's tables.
struct ExportTables {
    users: UserStore,
    sessions: SessionStore,
    uploads: UploadStore,
    jobs: JobStore,
    bucket: String,
}

fn export_tables(stack: &StackInfo, aws: &shared::aws::AwsClients) -> ExportTables {
    let env = stack.template_environment("job-worker");
    let table = |name: &'static str| env.require(name).unwrap().to_string();
    let client = aws.dynamodb().clone();
    ExportTables {
        users: UserStore::new(client.clone(), table("USERS_TABLE")),
        sessions: SessionStore::new(
            client.clone(),
            table("SESSIONS_TABLE"),
            table("REVOKED_TOKENS_TABLE"),
        ),
        uploads: UploadStore::new(client.clone(), table("UPLOADS_TABLE")),
        jobs: JobStore::new(client, table("JOBS_TABLE")),
        bucket: table("EXPORTS_BUCKET"),
    }
}

/// A user written straight to the users table, created at `created_at`.
async fn stored_user(users: &UserStore, created_at: Timestamp) -> UserProfile {
    let user_id = UserId::new();
    let email = Email::parse(&format!("export-{}@example.com", user_id.to_lowercase())).unwrap();
    let profile = UserProfile {
        user_id,
        email: email.as_str().to_string(),
        name: Some("Ada".into()),
        created_at,
    };
    users.create(&profile, &email, "not-a-hash").await.unwrap();
    profile
}

/// An upload of `user_id`, ready, as the store writes it.
fn ready_upload(user_id: &str, upload_id: &str, filename: &str, created_at: u64) -> UploadRecord {
    UploadRecord {
        user_id: user_id.into(),
        upload_id: upload_id.into(),
        filename: filename.into(),
        content_type: "text/plain".into(),
        size: 5,
        status: UploadStatus::Ready,
        created_at: Timestamp(created_at),
        expires_at: None,
    }
}

/// A job of `user_id` given up after five attempts with `error`.
fn failed_job(user_id: &str, job_id: &str, error: &str, created_at: u64) -> JobRecord {
    let (user_id, job_id) = (UserId::from(user_id), JobId::from(job_id));
    let mut record = JobRecord::queued(&user_id, &job_id, JobKind::Export, Timestamp(created_at));
    record.status = JobStatus::Failed;
    record.attempts = 5;
    record.updated_at = Timestamp(created_at + 100);
    record.error = Some(error.into());
    record.unsent = false;
    record.expires_at = Some(Timestamp::now().plus(3600));
    record
}

/// A job of `user_id` with the id `job_id`, queued and already "sent" (only
/// the test runs it).
async fn stored_job_with_id(store: &JobStore, user_id: &str, job_id: &str) -> JobRecord {
    let (user_id, job_id) = (UserId::from(user_id), JobId::from(job_id));
    let mut record =
        JobRecord::queued(&user_id, &job_id, JobKind::Export, Timestamp(1_700_000_500));
    record.unsent = false;
    assert!(store.create(&record).await.unwrap());
    record
}

/// Writes every record with `create`, eight writers at once.
async fn create_all<S, T, F, Fut>(store: &S, records: Vec<T>, create: F)
where
    S: Clone + Send + 'static,
    T: Send + 'static,
    F: Fn(S, T) -> Fut + Copy + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per_writer = records.len().div_ceil(8).max(1);
    let mut writers = tokio::task::JoinSet::new();
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let chunk: Vec<T> = records.by_ref().take(per_writer).collect();
        let store = store.clone();
        writers.spawn(async move {
            for record in chunk {
                create(store.clone(), record).await;
            }
        });
    }
    writers.join_all().await;
}

async fn export_text(aws: &shared::aws::AwsClients, bucket: &str, key: &str) -> String {
    let object = aws
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn an_export_document_has_exactly_the_shape_of_format_v1() {
    let (stack, aws) = stack().await;
    let tables = export_tables(&stack, &aws);
    let profile = stored_user(&tables.users, Timestamp(1_700_000_000)).await;
    let user = profile.user_id.as_str();
    let session_ends = Timestamp::now().plus(3600);
    tables
        .sessions
        .create(&SessionRecord {
            user_id: user.into(),
            session_id: "session-1".into(),
            created_at: Timestamp(1_700_000_010),
            last_seen_at: Timestamp(1_700_000_020),
            user_agent: "curl/8.5".into(),
            ip: "192.0.2.1".into(),
            refresh_nonce: "nonce".into(),
            refresh_generation: 0,
            rotated_at: None,
            idle_expires_at: session_ends,
            expires_at: session_ends.plus(3600),
        })
        .await
        .unwrap();
    tables
        .uploads
        .create(&ready_upload(
            user,
            "upload-1",
            "notes \"q\".txt",
            1_700_000_200,
        ))
        .await
        .unwrap();
    let earlier = failed_job(user, "job-1", "S3.PutObject was unavailable", 1_700_000_300);
    assert!(tables.jobs.create(&earlier).await.unwrap());
    let job = stored_job_with_id(&tables.jobs, user, "job-2").await;

    let worker = JobWorker::build(&stack.template_environment("job-worker"), &aws)
        .await
        .unwrap();
    let lease = Timestamp::now().plus(60);
    let outcome = worker.run(&JobMessage::from(&job), lease).await.unwrap();
    assert_eq!(outcome, Outcome::Succeeded);
    let text = export_text(
        &aws,
        &tables.bucket,
        &export_key(&user.into(), &"job-2".into()),
    )
    .await;
    let document: Value = serde_json::from_str(&text).unwrap();
    // The two times only the run itself decides: when it exported, and when
    // it claimed the job it is part of.
    let exported_at = document["exported_at"].as_str().unwrap();
    let claimed_at = document["jobs"][1]["updated_at"].as_str().unwrap();
    let at = |seconds: u64| Timestamp(seconds).rfc3339();
    let expected = format!(
        r#"{{
  "format": "stateless-lambda.export.v1",
  "exported_at": "{exported_at}",
  "user_id": "{user}",
  "profile": {{
    "user_id": "{user}",
    "email": "{email}",
    "name": "Ada",
    "created_at": "{profile_created}"
  }},
  "sessions": [
    {{
      "session_id": "session-1",
      "created_at": "{session_created}",
      "last_seen_at": "{session_seen}",
      "expires_at": "{session_ends}",
      "user_agent": "curl/8.5",
      "ip": "192.0.2.1"
    }}
  ],
  "cart": {{
    "items": [],
    "version": 0
  }},
  "uploads": [
    {{
      "upload_id": "upload-1",
      "filename": "notes \"q\".txt",
      "content_type": "text/plain",
      "size": 5,
      "status": "ready",
      "created_at": "{upload_created}"
    }}
  ],
  "jobs": [
    {{
      "job_id": "job-1",
      "type": "export",
      "status": "failed",
      "attempts": 5,
      "created_at": "{earlier_created}",
      "updated_at": "{earlier_updated}",
      "error": "S3.PutObject was unavailable"
    }},
    {{
      "job_id": "job-2",
      "type": "export",
      "status": "running",
      "attempts": 1,
      "created_at": "{job_created}",
      "updated_at": "{claimed_at}"
    }}
  ]
}}"#,
        email = profile.email,
        profile_created = at(1_700_000_000),
        session_created = at(1_700_000_010),
        session_seen = at(1_700_000_020),
        session_ends = session_ends.rfc3339(),
        upload_created = at(1_700_000_200),
        earlier_created = at(1_700_000_300),
        earlier_updated = at(1_700_000_400),
        job_created = at(1_700_000_500),
    );
    assert_eq!(text, expected);
}

/// The peak resident memory (KiB) of a fresh `job-worker` process that ran
/// `job`; its batch must answer without failures.
async fn worker_process_peak_kib(stack: &StackInfo, job: &JobRecord, run: &str) -> u64 {
    let function = Function {
        name: "job-worker".into(),
        binary: xtask::workspace_root().join("target/debug/job-worker"),
        args: Vec::new(),
        env: stack.environment_of("job-worker"),
    };
    let parent = stack.logs_dir.join("export-memory");
    let sandbox = Sandbox::create(&parent, run, sandbox_user(&[&function.binary])).unwrap();
    let event = serde_json::to_vec(&batch(vec![sqs_message(run, &job_body(job))])).unwrap();
    let served = function
        .serve(
            &sandbox,
            vec![event],
            Duration::from_secs(60),
            &parent.join("job-worker.log"),
        )
        .await
        .unwrap();
    let [
        Answered {
            answer: Answer::Response(payload),
            ..
        },
    ] = served.answers.as_slice()
    else {
        panic!("{run}: {:?}", served.answers);
    };
    let answer: Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{run}");
    served.peak_rss_kib.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_export_is_sent_in_parts_in_bounded_memory_and_a_failed_one_leaves_none() {
    const UPLOADS: usize = 3000;
    const EARLIER_JOBS: usize = 2000;
    let log = CallLog::default();
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients_logged(&log).await;
    let tables = export_tables(&stack, &aws);
    let user = stored_user(&tables.users, Timestamp(1_700_000_000))
        .await
        .user_id;
    // Names of 250 characters and errors of 4,500: about 11 MB in all.
    let uploads: Vec<UploadRecord> = (0..UPLOADS)
        .map(|i| {
            let name = format!("{i:05}-{}.txt", "é".repeat(240));
            ready_upload(&user, &format!("up-{i:05}"), &name, 1_700_000_000)
        })
        .collect();
    create_all(
        &tables.uploads,
        uploads,
        |store: UploadStore, record| async move {
            store.create(&record).await.unwrap();
        },
    )
    .await;
    let error = "e".repeat(4500);
    let jobs: Vec<JobRecord> = (0..EARLIER_JOBS)
        .map(|i| failed_job(&user, &format!("job-{i:05}"), &error, 1_700_000_000))
        .collect();
    create_all(&tables.jobs, jobs, |store: JobStore, record| async move {
        assert!(store.create(&record).await.unwrap());
    })
    .await;
    // A job item the export cannot read, after everything else: the export
    // fails with megabytes already sent.
    let env = stack.template_environment("job-worker");
    let jobs_table = env.require("JOBS_TABLE").unwrap();
    aws.dynamodb()
        .put_item()
        .table_name(jobs_table)
        .item("user_id", AttributeValue::S(user.to_string()))
        .item("job_id", AttributeValue::S("job-99999".into()))
        .item("type", AttributeValue::S("export".into()))
        .send()
        .await
        .unwrap();
    let job = stored_job_with_id(
        &tables.jobs,
        &user,
        &format!("run-{}", shared::ids::new_id()),
    )
    .await;
    let key = export_key(&user, &job.job_id);

    // Midway failure: the upload is aborted and the job goes back to the queue.
    let worker = JobWorker::build(&env, &aws).await.unwrap();
    log.take();
    let failed = worker
        .run(&JobMessage::from(&job), Timestamp::now().plus(60))
        .await;
    assert!(
        matches!(&failed, Err(JobError::Store(e)) if e.operation == "DynamoDB.Query"),
        "{failed:?}"
    );
    let calls = log.take();
    let count = |call: &str| calls.iter().filter(|c| *c == call).count();
    assert_eq!(count("S3.CreateMultipartUpload"), 1, "{calls:?}");
    assert!(count("S3.UploadPart") >= 1, "{calls:?}");
    assert_eq!(count("S3.AbortMultipartUpload"), 1, "{calls:?}");
    assert_eq!(
        count("S3.CompleteMultipartUpload") + count("S3.PutObject"),
        0
    );
    let open = aws
        .s3()
        .list_multipart_uploads()
        .bucket(&tables.bucket)
        .prefix(format!("users/{user}/"))
        .send()
        .await
        .unwrap();
    assert!(open.uploads().is_empty(), "parts left behind: {open:?}");
    let objects = aws
        .s3()
        .list_objects_v2()
        .bucket(&tables.bucket)
        .prefix(format!("users/{user}/"))
        .send()
        .await
        .unwrap();
    assert!(objects.contents().is_empty());
    let released = tables
        .jobs
        .get(&user, &job.job_id, Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.status, JobStatus::Queued);
    assert_eq!(released.attempts, 1);
    assert_eq!(
        released.last_error.as_deref(),
        Some("DynamoDB.Query was unavailable")
    );

    // The retry, by the job-worker binary itself, once the item is mended.
    aws.dynamodb()
        .delete_item()
        .table_name(jobs_table)
        .key("user_id", AttributeValue::S(user.to_string()))
        .key("job_id", AttributeValue::S("job-99999".into()))
        .send()
        .await
        .unwrap();
    let big_peak = worker_process_peak_kib(&stack, &job, "large").await;
    let done = tables
        .jobs
        .get(&user, &job.job_id, Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.attempts, 2);
    let head = aws
        .s3()
        .head_object()
        .bucket(&tables.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let etag = head.e_tag().unwrap();
    let parts: usize = etag
        .trim_matches('"')
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1);
    let text = export_text(&aws, &tables.bucket, &key).await;
    let size = text.len();
    assert!(size > 2 * PART_BYTES, "{size} bytes");
    assert_eq!(
        parts,
        size.div_ceil(PART_BYTES),
        "etag {etag}, {size} bytes"
    );
    let document: Value = serde_json::from_str(&text).unwrap();
    let uploads = document["uploads"].as_array().unwrap();
    assert_eq!(uploads.len(), UPLOADS);
    for (i, upload) in uploads.iter().enumerate() {
        assert_eq!(upload["upload_id"], format!("up-{i:05}"));
        assert!(
            upload["filename"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{i:05}-é"))
        );
    }
    let jobs = document["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), EARLIER_JOBS + 1);
    for (i, earlier) in jobs[..EARLIER_JOBS].iter().enumerate() {
        assert_eq!(earlier["job_id"], format!("job-{i:05}"));
        assert_eq!(earlier["error"].as_str().unwrap().len(), 4500);
    }
    assert_eq!(jobs[EARLIER_JOBS]["job_id"], job.job_id.as_str());

    // The same binary exporting a user who has nothing: what the large
    // export costs beyond it is about one part, not the document.
    let small_user = stored_user(&tables.users, Timestamp(1_700_000_000))
        .await
        .user_id;
    let small = stored_job_with_id(&tables.jobs, &small_user, "run-small").await;
    let small_peak = worker_process_peak_kib(&stack, &small, "small").await;
    let growth = big_peak.saturating_sub(small_peak) * 1024;
    println!(
        "export of {size} bytes in {parts} parts: peak RSS {big_peak} KiB, \
         {small_peak} KiB for an empty export, {growth} bytes more"
    );
    assert!(
        growth < 2 * PART_BYTES as u64,
        "the worker grew by {growth} bytes for a document of {size}"
    );
}
