//! A steady, bounded load of cart writes and keyed jobs, and the audit that
//! finds anything it was told succeeded and that is gone: shared by the kill
//! and outage scenarios.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::Tally;
use crate::client::{Client, Reply, poll};

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
    /// Answers that contradict the request (a 200 with another version).
    pub contradictions: Vec<String>,
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

    /// Requests that got no answer, or a 5xx.
    pub fn unanswered_or_5xx(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| failed(**status))
            .map(|(_, count)| u64::from(*count))
            .sum()
    }
}

/// A status that counts as a failure: no answer (0), or a 5xx.
pub fn failed(status: u16) -> bool {
    status == 0 || status >= 500
}

/// What a load thread came to; one that panicked is a problem in `tally`
/// (and an empty result), never an empty result alone.
pub fn joined<T: Default>(handle: ScopedJoinHandle<'_, T>, what: &str, tally: &mut Tally) -> T {
    handle.join().unwrap_or_else(|_| {
        tally.problem(format!("{what} panicked"));
        T::default()
    })
}

/// One user's load over `apis`, taken in turn, until `count` requests were
/// made or `stop` is set: cart writes from the last known ETag, a keyed job
/// every fifth request.
pub fn writer(
    apis: [&Client; 2],
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
            match answer.map(|reply| (reply.status, reply.text("job_id"))) {
                Ok((202, Ok(job_id))) => {
                    writes.jobs.insert(key, job_id);
                }
                Ok((202, Err(error))) => writes.contradictions.push(format!("{error:#}")),
                _ => {
                    writes.unanswered_jobs.push(key);
                    writes.failures += 1;
                }
            }
            continue;
        }
        let sku = crate::client::SEEDED_SKUS[(user + i) % crate::client::SEEDED_SKUS.len()];
        let items = json!({"items": [{"sku": sku, "quantity": i + 1}]});
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
                if reply.body["version"] != version {
                    writes.contradictions.push(format!(
                        "PUT /cart from version {} answered {}",
                        version - 1,
                        reply.body
                    ));
                }
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
pub fn retry_job(api: &Client, token: &str, key: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let export = json!({"type": "export"});
        let reply = api.call(
            "POST",
            "/jobs",
            Some(token),
            &[("idempotency-key", key)],
            Some(&export),
        )?;
        if reply.status == 202 {
            return reply.text("job_id");
        }
        if !matches!(reply.status, 409 | 503) || Instant::now() >= deadline {
            bail!("job {key} asked again: {} {}", reply.status, reply.body);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// After the load, into `tally`: the session is intact, the cart holds the
/// last acknowledged write (or a later one whose answer was lost, never an
/// older one), and every job key, retried where it got no answer, made
/// exactly one job, which succeeds. An error: the audit could not finish.
pub fn audit(api: &Client, token: &str, writes: &Writes, tally: &mut Tally) -> Result<()> {
    for contradiction in &writes.contradictions {
        tally.problem(contradiction.clone());
    }
    let me = api.call("GET", "/me", Some(token), &[], None)?;
    if me.status != 200 {
        tally.lost(format!("the session: GET /me {} {}", me.status, me.body));
    }

    let cart = api.call("GET", "/cart", Some(token), &[], None)?;
    let Some(version) = cart.body["version"].as_u64() else {
        bail!("GET /cart: {} {}", cart.status, cart.body);
    };
    if version < writes.acknowledged {
        for lost in version + 1..=writes.acknowledged {
            tally.lost(format!("cart version {lost} (the cart is at {version})"));
        }
    } else if version > 0
        && writes.attempted.get(&version).map(|w| &w["items"])
            != Some(&crate::client::cart_lines(&cart.body["items"]))
    {
        tally.lost(format!(
            "cart version {version} holds {}, written were {:?}",
            cart.body["items"],
            writes.attempted.get(&version)
        ));
    }

    let mut job_ids: Vec<String> = writes.jobs.values().cloned().collect();
    for key in &writes.unanswered_jobs {
        job_ids.push(retry_job(api, token, key)?);
    }
    let listed = api.call("GET", "/jobs?limit=100", Some(token), &[], None)?;
    let Some(jobs) = listed.body["jobs"].as_array() else {
        bail!("GET /jobs: {} {}", listed.status, listed.body);
    };
    for job_id in &job_ids {
        if !jobs.iter().any(|j| j["job_id"] == job_id.as_str()) {
            tally.lost(format!("job {job_id}"));
        }
    }
    if jobs.len() > job_ids.len() {
        tally.problem(format!(
            "{} jobs for {} keys: {jobs:?}",
            jobs.len(),
            job_ids.len()
        ));
    }
    for job in jobs {
        let path = format!("/jobs/{}", job["job_id"].as_str().unwrap_or_default());
        let done = poll(
            &path,
            Duration::from_secs(120),
            || api.call("GET", &path, Some(token), &[], None),
            |j| j["status"] == "succeeded" || j["status"] == "failed",
        )?;
        if done["status"] != "succeeded" {
            tally.problem(format!("{path} ended {done}"));
        }
    }
    Ok(())
}
