//! The claim of the project, as scenarios against a running local stack:
//! any instance serves any request, a fresh process serves every request as
//! well as a warm one, an instance may die mid-traffic and the store may go
//! away for a while, and no acknowledged write is lost. The tests
//! (`xtask/tests/devtool/stateless.rs`, `xtask/tests/outage.rs`) run each
//! scenario and fail on any problem it reports; `cargo xtask prove` runs
//! them all and prints the figures.

pub mod journey;
pub mod kill;
pub mod load;
pub mod outage;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::stack::StackInfo;

/// What one scenario did and found.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub scenario: String,
    /// HTTP requests sent to the API.
    pub requests: u64,
    /// Instances of the functions that served them (for a fresh process
    /// per request: the processes).
    pub instances: u64,
    /// Instances killed mid-traffic.
    pub kills: u64,
    /// Times the store went away (stopped, or hung).
    pub outages: u64,
    /// Requests that got no answer, or a 5xx.
    pub failures: u64,
    /// Acknowledged writes that were gone afterwards.
    pub lost_writes: u64,
    /// Properties that did not hold, lost writes among them, in words.
    pub problems: Vec<String>,
    pub took: Duration,
}

impl Tally {
    pub fn new(scenario: &str, instances: u64) -> Self {
        Self {
            scenario: scenario.to_string(),
            instances,
            ..Self::default()
        }
    }

    /// A property that did not hold.
    pub fn problem(&mut self, what: String) {
        self.problems.push(what);
    }

    /// An acknowledged write that is gone.
    pub fn lost(&mut self, what: String) {
        self.lost_writes += 1;
        self.problems.push(format!("lost: {what}"));
    }

    /// Every property held.
    pub fn check(&self) -> Result<()> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            bail!("{}: {}", self.scenario, self.problems.join("; "))
        }
    }
}

/// Every scenario in turn against the stack `info` describes. A scenario
/// that could not run is a tally with that problem.
pub fn run_all(stack: &StackInfo, mut progress: impl FnMut(&Tally)) -> Vec<Tally> {
    type Scenario = fn(&StackInfo) -> Result<Tally>;
    let scenarios: [(&str, Scenario); 5] = [
        ("journey, one instance", |s| Ok(journey::on_one_instance(s))),
        (
            "journey, two instances in turn",
            journey::on_two_instances_in_turn,
        ),
        (
            "journey, a fresh process per request",
            journey::with_a_fresh_process_per_request,
        ),
        ("an instance killed mid-traffic", kill::run),
        ("a store outage mid-load", outage::run),
    ];
    let mut tallies = Vec::new();
    for (name, scenario) in scenarios {
        let started = Instant::now();
        let mut tally = scenario(stack).unwrap_or_else(|error| {
            let mut tally = Tally::new(name, 0);
            tally.problem(format!("could not run: {error:#}"));
            tally
        });
        tally.took = started.elapsed();
        progress(&tally);
        tallies.push(tally);
    }
    tallies
}

/// The report: one row a scenario, the totals, and every problem.
pub fn render(tallies: &[Tally]) -> String {
    let mut total = Tally::new("total", 0);
    for tally in tallies {
        total.requests += tally.requests;
        total.instances += tally.instances;
        total.kills += tally.kills;
        total.outages += tally.outages;
        total.failures += tally.failures;
        total.lost_writes += tally.lost_writes;
        total.took += tally.took;
        total.problems.extend(tally.problems.iter().cloned());
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<38} {:>8} {:>9} {:>5} {:>7} {:>8} {:>11} {:>6}",
        "scenario", "requests", "instances", "kills", "outages", "failures", "lost writes", "took"
    );
    for tally in tallies.iter().chain([&total]) {
        if tally.scenario == "total" {
            let _ = writeln!(out, "{}", "-".repeat(99));
        }
        let _ = writeln!(
            out,
            "{:<38} {:>8} {:>9} {:>5} {:>7} {:>8} {:>11} {:>5}s",
            tally.scenario,
            tally.requests,
            tally.instances,
            tally.kills,
            tally.outages,
            tally.failures,
            tally.lost_writes,
            tally.took.as_secs()
        );
    }
    let _ = writeln!(out);
    if total.problems.is_empty() {
        let _ = writeln!(out, "lost writes: 0. Every property held.");
        let _ = writeln!(
            out,
            "Failures are requests in flight to the killed instance, or answered 503 with\n\
             Retry-After while the store was away; none lost or half-wrote an acknowledged write."
        );
    } else {
        let _ = writeln!(out, "lost writes: {}. Problems:", total.lost_writes);
        for problem in &total.problems {
            let _ = writeln!(out, "  - {problem}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_totals_the_scenarios_and_lists_every_problem() {
        let mut kill = Tally::new("kill", 2);
        kill.requests = 100;
        kill.kills = 1;
        kill.failures = 3;
        let mut outage = Tally::new("outage", 1);
        outage.requests = 50;
        outage.outages = 2;
        outage.lost("cart version 7".into());
        let report = render(&[kill.clone(), outage.clone()]);
        let total = report.lines().find(|l| l.starts_with("total")).unwrap();
        let figures: Vec<&str> = total.split_whitespace().collect();
        assert_eq!(figures[1..7], ["150", "3", "1", "2", "3", "1"]);
        assert!(report.contains("lost writes: 1. Problems:"), "{report}");
        assert!(report.contains("  - lost: cart version 7"), "{report}");
        assert!(outage.check().is_err());
        assert!(kill.check().is_ok());
        let clean = render(&[kill]);
        assert!(
            clean.contains("lost writes: 0. Every property held"),
            "{clean}"
        );
    }
}
