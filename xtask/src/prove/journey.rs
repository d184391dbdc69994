//! One user journey (register, login, cart, upload, job, refresh, logout),
//! then every route once on its happy path (the happy-path table), gives
//! one transcript of what it saw, free of ids and times; it must read the
//! same on one instance, on two taken in turn, and on a fresh process per
//! request.

use std::cell::Cell;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::Tally;
use crate::client::{Client, PASSWORD, Reply, get_url, poll, put_presigned, unique_email};
use crate::fresh_process::FreshGateway;
use crate::happy_path::HappyPath;
use crate::stack::{Instance, StackInfo};
use crate::template::Template;

/// Instances taken in turn: every request goes to the next one.
pub struct RoundRobin<'a> {
    apis: Vec<&'a Client>,
    next: Cell<usize>,
    /// Where the happy paths make what they need first (a user, an upload).
    setup: String,
    /// The stack, whose users table the happy paths grant an admin in.
    stack: Option<StackInfo>,
}

impl<'a> RoundRobin<'a> {
    /// `apis` in turn; the happy paths' setup through the first.
    pub fn new(apis: Vec<&'a Client>) -> Self {
        let setup = apis
            .first()
            .map(|api| api.base().to_string())
            .unwrap_or_default();
        Self {
            apis,
            next: Cell::new(0),
            setup,
            stack: None,
        }
    }

    /// The same, able to make an admin on `stack` (the catalog's writes).
    pub fn with_stack(mut self, stack: &StackInfo) -> Self {
        self.stack = Some(stack.clone());
        self
    }

    /// The same, with the happy paths' setup sent to `url` instead (so a
    /// gateway that counts its requests sees only the journey's).
    pub fn with_setup(mut self, url: &str) -> Self {
        self.setup = url.to_string();
        self
    }

