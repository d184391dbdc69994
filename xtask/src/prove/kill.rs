//! An instance killed mid-traffic: requests in flight to it may fail, but
//! every session, cart and job stays correct and no acknowledged write is
//! lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Tally;
use super::load::{Writes, audit, joined, writer};
use crate::client::Client;
use crate::stack::{Instance, StackInfo};

const USERS: usize = 4;
const WRITES: usize = 40;

/// Two instances under load from four users; one is SIGKILLed 1.5 s in.
pub fn run(stack: &StackInfo) -> Result<Tally> {
    let survivor = Client::at(&stack.api_url);
    let victim_instance = Instance::start(stack, "victim", &[])?;
    let victim = Client::at(&victim_instance.api_url);
    let mut users = Vec::new();
    for _ in 0..USERS {
        users.push(survivor.register_and_login()?);
    }
    // Every function of the victim warm before the load starts.
    for (_, token) in &users {
        victim.call("GET", "/cart", Some(token), &[], None)?;
        victim.call("GET", "/me", Some(token), &[], None)?;
    }

    let mut tally = Tally::new("an instance killed mid-traffic", 2);
    tally.kills = 1;
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let results: Vec<Writes> = std::thread::scope(|scope| {
        let handles: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(user, (_, token))| {
                let (survivor, victim, stop) = (&survivor, &victim, &stop);
                scope.spawn(move || writer([survivor, victim], token, user, WRITES, stop))
            })
            .collect();
        // Kill the victim while the writers are busy.
        std::thread::sleep(Duration::from_millis(1500));
        victim_instance.kill();
        // The load is bounded in time as well as in count.
        let watchdog = scope.spawn(|| {
            while started.elapsed() < Duration::from_secs(90) && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
            }
            stop.store(true, Ordering::SeqCst);
        });
        let results = handles
            .into_iter()
            .map(|h| joined(h, "a writer", &mut tally))
            .collect();
        stop.store(true, Ordering::SeqCst);
        let _ = watchdog.join();
        results
    });

    for ((_, token), writes) in users.iter().zip(&results) {
        tally.failures += writes.unanswered_or_5xx();
        audit(&survivor, token, writes, &mut tally)?;
    }
    // The kill happened mid-traffic: some requests to the victim failed,
    // and most of the load still went through.
    let refused: u32 = results.iter().map(|w| w.failures).sum();
    if refused == 0 {
        tally.problem("the victim died after the load ended".into());
    }
    let acknowledged: u64 = results.iter().map(|w| w.acknowledged).sum();
    if acknowledged < (USERS * WRITES / 4) as u64 {
        tally.problem(format!(
            "only {acknowledged} cart writes went through: {results:?}"
        ));
    }
    tally.requests += survivor.requests() + victim.requests();
    Ok(tally)
}
