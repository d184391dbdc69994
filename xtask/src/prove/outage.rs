//! A store outage mid-load. The functions of an instance of their own keep
//! their tables in a DynamoDB Local of their own (on disk), which stops for
//! a few seconds while users write and comes back with what it held.
//! Requests get 503 with `Retry-After` (never 401: an outage logs nobody
//! out; never 500), none gets a 2xx for a write that did not happen, and
//! once it is back nothing is half-written: every session, cart, job and
//! account is whole. A store that hangs instead of refusing gets 503 too,
//! in time, rather than holding the request until Lambda's timeout.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use super::Tally;
use super::load::{Writes, audit, failed, joined, writer};
use crate::client::{Client, PASSWORD, unique_email};
use crate::dynamodb::PrivateDynamoDb;
use crate::event_sources::{self, Mapping};
use crate::stack::{Instance, StackInfo};

const USERS: usize = 3;
/// How long the store is down.
const OUTAGE: Duration = Duration::from_secs(4);

/// Registers new accounts one after another until `stop`: (email, status).
fn registrar(api: &Client, stop: &AtomicBool) -> Vec<(String, u16)> {
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
fn check_account(api: &Client, email: &str, status: u16, tally: &mut Tally) -> Result<()> {
    // Register and login take the same body.
    let credentials = json!({"email": email, "password": PASSWORD});
    let logged_in = api.call("POST", "/auth/login", None, &[], Some(&credentials))?;
    match (status, logged_in.status) {
        (201, 200) | (503, 200) => {}
        (503, 401) => {
            let again = api.call("POST", "/auth/register", None, &[], Some(&credentials))?;
            if again.status != 201 {
                tally.problem(format!(
                    "{email} is half-registered: register again answered {} {}",
                    again.status, again.body
                ));
            }
        }
        (201, _) => tally.lost(format!(
            "the account {email}: login answered {}",
            logged_in.status
        )),
        other => tally.problem(format!(
            "{email}: register answered {status}, then login {other:?}"
        )),
    }
    Ok(())
}

/// The outage, then a hung store, against an instance of its own.
pub fn run(stack: &StackInfo) -> Result<Tally> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut store = runtime.block_on(PrivateDynamoDb::start(stack, "outage-store"))?;
    // Its jobs go to a queue of its own, played to its own worker.
    let aws = runtime.block_on(stack.aws_clients());
    let queue = runtime.block_on(event_sources::private_queue(
        aws.sqs(),
        "jobs-outage",
        2,
        None,
    ))?;
    let instance = Instance::start(
        stack,
        "outage",
        &[
            store.endpoint_override(),
            ("JOBS_QUEUE_URL", &queue.0),
            ("REQUESTS_PER_USER_PER_MINUTE", "1000000"),
        ],
    )?;
    let api = Client::at(&instance.api_url);
    let worker = Mapping::to_instance(&queue, "job-worker", &instance.api_url);
    let pumping = Arc::new(AtomicBool::new(true));
    let pump = {
        let (sqs, pumping) = (aws.sqs().clone(), pumping.clone());
        runtime.spawn(async move {
            while pumping.load(Ordering::SeqCst) {
                if event_sources::deliver_one_batch(&sqs, &worker, 1)
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
    };
    let mut tally = Tally::new("a store outage mid-load", 1);
    let outcome = outage_and_hang(&api, &mut store, &mut tally);
    pumping.store(false, Ordering::SeqCst);
    let _ = runtime.block_on(pump);
    outcome?;
    tally.requests += api.requests();
    Ok(tally)
}

fn outage_and_hang(api: &Client, store: &mut PrivateDynamoDb, tally: &mut Tally) -> Result<()> {
    let mut users = Vec::new();
    for _ in 0..USERS {
        let (_, token) = api.register_and_login()?;
        api.call("GET", "/cart", Some(&token), &[], None)?;
        users.push(token);
    }

    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (results, registrations, restarted) = std::thread::scope(|scope| {
        let writers: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(user, token)| {
                let stop = &stop;
                scope.spawn(move || writer([api, api], token, user, 2000, stop))
            })
            .collect();
        let registrar = scope.spawn(|| registrar(api, &stop));
        std::thread::sleep(Duration::from_millis(1500));
        store.stop();
        std::thread::sleep(OUTAGE);
        let restarted = store.restart().map(|()| started.elapsed());
        // The load goes on a while against the store that came back.
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, Ordering::SeqCst);
        let results: Vec<Writes> = writers
            .into_iter()
            .map(|h| joined(h, "a writer", tally))
            .collect();
        let registrations: Vec<(String, u16)> = joined(registrar, "the registrar", tally);
        (results, registrations, restarted)
    });
    let recovered_after = restarted?;
    tally.outages += 1;

    let mut statuses = BTreeSet::new();
    for writes in &results {
        statuses.extend(writes.statuses.keys().copied());
        tally.failures += writes.unanswered_or_5xx();
        if writes.unavailable_without_retry_after > 0 {
            tally.problem(format!(
                "{} answers 503 without Retry-After",
                writes.unavailable_without_retry_after
            ));
        }
    }
    statuses.extend(registrations.iter().map(|(_, status)| *status));
    tally.failures += registrations
        .iter()
        .filter(|(_, status)| failed(*status))
        .count() as u64;
    // 412: a write whose answer the outage swallowed, retried by the SDK
    // after it had landed: the cart moved on, and the writer reads it again.
    let allowed = BTreeSet::from([200, 201, 202, 412, 503]);
    if !statuses.is_subset(&allowed) {
        tally.problem(format!("answers outside {allowed:?}: {statuses:?}"));
    }
    if !statuses.contains(&503) {
        tally.problem(format!("the outage came after the load ({results:?})"));
    }
    if results.iter().any(|w| w.acknowledged == 0) {
        tally.problem(format!(
            "some writer never got through (the store was back after {recovered_after:?})"
        ));
    }
    for (token, writes) in users.iter().zip(&results) {
        audit(api, token, writes, tally)?;
    }
    for (email, status) in &registrations {
        check_account(api, email, *status, tally)?;
    }

    // A store that hangs: the request is answered 503 within the SDK's
    // timeouts, not held until the function's own (10 s in the template).
    let token = &users[0];
    store.pause()?;
    let asked = Instant::now();
    let hung = api.call("GET", "/me", Some(token), &[], None);
    let waited = asked.elapsed();
    store.resume()?;
    tally.outages += 1;
    match hung {
        Ok(reply) if reply.status == 503 && reply.header("retry-after").is_some() => {
            tally.failures += 1;
        }
        Ok(reply) => tally.problem(format!(
            "a hung store: {} {} (Retry-After {:?})",
            reply.status,
            reply.body,
            reply.header("retry-after")
        )),
        Err(error) => tally.problem(format!("a hung store: no answer: {error:#}")),
    }
    if waited >= Duration::from_secs(10) {
        tally.problem(format!("a hung store: answered after {waited:?}"));
    }
    let after = api.call("GET", "/me", Some(token), &[], None)?;
    if after.status != 200 {
        tally.lost(format!("the session after the hang: {}", after.status));
    }
    Ok(())
}