    /// How many requests went out through this.
    pub fn requests(&self) -> u64 {
        self.next.get() as u64
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply> {
        let index = self.next.get();
        self.next.set(index + 1);
        self.apis[index % self.apis.len()].call(method, path, token, headers, body)
    }

    /// GETs `path`, each time from the next instance, until `done` holds
    /// for its body (a minute at most).
    fn wait_for(&self, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Result<Value> {
        poll(
            path,
            Duration::from_secs(60),
            || self.send("GET", path, Some(token), &[], None),
            done,
        )
    }
}

/// The journey; what it saw, one line a step. An error: it could not go on.
pub fn journey(apis: &RoundRobin) -> Result<Vec<String>> {
    let mut seen = Vec::new();
    let email = unique_email();
    let credentials = json!({"email": email, "password": PASSWORD, "name": "Ada"});
    let reply = apis.send("POST", "/auth/register", None, &[], Some(&credentials))?;
    seen.push(format!("register {}", reply.status));
    let login = json!({"email": email, "password": PASSWORD});
    let reply = apis.send("POST", "/auth/login", None, &[], Some(&login))?;
    seen.push(format!("login {}", reply.status));
    let access = reply.text("access_token")?;
    let refresh = reply.text("refresh_token")?;
    let token = Some(access.as_str());

    let reply = apis.send("GET", "/me", token, &[], None)?;
    seen.push(format!(
        "me {} own email {}",
        reply.status,
        reply.body["email"] == email.as_str()
    ));

    // The cart: a write from its ETag lands, a second from the same ETag is refused.
    let reply = apis.send("GET", "/cart", token, &[], None)?;
    seen.push(format!(
        "cart {} etag {}",
        reply.status,
        reply.header("etag").unwrap_or("none")
    ));
    let items = json!({"items": [{"sku": "TSHIRT-M", "quantity": 2}]});
    let if_match = [("if-match", "\"0\"")];
    let reply = apis.send("PUT", "/cart", token, &if_match, Some(&items))?;
    seen.push(format!(
        "put cart {} etag {}",
        reply.status,
        reply.header("etag").unwrap_or("none")
    ));
    let reply = apis.send("PUT", "/cart", token, &if_match, Some(&items))?;
    seen.push(format!(
        "put cart again {} {}",
        reply.status, reply.body["code"]
    ));
    let reply = apis.send("GET", "/cart", token, &[], None)?;
    seen.push(format!(
        "cart {} {}",
        reply.status,
        crate::client::cart_lines(&reply.body["items"])
    ));

    // An upload: URL, bytes, confirmed by the S3 event, downloaded.
    let bytes = b"journey notes\n";
    let announce =
        json!({"filename": "notes.txt", "content_type": "text/plain", "size": bytes.len()});
    let reply = apis.send("POST", "/uploads", token, &[], Some(&announce))?;
    seen.push(format!("create upload {}", reply.status));
    seen.push(format!("put object {}", put_presigned(&reply.body, bytes)?));
    let upload_path = format!("/uploads/{}", reply.text("upload_id")?);
    let ready = apis.wait_for(&upload_path, &access, |u| u["status"] != "pending")?;
    seen.push(format!("upload {}", ready["status"]));
    let (status, text) = get_url(ready["download_url"].as_str().context("no download_url")?)?;
    seen.push(format!(
        "download {status} same bytes {}",
        text.as_bytes() == bytes
    ));

    // A job, asked for twice under one key: one job, finished once.
    let key = [("idempotency-key", "journey-export")];
    let export = json!({"type": "export"});
    let first = apis.send("POST", "/jobs", token, &key, Some(&export))?;
    let again = apis.send("POST", "/jobs", token, &key, Some(&export))?;
    seen.push(format!(
        "create job {} again {} same job {}",
        first.status,
        again.status,
        first.body["job_id"] == again.body["job_id"]
    ));
    let job_path = format!("/jobs/{}", first.text("job_id")?);
    let job = apis.wait_for(&job_path, &access, |j| {
        j["status"] == "succeeded" || j["status"] == "failed"
    })?;
    seen.push(format!(
        "job {} attempts {}",
        job["status"], job["attempts"]
    ));
    let result_url = job["result"]["download_url"]
        .as_str()
        .with_context(|| format!("no result in {job}"))?;
    let (status, text) = get_url(result_url)?;
    let document: Value = serde_json::from_str(&text).unwrap_or_default();
    seen.push(format!(
        "export {status} email {} cart {} uploads {} jobs {}",
        document["profile"]["email"] == email.as_str(),
        document["cart"]["items"],
        document["uploads"].as_array().map_or(0, Vec::len),
        document["jobs"].as_array().map_or(0, Vec::len),
    ));
    let reply = apis.send("GET", "/jobs", token, &[], None)?;
    seen.push(format!(
        "jobs {} {}",
        reply.status,
        reply.body["jobs"].as_array().map_or(0, Vec::len)
    ));

    // Refresh, then end the session: both tokens stop working everywhere.
    let body = json!({"refresh_token": refresh});
    let reply = apis.send("POST", "/auth/refresh", None, &[], Some(&body))?;
    seen.push(format!("refresh {}", reply.status));
    let access = reply.text("access_token")?;
    let refresh = reply.text("refresh_token")?;
    let token = Some(access.as_str());
    let reply = apis.send("GET", "/auth/sessions", token, &[], None)?;
    seen.push(format!(
        "sessions {} {}",
        reply.status,
        reply.body["sessions"].as_array().map_or(0, Vec::len)
    ));
    let reply = apis.send("POST", "/auth/logout", token, &[], None)?;
    seen.push(format!("logout {}", reply.status));
    for _ in 0..2 {
        let reply = apis.send("GET", "/me", token, &[], None)?;
        seen.push(format!("me after logout {}", reply.status));
    }
    let body = json!({"refresh_token": refresh});
    let reply = apis.send("POST", "/auth/refresh", None, &[], Some(&body))?;
    seen.push(format!(
        "refresh after logout {} {}",
        reply.status, reply.body["code"]
    ));

    // Every route once on its happy path, whichever instance it meets.
    let template = Template::load(&crate::workspace_root().join("template.yaml"))?;
    let happy = HappyPath::new(&apis.setup, apis.stack.as_ref())?;
    let mut not_2xx = Vec::new();
    for call in happy.http_calls(&template)? {
        let headers: Vec<(&str, &str)> = call
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let reply = apis.send(
            &call.method,
            &call.path,
            call.token.as_deref(),
            &headers,
            call.body.as_ref(),
        )?;
        if !(200..300).contains(&reply.status) {
            not_2xx.push(format!("{} {} {}", call.binary, reply.status, reply.body));
        }
    }
    seen.push(format!("every route's happy path, not 2xx: {not_2xx:?}"));
    Ok(seen)
}

/// What the journey must see, wherever it runs.
pub fn expected() -> Vec<String> {
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
        "every route's happy path, not 2xx: []",
    ]
    .map(String::from)
    .to_vec()
}

/// Runs the journey over `apis` and compares it with `expected()`.
pub fn walk(apis: &RoundRobin, tally: &mut Tally) {
    match journey(apis) {
        Ok(seen) => {
            let expected = expected();
            if let Some((step, (saw, wanted))) = seen
                .iter()
                .zip(&expected)
                .enumerate()
                .find(|(_, (saw, wanted))| saw != wanted)
            {
                tally.problem(format!(
                    "journey step {}: saw `{saw}`, expected `{wanted}`",
                    step + 1
                ));
            } else if seen.len() != expected.len() {
                tally.problem(format!("journey: {seen:?}"));
            }
        }
        Err(error) => tally.problem(format!("the journey stopped: {error:#}")),
    }
    tally.requests += apis.requests();
}

/// The journey on the stack's own instance.
pub fn on_one_instance(stack: &StackInfo) -> Tally {
    let api = Client::at(&stack.api_url);
    let mut tally = Tally::new("journey, one instance", 1);
    walk(&RoundRobin::new(vec![&api]).with_stack(stack), &mut tally);
    tally
}

/// The journey over the stack's instance and a second one, every request
/// to the other one than the request before.
pub fn on_two_instances_in_turn(stack: &StackInfo) -> Result<Tally> {
    let other = Instance::start(stack, "round-robin", &[])?;
    let (first, second) = (Client::at(&stack.api_url), Client::at(&other.api_url));
    let mut tally = Tally::new("journey, two instances in turn", 2);
    walk(
        &RoundRobin::new(vec![&first, &second]).with_stack(stack),
        &mut tally,
    );
    Ok(tally)
}

/// The journey with every function process started anew for every request,
/// each in an empty `/tmp` and with its home and working folder not
/// writable; nothing may stay in `/tmp` after a call.
pub fn with_a_fresh_process_per_request(stack: &StackInfo) -> Result<Tally> {
    let gateway = FreshGateway::start(stack)?;
    let fresh = Client::at(&gateway.api_url);
    let apis = RoundRobin::new(vec![&fresh])
        .with_setup(&stack.api_url)
        .with_stack(stack);
    let mut tally = Tally::new("journey, a fresh process per request", 0);
    walk(&apis, &mut tally);
    let record = gateway.record();
    tally.instances = record.invocations;
    if record.invocations != apis.requests() {
        tally.problem(format!(
            "{} requests, {} fresh processes",
            apis.requests(),
            record.invocations
        ));
    }
    for failure in &record.failures {
        tally.problem(format!("a fresh process failed: {failure:?}"));
    }
    for (function, files) in &record.leftovers {
        tally.problem(format!("{function} left behind {files:?}"));
    }
    Ok(tally)
}
