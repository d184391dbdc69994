//! The claim of the project, as tests: any instance serves any request, a
//! fresh process serves every request as well as a warm one, an instance
//! may die mid-traffic and nothing acknowledged is lost, and no function
//! writes outside its `/tmp` or leaves anything in it.
//!
//! One user journey (register, login, cart, upload, job, refresh, logout)
//! gives one transcript of what it saw; it must read the same on one
//! instance, on two taken in turn, and on a fresh process per request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::load::{Writes, check_nothing_acknowledged_was_lost, writer};
use support::{Api, PASSWORD, Reply, download, poll_until, put_bytes, unique_email};
use xtask::fresh::FreshGateway;
use xtask::runtime_api::{Answer, Function, Sandbox, sandbox_user};
use xtask::stack::{Instance, StackInfo};

/// Instances taken in turn: every request goes to the next one.
struct RoundRobin<'a> {
    apis: Vec<&'a Api>,
    next: Cell<usize>,
}

impl<'a> RoundRobin<'a> {
    fn new(apis: Vec<&'a Api>) -> Self {
        Self {
            apis,
            next: Cell::new(0),
        }
    }

    fn api(&self) -> &'a Api {
        let index = self.next.get();
        self.next.set(index + 1);
        self.apis[index % self.apis.len()]
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let body = body.map(Value::to_string);
        self.api()
            .send(method, path, token, headers, body.as_deref())
    }

    /// GETs `path`, each time from the next instance, until `done` holds
    /// for its body (a minute at most).
    fn wait_for(&self, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
        poll_until(
            path,
            Duration::from_secs(60),
            || self.send("GET", path, Some(token), &[], None),
            done,
        )
    }
}

/// The journey; what it saw, one line a step, free of ids and times.
fn journey(apis: &RoundRobin) -> Vec<String> {
    let mut seen = Vec::new();
    let email = unique_email();
    let credentials = json!({"email": email, "password": PASSWORD, "name": "Ada"});
    let reply = apis.send("POST", "/auth/register", None, &[], Some(&credentials));
    seen.push(format!("register {}", reply.status));
    let login = json!({"email": email, "password": PASSWORD});
    let reply = apis.send("POST", "/auth/login", None, &[], Some(&login));
    seen.push(format!("login {}", reply.status));
    let access = reply.body["access_token"].as_str().unwrap().to_string();
    let refresh = reply.body["refresh_token"].as_str().unwrap().to_string();
    let token = Some(access.as_str());

    let reply = apis.send("GET", "/me", token, &[], None);
    seen.push(format!(
        "me {} own email {}",
        reply.status,
        reply.body["email"] == email.as_str()
    ));

    // The cart: a write from its ETag lands, a second from the same ETag is refused.
    let reply = apis.send("GET", "/cart", token, &[], None);
    seen.push(format!(
        "cart {} etag {}",
        reply.status,
        reply.header("etag").unwrap()
    ));
    let items = json!({"items": [{"sku": "TSHIRT-M", "quantity": 2}]});
    let if_match = [("if-match", "\"0\"")];
    let reply = apis.send("PUT", "/cart", token, &if_match, Some(&items));
    seen.push(format!(
        "put cart {} etag {}",
        reply.status,
        reply.header("etag").unwrap()
    ));
    let reply = apis.send("PUT", "/cart", token, &if_match, Some(&items));
    seen.push(format!(
        "put cart again {} {}",
        reply.status, reply.body["code"]
    ));
    let reply = apis.send("GET", "/cart", token, &[], None);
    seen.push(format!("cart {} {}", reply.status, reply.body["items"]));

    // An upload: URL, bytes, confirmed by the S3 event, downloaded.
    let bytes = b"journey notes\n";
    let announce =
        json!({"filename": "notes.txt", "content_type": "text/plain", "size": bytes.len()});
    let reply = apis.send("POST", "/uploads", token, &[], Some(&announce));
    seen.push(format!("create upload {}", reply.status));
    seen.push(format!("put object {}", put_bytes(&reply.body, bytes)));
    let upload_path = format!("/uploads/{}", reply.body["upload_id"].as_str().unwrap());
    let ready = apis.wait_for(&upload_path, &access, |u| u["status"] != "pending");
    seen.push(format!("upload {}", ready["status"]));
    let (status, text) = download(ready["download_url"].as_str().unwrap());
    seen.push(format!(
        "download {status} same bytes {}",
        text.as_bytes() == bytes
    ));

    // A job, asked for twice under one key: one job, finished once.
    let key = [("idempotency-key", "journey-export")];
    let export = json!({"type": "export"});
    let first = apis.send("POST", "/jobs", token, &key, Some(&export));
    let again = apis.send("POST", "/jobs", token, &key, Some(&export));
    seen.push(format!(
        "create job {} again {} same job {}",
        first.status,
        again.status,
        first.body["job_id"] == again.body["job_id"]
    ));
    let job_path = format!("/jobs/{}", first.body["job_id"].as_str().unwrap());
    let job = apis.wait_for(&job_path, &access, |j| {
        j["status"] == "succeeded" || j["status"] == "failed"
    });
    seen.push(format!(
        "job {} attempts {}",
        job["status"], job["attempts"]
    ));
    let (status, text) = download(job["result"]["download_url"].as_str().unwrap());
    let document: Value = serde_json::from_str(&text).unwrap();
    seen.push(format!(
        "export {status} email {} cart {} uploads {} jobs {}",
        document["profile"]["email"] == email.as_str(),
        document["cart"]["items"],
        document["uploads"].as_array().map_or(0, Vec::len),
        document["jobs"].as_array().map_or(0, Vec::len),
    ));
    let reply = apis.send("GET", "/jobs", token, &[], None);
    seen.push(format!(
        "jobs {} {}",
        reply.status,
        reply.body["jobs"].as_array().unwrap().len()
    ));

    // Refresh, then end the session: both tokens stop working everywhere.
    let body = json!({"refresh_token": refresh});
    let reply = apis.send("POST", "/auth/refresh", None, &[], Some(&body));
    seen.push(format!("refresh {}", reply.status));
    let access = reply.body["access_token"].as_str().unwrap().to_string();
    let refresh = reply.body["refresh_token"].as_str().unwrap().to_string();
    let token = Some(access.as_str());
    let reply = apis.send("GET", "/auth/sessions", token, &[], None);
    seen.push(format!(
        "sessions {} {}",
        reply.status,
        reply.body["sessions"].as_array().unwrap().len()
    ));
    let reply = apis.send("POST", "/auth/logout", token, &[], None);
    seen.push(format!("logout {}", reply.status));
    for _ in 0..2 {
        let reply = apis.send("GET", "/me", token, &[], None);
        seen.push(format!("me after logout {}", reply.status));
    }
    let body = json!({"refresh_token": refresh});
    let reply = apis.send("POST", "/auth/refresh", None, &[], Some(&body));
    seen.push(format!(
        "refresh after logout {} {}",
        reply.status, reply.body["code"]
    ));
    seen
}

