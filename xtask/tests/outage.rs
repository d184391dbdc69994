//! A store outage mid-load. The functions of an instance of their own keep
//! their tables in a DynamoDB Local of the test's own (on disk), which stops
//! for a few seconds while users write, and comes back with what it held.
//! Requests get 503 with `Retry-After` (never 401: an outage logs nobody
//! out; never 500), none gets a 2xx for a write that did not happen, and
//! once it is back nothing is half-written: every session, cart, job and
//! account is whole. A store that hangs instead of refusing gets 503 too,
//! in time, rather than holding the request until Lambda's timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::load::{Writes, check_nothing_acknowledged_was_lost, writer};
use support::{Api, PASSWORD, private_queue, queue_mapping, unique_email};
use xtask::dynamodb::PrivateDynamoDb;
use xtask::pump;
use xtask::stack::{Instance, StackInfo};

const USERS: usize = 3;
/// How long the store is down.
const OUTAGE: Duration = Duration::from_secs(4);

/// Registers new accounts one after another until `stop`: (email, status).
fn registrar(api: &Api, stop: &AtomicBool) -> Vec<(String, u16)> {
    let mut seen = Vec::new();
    while !stop.load(Ordering::SeqCst) && seen.len() < 200 {
        let email = unique_email();
        let body = json!({"email": email, "password": PASSWORD}).to_string();
        let status = api
            .try_send("POST", "/auth/register", None, &[], Some(&body))
            .map_or(0, |reply| reply.status);
        seen.push((email, status));
        std::thread::sleep(Duration::from_millis(100));
    }
    seen
}

/// An account the load tried to make is whole or absent: it was answered
/// 201 and can log in; or it was refused and either can log in (the write
/// happened, its answer did not) or its email is free to register again.
fn check_account(api: &Api, email: &str, status: u16) {
    // Register and login take the same body.
    let credentials = json!({"email": email, "password": PASSWORD}).to_string();
    let logged_in = api.send("POST", "/auth/login", None, &[], Some(&credentials));
    match (status, logged_in.status) {
        (201, 200) | (503, 200) => {}
        (503, 401) => {
            let again = api.send("POST", "/auth/register", None, &[], Some(&credentials));
            assert_eq!(
                again.status, 201,
                "{email}: half-registered: {}",
                again.body
            );
        }
        other => panic!("{email}: register answered {status}, then login {other:?}"),
    }
}

#[test]
fn a_store_outage_mid_load_answers_503_and_leaves_nothing_half_written() {
    let stack = StackInfo::from_env().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut store = runtime
        .block_on(PrivateDynamoDb::start(&stack, "outage-store"))
        .unwrap();
    // Its jobs go to a queue of the test's own, played to its own worker.
    let aws = runtime.block_on(stack.aws_clients());
    let queue = runtime.block_on(private_queue(&aws.sqs, "jobs-outage", 2, None));
    let instance = Instance::start(
        &stack,
        "outage",
        &[
            store.endpoint_override(),
            ("JOBS_QUEUE_URL", &queue.0),
            ("REQUESTS_PER_USER_PER_MINUTE", "1000000"),
        ],
    )
    .unwrap();
    let api = Api::at(&instance.api_url);
    let worker = queue_mapping(&queue, "job-worker", &instance.api_url);
    let pumping = Arc::new(AtomicBool::new(true));
    let pump = {
        let (sqs, pumping) = (aws.sqs.clone(), pumping.clone());
        runtime.spawn(async move {
            while pumping.load(Ordering::SeqCst) {
                if pump::deliver_one_batch(&sqs, &worker, 1).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
    };

    let users: Vec<(String, String)> = (0..USERS).map(|_| api.new_user()).collect();
    for (_, token) in &users {
        assert_eq!(api.send("GET", "/cart", Some(token), &[], None).status, 200);
    }

    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (results, registrations, recovered_after): (Vec<Writes>, Vec<(String, u16)>, Duration) =
        std::thread::scope(|scope| {
            let writers: Vec<_> = users
                .iter()
                .enumerate()
                .map(|(user, (_, token))| {
                    let (api, stop) = (&api, &stop);
                    scope.spawn(move || writer([api, api], token, user, 2000, stop))
                })
                .collect();
            let registrar = scope.spawn(|| registrar(&api, &stop));
            std::thread::sleep(Duration::from_millis(1500));
            store.stop();
            std::thread::sleep(OUTAGE);
            store.restart().unwrap();
            let recovered_after = started.elapsed();
            // The load goes on a while against the store that came back.
            std::thread::sleep(Duration::from_secs(3));
            stop.store(true, Ordering::SeqCst);
            let results = writers.into_iter().map(|h| h.join().unwrap()).collect();
            (results, registrar.join().unwrap(), recovered_after)
        });

    let mut statuses = BTreeSet::new();
    for writes in &results {
        statuses.extend(writes.statuses.keys().copied());
        assert_eq!(writes.unavailable_without_retry_after, 0, "{writes:?}");
    }
    statuses.extend(registrations.iter().map(|(_, status)| *status));
    // 412: a write whose answer the outage swallowed, retried by the SDK
    // after it had landed: the cart moved on, and the writer reads it again.
    let allowed = BTreeSet::from([200, 201, 202, 412, 503]);
    assert!(statuses.is_subset(&allowed), "answers: {statuses:?}");
    assert!(
        statuses.contains(&503),
        "the outage came after the load ({results:?})"
    );
    assert!(
        results.iter().all(|w| w.acknowledged > 0),
        "some writer never got through: {results:?} (recovered after {recovered_after:?})"
    );

    for ((_, token), writes) in users.iter().zip(&results) {
        check_nothing_acknowledged_was_lost(&api, token, writes);
    }
    for (email, status) in &registrations {
        check_account(&api, email, *status);
    }

    // A store that hangs: the request is answered 503 within the SDK's
    // timeouts, not held until the function's own (10 s in the template).
    let (_, token) = &users[0];
    store.pause().unwrap();
    let asked = Instant::now();
    let hung = api.try_send("GET", "/me", Some(token), &[], None);
    let waited = asked.elapsed();
    store.resume().unwrap();
    let hung = hung.unwrap();
    assert_eq!(hung.status, 503, "{}", hung.body);
    assert!(hung.header("retry-after").is_some());
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
    assert_eq!(api.send("GET", "/me", Some(token), &[], None).status, 200);

    pumping.store(false, Ordering::SeqCst);
    runtime.block_on(pump).unwrap();
}
