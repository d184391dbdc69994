//! The claim of the project, as tests: any instance serves any request, a
//! fresh process serves every request as well as a warm one, an instance
//! may die mid-traffic and nothing acknowledged is lost, and no function
//! writes outside its `/tmp` or leaves anything in it. The scenarios live in
//! `xtask::prove`, which `cargo xtask prove` runs too; each test here fails
//! on any problem its scenario reports.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use xtask::client::Client;
use xtask::fresh_process::FreshGateway;
use xtask::prove::journey::{self, RoundRobin};
use xtask::prove::load::{Writes, audit};
use xtask::prove::{Tally, kill};
use xtask::runtime_api::{Answer, Function, Sandbox, sandbox_user};
use xtask::stack::StackInfo;

fn stack() -> StackInfo {
    StackInfo::from_env().unwrap()
}

fn holds(tally: Tally) -> Tally {
    tally.check().unwrap();
    tally
}

#[test]
fn the_journey_on_one_instance() {
    holds(journey::on_one_instance(&stack()));
}

#[test]
fn the_journey_on_two_instances_taken_in_turn() {
    holds(journey::on_two_instances_in_turn(&stack()).unwrap());
}

#[test]
fn the_journey_with_a_fresh_process_for_every_request() {
    let tally = holds(journey::with_a_fresh_process_per_request(&stack()).unwrap());
    // Every request had a process of its own.
    assert_eq!(tally.instances, tally.requests, "{tally:?}");
}

/// The suite catches a function that keeps state in `/tmp`: `planted-me`
/// (built by `cargo xtask test` with a test-only feature) remembers valid
/// sessions in a file there and trusts it over the store.
#[test]
fn a_session_cache_planted_in_tmp_is_caught() {
    let planted = xtask::workspace_root().join("target/debug/planted-me");
    assert!(
        planted.exists(),
        "`cargo xtask test` builds {}",
        planted.display()
    );
    let gateway = FreshGateway::start_with(&stack(), &[("me", planted)]).unwrap();
    let fresh = Client::at(&gateway.api_url);
    let _ = journey::journey(&RoundRobin::new(vec![&fresh]));
    let record = gateway.record();
    let caught: Vec<_> = record
        .leftovers
        .iter()
        .filter(|(function, _)| function == "me")
        .collect();
    assert!(
        !caught.is_empty(),
        "the planted cache went unseen: {record:?}"
    );
    assert!(
        caught
            .iter()
            .all(|(_, files)| files.iter().any(|f| f.ends_with("planted-session-cache"))),
        "{caught:?}"
    );
}

/// The sandbox the fresh-process runs use can catch what it claims to: a
/// write to the home or working folder is refused (or, where the sandbox
/// cannot change user, found), a file left in `TMPDIR` is found.
#[tokio::test]
async fn the_sandbox_refuses_writes_outside_tmp_and_sees_what_stays_in_it() {
    let stack = stack();
    let parent = stack.logs_dir.join("sandbox-check");
    let shell = std::path::Path::new("/bin/sh");
    let env = BTreeMap::new();
    for target in ["\"$HOME/x\"", "./x"] {
        let sandbox = Sandbox::create(&parent, "probe", sandbox_user(&[shell])).unwrap();
        let status = sandbox
            .command(shell, &env)
            .args(["-c", &format!("echo > {target}")])
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .unwrap();
        let found = sandbox.leftovers().unwrap();
        assert!(
            !status.success() || !found.is_empty(),
            "writing {target} went unseen"
        );
        assert!(found.iter().all(|f| !f.starts_with(&sandbox.tmp)));
    }
    let sandbox = Sandbox::create(&parent, "probe", sandbox_user(&[shell])).unwrap();
    let status = sandbox
        .command(shell, &env)
        .args(["-c", "echo kept > \"$TMPDIR/cache\""])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    assert_eq!(
        sandbox.leftovers().unwrap(),
        vec![sandbox.tmp.join("cache")]
    );
}

/// The runtime stub and a real function: a cold health check answers.
#[tokio::test]
async fn a_cold_process_answers_one_invocation_through_the_runtime_api() {
    let stack = stack();
    let function = Function {
        name: "health".into(),
        binary: xtask::workspace_root().join("target/debug/health"),
        args: Vec::new(),
        env: stack.environment_of("health"),
    };
    let sandbox = Sandbox::create(
        &stack.logs_dir.join("sandbox-check"),
        "health",
        sandbox_user(&[&function.binary]),
    )
    .unwrap();
    let event = std::fs::read(xtask::workspace_root().join("events/health/get.json")).unwrap();
    let invocation = function
        .invoke_once(
            &sandbox,
            event,
            Duration::from_secs(30),
            &stack.logs_dir.join("sandbox-check/health.log"),
        )
        .await
        .unwrap();
    let Answer::Response(payload) = invocation.answer else {
        panic!("{:?}", invocation.answer);
    };
    let answer: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(answer["statusCode"], 200);
    assert!(invocation.ready_after.unwrap() <= invocation.answered_after);
    assert!(sandbox.leftovers().unwrap().is_empty());
}

#[test]
fn an_instance_killed_mid_traffic_loses_no_acknowledged_write() {
    let tally = holds(kill::run(&stack()).unwrap());
    assert_eq!((tally.kills, tally.lost_writes), (1, 0), "{tally:?}");
}

/// The audit behind "lost writes" sees a loss: a writer that was told of
/// writes the store does not hold, and of a job that does not exist.
#[test]
fn the_audit_counts_acknowledged_writes_that_are_gone() {
    let api = Client::at(&stack().api_url);
    let (_, token) = api.register_and_login().unwrap();
    let mut writes = Writes {
        acknowledged: 2,
        ..Writes::default()
    };
    writes
        .jobs
        .insert("never-made".into(), "AAAAAAAAAAAAAAAAAAAAAA".into());
    let mut tally = Tally::new("audit", 1);
    audit(&api, &token, &writes, &mut tally).unwrap();
    assert_eq!(tally.lost_writes, 3, "{tally:?}");
    assert!(tally.check().is_err());
}