/// What the journey must see, wherever it runs.
fn expected() -> Vec<String> {
    [
        "register 201",
        "login 200",
        "me 200 own email true",
        "cart 200 etag \"0\"",
        "put cart 200 etag \"1\"",
        "put cart again 412 \"precondition_failed\"",
        "cart 200 [{\"quantity\":2,\"sku\":\"TSHIRT-M\"}]",
        "create upload 201",
        "put object 200",
        "upload \"ready\"",
        "download 200 same bytes true",
        "create job 202 again 202 same job true",
        "job \"succeeded\" attempts 1",
        "export 200 email true cart [{\"quantity\":2,\"sku\":\"TSHIRT-M\"}] uploads 1 jobs 1",
        "jobs 200 1",
        "refresh 200",
        "sessions 200 1",
        "logout 204",
        "me after logout 401",
        "me after logout 401",
        "refresh after logout 401 \"invalid_refresh_token\"",
    ]
    .map(String::from)
    .to_vec()
}

fn stack() -> StackInfo {
    StackInfo::from_env().unwrap()
}

#[test]
fn the_journey_on_one_instance() {
    let api = Api::new();
    assert_eq!(journey(&RoundRobin::new(vec![&api])), expected());
}

#[test]
fn the_journey_on_two_instances_taken_in_turn() {
    let stack = stack();
    let other = Instance::start(&stack, "round-robin", &[]).unwrap();
    let (first, second) = (Api::at(&stack.api_url), Api::at(&other.api_url));
    assert_eq!(journey(&RoundRobin::new(vec![&first, &second])), expected());
}

#[test]
fn the_journey_with_a_fresh_process_for_every_request() {
    let gateway = FreshGateway::start(&stack()).unwrap();
    let fresh = Api::at(&gateway.api_url);
    let apis = RoundRobin::new(vec![&fresh]);
    let seen = journey(&apis);
    let record = gateway.record();
    assert_eq!(seen, expected(), "{record:?}");
    // Every request had a process of its own.
    assert_eq!(record.invocations, apis.next.get() as u64, "{record:?}");
    assert!(record.failures.is_empty(), "{:?}", record.failures);
    assert!(
        record.leftovers.is_empty(),
        "files left behind: {:?}",
        record.leftovers
    );
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
    let fresh = Api::at(&gateway.api_url);
    journey(&RoundRobin::new(vec![&fresh]));
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
    let stack = stack();
    let survivor = Api::at(&stack.api_url);
    let victim_instance = Instance::start(&stack, "victim", &[]).unwrap();
    let victim = Api::at(&victim_instance.api_url);
    const USERS: usize = 4;
    const WRITES: usize = 40;
    let users: Vec<(String, String)> = (0..USERS).map(|_| survivor.new_user()).collect();
    // Every function of the victim warm before the load starts.
    for (_, token) in &users {
        let _ = victim.send("GET", "/cart", Some(token), &[], None);
        let _ = victim.send("GET", "/me", Some(token), &[], None);
    }

    let stop = Arc::new(AtomicBool::new(false));
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
            while started.elapsed() < Duration::from_secs(90) {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            stop.store(true, Ordering::SeqCst);
        });
        let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
        stop.store(true, Ordering::SeqCst);
        watchdog.join().unwrap();
        results
    });

    let mut failures = 0;
    for ((_, token), writes) in users.iter().zip(&results) {
        failures += writes.failures;
        check_nothing_acknowledged_was_lost(&survivor, token, writes);
    }
    // The kill happened mid-traffic: some requests to the victim failed,
    // and most of the load still went through.
    assert!(failures > 0, "the victim died after the load ended");
    let acknowledged: u64 = results.iter().map(|w| w.acknowledged).sum();
    assert!(acknowledged >= (USERS * WRITES / 4) as u64, "{results:?}");
}
