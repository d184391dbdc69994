//! A steady, bounded load of cart writes and keyed jobs, and the checks that
//! nothing it was told succeeded was lost: shared by the kill and outage tests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Api, Reply, poll_until};

/// One writer's requests: what it asked for, what was acknowledged, and
/// every answer it got.
#[derive(Default, Debug)]
pub struct Writes {
    /// Version a write would make -> the items it wrote.
    pub attempted: BTreeMap<u64, Value>,
    /// The last version acknowledged with 200.
    pub acknowledged: u64,
    /// Jobs acknowledged with 202, by idempotency key.
    pub jobs: BTreeMap<String, String>,
    /// Keys of job requests that got no answer, or a refusal.
    pub unanswered_jobs: Vec<String>,
    /// Requests that got no answer or a refusal.
    pub failures: u32,
    /// How many answers of each status (0: no answer at all).
    pub statuses: BTreeMap<u16, u32>,
    /// 503 answers without a `Retry-After`.
    pub unavailable_without_retry_after: u32,
}

impl Writes {
    fn record(&mut self, answer: &Result<Reply, ureq::Error>) {
        let status = answer.as_ref().map_or(0, |reply| reply.status);
        *self.statuses.entry(status).or_default() += 1;
        if let Ok(reply) = answer
            && reply.status == 503
            && reply.header("retry-after").is_none()
        {
            self.unavailable_without_retry_after += 1;
        }
    }
}

/// One user's load over `apis`, taken in turn, until `count` requests were
/// made or `stop` is set: cart writes from the last known ETag, a keyed job
/// every fifth request.
pub fn writer(
    apis: [&Api; 2],
    token: &str,
    user: usize,
    count: usize,
    stop: &AtomicBool,
) -> Writes {
    let mut writes = Writes::default();
    let mut version = 0;
    for i in 0..count {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let api = apis[i % 2];
        if i % 5 == 4 {
            let key = format!("load-{user}-{i}");
            let answer = api.try_send(
                "POST",
                "/jobs",
                Some(token),
                &[("idempotency-key", key.as_str())],
                Some(r#"{"type":"export"}"#),
            );
            writes.record(&answer);
            match answer {
                Ok(reply) if reply.status == 202 => {
                    let job_id = reply.body["job_id"].as_str().unwrap().to_string();
                    writes.jobs.insert(key, job_id);
                }
                _ => {
                    writes.unanswered_jobs.push(key);
                    writes.failures += 1;
                }
            }
            continue;
        }
        let items = json!({"items": [{"sku": format!("SKU-{user}-{i}"), "quantity": i + 1}]});
        let if_match = format!("\"{version}\"");
        writes.attempted.insert(version + 1, items.clone());
        let answer = api.try_send(
            "PUT",
            "/cart",
            Some(token),
            &[("if-match", &if_match)],
            Some(&items.to_string()),
        );
        writes.record(&answer);
        match answer {
            Ok(reply) if reply.status == 200 => {
                version += 1;
                assert_eq!(reply.body["version"], version, "{}", reply.body);
                writes.acknowledged = version;
            }
            _ => {
                // No answer, or a refusal: find out where the cart stands.
                writes.failures += 1;
                let current = apis[(i + 1) % 2]
                    .try_send("GET", "/cart", Some(token), &[], None)
                    .or_else(|_| apis[i % 2].try_send("GET", "/cart", Some(token), &[], None));
                writes.record(&current);
                if let Ok(reply) = current
                    && reply.status == 200
                {
                    version = reply.body["version"].as_u64().unwrap_or(version);
                }
            }
        }
    }
    writes
}

/// Asks again for the job under `key` until it is answered (an attempt
/// that died holds the key until its deadline); the job's id.
pub fn retry_job(api: &Api, token: &str, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let reply = api.send(
            "POST",
            "/jobs",
            Some(token),
            &[("idempotency-key", key)],
            Some(r#"{"type":"export"}"#),
        );
        if reply.status == 202 {
            return reply.body["job_id"].as_str().unwrap().to_string();
        }
        assert!(
            matches!(reply.status, 409 | 503) && Instant::now() < deadline,
            "{}: {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// After the load: the session is intact, the cart holds the last
/// acknowledged write (or a later one whose answer was lost, never an older
/// one), and every job key, retried where it got no answer, made exactly one
/// job, which succeeds.
pub fn check_nothing_acknowledged_was_lost(api: &Api, token: &str, writes: &Writes) {
    let me = api.send("GET", "/me", Some(token), &[], None);
    assert_eq!(me.status, 200, "{}", me.body);

    let cart = api.send("GET", "/cart", Some(token), &[], None);
    let version = cart.body["version"].as_u64().unwrap();
    assert!(version >= writes.acknowledged, "{writes:?} {}", cart.body);
    if version > 0 {
        assert_eq!(
            cart.body["items"], writes.attempted[&version]["items"],
            "version {version}: {writes:?}"
        );
    }

    let mut job_ids: Vec<String> = writes.jobs.values().cloned().collect();
    for key in &writes.unanswered_jobs {
        job_ids.push(retry_job(api, token, key));
    }
    let listed = api.send("GET", "/jobs?limit=100", Some(token), &[], None);
    let jobs = listed.body["jobs"].as_array().unwrap().clone();
    for job_id in &job_ids {
        assert!(
            jobs.iter().any(|j| j["job_id"] == job_id.as_str()),
            "{job_id} lost"
        );
    }
    assert_eq!(jobs.len(), job_ids.len(), "{jobs:?}");
    for job in &jobs {
        let path = format!("/jobs/{}", job["job_id"].as_str().unwrap());
        let done = poll_until(
            &path,
            Duration::from_secs(120),
            || api.send("GET", &path, Some(token), &[], None),
            |j| j["status"] == "succeeded" || j["status"] == "failed",
        );
        assert_eq!(done["status"], "succeeded", "{done}");
    }
}
