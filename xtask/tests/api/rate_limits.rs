//! Rate limits that hold across instances: exact admission counts under
//! races (two instances over HTTP, and straight at the store), the login
//! lock-out per email, per known device and per source IP, registration per
//! source IP, revoked tokens that spend nobody's budget, the headers, and
//! what each limit does when its counters cannot be reached.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_http::{Body, Response};
use serde_json::json;
use shared::accounts::routes::{Login, Me, Register};
use shared::config::Environment;
use shared::http::finish;
use shared::ratelimit::{Policy, RateLimiter, WhenStoreFails};
use shared::route::{Authenticated, Route};
use shared::time::Timestamp;
use xtask::stack::{Instance, StackInfo};

use crate::helpers::{Api, PASSWORD, Reply, unique_email};

/// Waits, if need be, so that `needed` seconds of work fit in the current
/// fixed window of `window` seconds (windows are aligned to the epoch).
fn fit_in_window(window: u64, needed: u64) {
    let into = Timestamp::now().0 % window;
    if window - into < needed {
        std::thread::sleep(Duration::from_secs(window - into));
    }
}

#[test]
fn authenticated_answers_carry_the_users_quota() {
    let api = Api::new();
    let (_, token) = api.new_user();
    // Both requests in one window, or the second would see a fresh budget.
    fit_in_window(60, 10);
    let first = api.me(&token);
    let second = api.list_sessions(&token);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("ratelimit-limit"), Some("300"));
    let remaining =
        |r: &Reply| -> u32 { r.header("ratelimit-remaining").unwrap().parse().unwrap() };
    assert!(
        remaining(&second) < remaining(&first),
        "one budget across the user's routes"
    );
    let reset: u64 = first.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=60).contains(&reset));
    let not_found = api.delete_session(&token, "AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(not_found.status, 404);
    assert!(
        not_found.header("ratelimit-remaining").is_some(),
        "problems carry it too"
    );
}

#[test]
fn a_hundred_requests_on_two_instances_against_a_limit_of_20_admit_exactly_20() {
    let stack = StackInfo::from_env().unwrap();
    let limit = [("REQUESTS_PER_USER_PER_MINUTE", "20")];
    let instances = [
        Instance::start(&stack, "limit-a", &limit).unwrap(),
        Instance::start(&stack, "limit-b", &limit).unwrap(),
    ];
    let apis = Arc::new([
        Api::at(&instances[0].api_url),
        Api::at(&instances[1].api_url),
    ]);
    let (_, token) = Api::new().new_user();
    let token = Arc::new(token);
    // Warm both instances' `me` process so that the burst fits in one window.
    for api in apis.iter() {
        assert_eq!(api.health().status, 200);
    }
    fit_in_window(60, 30);

    let clients: Vec<_> = (0..20)
        .map(|c| {
            let apis = Arc::clone(&apis);
            let token = Arc::clone(&token);
            std::thread::spawn(move || {
                (0..5)
                    .map(|i| {
                        let reply = apis[(c + i) % 2].me(&token);
                        if reply.status == 429 {
                            assert!(reply.header("retry-after").is_some());
                            assert_eq!(reply.header("ratelimit-remaining"), Some("0"));
                            assert_eq!(reply.body["code"], "rate_limited");
                        }
                        reply.status
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let statuses: Vec<u16> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert_eq!(statuses.len(), 100);
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        20,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        80,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_racing_hits_on_the_store_admit_exactly_the_limit() {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let table = stack
        .template_environment("me")
        .require("RATE_LIMITS_TABLE")
        .unwrap()
        .to_string();
    let limiter = Arc::new(RateLimiter::new(aws.dynamodb().clone(), table));
    let policy = Policy {
        name: "race",
        limit: 20,
        window_seconds: 60,
        when_store_fails: WhenStoreFails::Refuse,
    };
    let key = shared::ids::new_id();
    let now = Timestamp::now();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            let key = key.clone();
            tokio::spawn(async move { limiter.admit_at(&policy, &key, now).await })
        })
        .collect();
    let mut admitted = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(admission) => admitted.push(admission.quota().unwrap().remaining),
            Err(problem) => assert_eq!(problem.status(), 429),
        }
    }
    assert_eq!(admitted.len(), 20);
    admitted.sort_unstable();
    assert_eq!(
        admitted,
        (0..20).collect::<Vec<u32>>(),
        "each admission saw its own count"
    );
    // The next window starts from zero.
    let next = Timestamp(now.0 + 60);
    assert!(limiter.admit_at(&policy, &key, next).await.is_ok());
}

#[test]
fn five_failures_lock_out_that_email_only_until_the_window_ends() {
    let stack = StackInfo::from_env().unwrap();
    const WINDOW: u64 = 8;
    let window = WINDOW.to_string();
    let instance = Instance::start(
        &stack,
        "lockout",
        &[("LOGIN_FAILURE_WINDOW_SECONDS", &window)],
    )
    .unwrap();
    let api = Api::at(&instance.api_url);
    let (victim, bystander) = (Api::new().new_account(), Api::new().new_account());
    let login =
        |email: &str, password: &str| api.login(&json!({"email": email, "password": password}));
    // Warm the login process, then start at the beginning of a window.
    assert_eq!(login(&bystander, PASSWORD).status, 200);
    fit_in_window(WINDOW, WINDOW - 1);

    for attempt in 1..=4u32 {
        let reply = login(&victim, "wrong password, attempt");
        assert_eq!(reply.status, 401, "attempt {attempt}");
        assert_eq!(reply.header("ratelimit-limit"), Some("5"));
        assert_eq!(
            reply.header("ratelimit-remaining"),
            Some((5 - attempt).to_string().as_str())
        );
    }
    // A success gives its slot back: it is not a failure.
    assert_eq!(login(&victim, PASSWORD).status, 200);
    assert_eq!(login(&victim, "the fifth failure").status, 401);
    let locked = login(&victim, PASSWORD);
    assert_eq!(
        locked.status, 429,
        "locked out, even with the right password"
    );
    assert_eq!(locked.body["code"], "rate_limited");
    let retry_after: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=WINDOW).contains(&retry_after));
    assert_eq!(
        login(&bystander, PASSWORD).status,
        200,
        "other emails are unaffected"
    );

    std::thread::sleep(Duration::from_secs(retry_after));
    assert_eq!(
        login(&victim, PASSWORD).status,
        200,
        "the next window starts afresh"
    );
}

/// Captures the JSON log lines of the handlers a test runs on this thread.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let log = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || log.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// `binary`'s template environment with some variables changed.
fn environment(stack: &StackInfo, binary: &str, changes: &[(&str, &str)]) -> Environment {
    let mut vars = stack.environment_of(binary);
    for (name, value) in changes {
        vars.insert(name.to_string(), value.to_string());
    }
    Environment::from_pairs(vars)
}

/// The sample event `sample` from `source_ip`, with these headers and body.
fn event_from(
    sample: &str,
    source_ip: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> lambda_http::Request {
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(xtask::workspace_root().join("events").join(sample)).unwrap(),
    )
    .unwrap();
    event["requestContext"]["http"]["sourceIp"] = json!(source_ip);
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn login_event(source_ip: &str, forwarded_for: &str, body: &str) -> lambda_http::Request {
    event_from(
        "login/password.json",
        source_ip,
        &[("x-forwarded-for", forwarded_for)],
        Some(body),
    )
}

fn random_ip() -> String {
    let [a, b, c] = shared::ids::random_bytes::<3>();
    format!("10.{a}.{b}.{c}")
}

#[tokio::test]
async fn twenty_attempts_per_source_ip_whatever_x_forwarded_for_says() {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let env = environment(
        &stack,
        "login",
        &[("LOGIN_ATTEMPTS_PER_IP_PER_MINUTE", "20")],
    );
    let login = Login::build(&env, &aws).await.unwrap();
    let (ip, other_ip) = (random_ip(), random_ip());
    fit_in_window(60, 20);

    for attempt in 0..20 {
        // Each claims another client; only API Gateway's sourceIp counts.
        let forged = format!("192.0.2.{attempt}");
        let response = finish(login.handle(login_event(&ip, &forged, "{not json")).await);
        assert_eq!(response.status(), 400, "attempt {attempt}");
        let remaining = response.headers()["ratelimit-remaining"].to_str().unwrap();
        assert_eq!(remaining, (19 - attempt).to_string());
    }
    let body = json!({"email": unique_email(), "password": PASSWORD}).to_string();
    let refused = finish(login.handle(login_event(&ip, &random_ip(), &body)).await);
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let elsewhere = finish(login.handle(login_event(&other_ip, &ip, &body)).await);
    assert_eq!(
        elsewhere.status(),
        401,
        "another address has its own budget"
    );
}

fn status_and_headers(response: &Response<Body>) -> (u16, bool, bool) {
    (
        response.status().as_u16(),
        response.headers().contains_key("retry-after"),
        response.headers().contains_key("ratelimit-limit"),
    )
}

#[tokio::test]
async fn unreachable_counters_close_login_and_open_the_user_budget_and_say_so() {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let missing = [("RATE_LIMITS_TABLE", "no-such-rate-limits-table")];
    let (_, token) = Api::new().new_user();
    let log = Log::default();
    let _guard = log.install();

    let login = Login::build(&environment(&stack, "login", &missing), &aws)
        .await
        .unwrap();
    let body = json!({"email": unique_email(), "password": PASSWORD}).to_string();
    let response = finish(login.handle(login_event(&random_ip(), "", &body)).await);
    assert_eq!(
        status_and_headers(&response),
        (503, true, false),
        "login fails closed"
    );
    assert!(log.text().contains("fail closed"), "{}", log.text());

    let me = Authenticated::<Me>::build(&environment(&stack, "me", &missing), &aws)
        .await
        .unwrap();
    let response = finish(me.handle(me_request(&token)).await);
    assert_eq!(
        status_and_headers(&response),
        (200, false, false),
        "the user budget fails open"
    );
    assert!(log.text().contains("fail open"), "{}", log.text());
}

/// A function whose cold start cannot read the published keys (a store
/// outage) still starts: it answers 503 with `Retry-After` while they cannot
/// be read, instead of exiting (which makes every request wait for a new
/// execution environment).
#[tokio::test]
async fn a_function_started_while_the_keys_cannot_be_read_answers_503_and_stays_up() {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let (_, token) = Api::new().new_user();
    let unreadable = [("TOKEN_KEYS_TABLE", "no-such-token-keys-table")];
    let log = Log::default();
    let _guard = log.install();
    let me = Authenticated::<Me>::build(&environment(&stack, "me", &unreadable), &aws)
        .await
        .unwrap();
    assert!(
        log.text().contains("could not be read at cold start"),
        "{}",
        log.text()
    );
    for _ in 0..2 {
        let response = finish(me.handle(me_request(&token)).await);
        assert_eq!(status_and_headers(&response), (503, true, false));
    }
    // The same function with keys it can read answers as ever.
    let me = Authenticated::<Me>::build(&stack.template_environment("me"), &aws)
        .await
        .unwrap();
    let response = finish(me.handle(me_request(&token)).await);
    assert_eq!(response.status(), 200);
}

/// `GET /me` with this bearer token.
fn me_request(token: &str) -> lambda_http::Request {
    let bearer = format!("Bearer {token}");
    event_from(
        "me/bearer.json",
        "203.0.113.7",
        &[("authorization", &bearer)],
        None,
    )
}

#[tokio::test]
async fn registrations_are_limited_per_source_ip_and_fail_closed() {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let limit = [("REGISTER_ATTEMPTS_PER_IP_PER_HOUR", "3")];
    let register = Register::build(&environment(&stack, "register", &limit), &aws)
        .await
        .unwrap();
    let attempt = |ip: &str, body: &str| {
        register.handle(event_from(
            "register/create-account.json",
            ip,
            &[],
            Some(body),
        ))
    };
    let ip = random_ip();
    let email = unique_email();
    let account = json!({"email": email, "password": PASSWORD}).to_string();
    fit_in_window(3600, 30);
    // Every attempt counts, whatever its answer: a 409 is an email oracle.
    for (body, expected) in [(&account, 201), (&account, 409), (&"{}".to_string(), 400)] {
        let response = finish(attempt(&ip, body).await);
        assert_eq!(response.status(), expected);
        assert!(response.headers().contains_key("ratelimit-remaining"));
    }
    let other = json!({"email": unique_email(), "password": PASSWORD}).to_string();
    let refused = finish(attempt(&ip, &other).await);
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(finish(attempt(&random_ip(), &other).await).status(), 201);

    let missing = [("RATE_LIMITS_TABLE", "no-such-rate-limits-table")];
    let closed = Register::build(&environment(&stack, "register", &missing), &aws)
        .await
        .unwrap();
    let body = json!({"email": unique_email(), "password": PASSWORD}).to_string();
    let response = finish(
        closed
            .handle(event_from(
                "register/create-account.json",
                &random_ip(),
                &[],
                Some(&body),
            ))
            .await,
    );
    assert_eq!(
        status_and_headers(&response),
        (503, true, false),
        "register fails closed"
    );
}

/// The `name=value` of cookie `name` among a response's `Set-Cookie` headers.
fn set_cookie(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

#[tokio::test]
async fn guesses_lock_an_email_out_of_unknown_devices_never_out_of_a_known_one() {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let env = environment(&stack, "login", &[("LOGIN_FAILURES_PER_EMAIL", "3")]);
    let login = Login::build(&env, &aws).await.unwrap();
    let log = Log::default();
    let _guard = log.install();
    let email = Api::new().new_account();
    let right = json!({"email": email, "password": PASSWORD}).to_string();
    let wrong = json!({"email": email, "password": "not the password at all"}).to_string();
    let attempt = |ip: &str, cookie: Option<&str>, body: &str| {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
        login.handle(event_from("login/password.json", ip, &headers, Some(body)))
    };
    let (victim_ip, attacker_ip) = (random_ip(), random_ip());
    fit_in_window(900, 60);

    let first = finish(attempt(&victim_ip, None, &right).await);
    assert_eq!(first.status(), 200);
    let device = set_cookie(&first, "__Host-device").expect("a device cookie");

    // An attacker from anywhere spends the budget of unknown devices...
    for _ in 0..3 {
        assert_eq!(
            finish(attempt(&attacker_ip, None, &wrong).await).status(),
            401
        );
    }
    let locked = finish(attempt(&attacker_ip, None, &right).await);
    assert_eq!(
        locked.status(),
        429,
        "even the right password, from an unknown device"
    );
    assert_eq!(
        finish(attempt(&random_ip(), None, &right).await).status(),
        429
    );
    // ...and not the victim's: a device that logged in before has its own.
    let known = finish(attempt(&victim_ip, Some(&device), &right).await);
    assert_eq!(known.status(), 200, "the known device logs in");
    assert_eq!(
        set_cookie(&known, "__Host-device").as_deref(),
        Some(device.as_str()),
        "and keeps its cookie"
    );
    // A device cookie made for another email counts as no cookie.
    let stolen_cookie_elsewhere =
        json!({"email": unique_email(), "password": PASSWORD}).to_string();
    let response = finish(attempt(&attacker_ip, Some(&device), &stolen_cookie_elsewhere).await);
    assert_eq!(response.status(), 401);
    // The known device's own budget is the same size, and only its own.
    for _ in 0..3 {
        let response = finish(attempt(&victim_ip, Some(&device), &wrong).await);
        assert_eq!(response.status(), 401);
    }
    let response = finish(attempt(&victim_ip, Some(&device), &right).await);
    assert_eq!(response.status(), 429);

    // The operator sees the attack: address and a keyed digest, never the email.
    let text = log.text();
    let lines: Vec<&str> = text.lines().collect();
    let refused = lines
        .iter()
        .find(|l| l.contains("login refused") && l.contains(&attacker_ip))
        .expect("a failed login is logged with its source IP");
    let locked_out = lines
        .iter()
        .find(|l| l.contains("login locked out") && l.contains(&attacker_ip))
        .expect("a lock-out is logged with its source IP");
    let digest = |line: &str| -> String {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        value["fields"]["email_digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(digest(refused), digest(locked_out), "one email, one digest");
    assert!(!text.contains(&email), "the email is never logged");
}

#[tokio::test]
async fn a_revoked_token_costs_the_users_live_sessions_nothing() {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let me = Authenticated::<Me>::build(
        &environment(&stack, "me", &[("REQUESTS_PER_USER_PER_MINUTE", "5")]),
        &aws,
    )
    .await
    .unwrap();
    let api = Api::new();
    let email = api.new_account();
    let token = |t: &serde_json::Value| t["access_token"].as_str().unwrap().to_string();
    let (revoked, live) = (token(&api.login_as(&email)), token(&api.login_as(&email)));
    // All in one window; the logout, while its token was good, counts.
    fit_in_window(60, 20);
    assert_eq!(api.logout(&revoked).status, 204);
    for _ in 0..8 {
        assert_eq!(finish(me.handle(me_request(&revoked)).await).status(), 401);
    }
    let response = finish(me.handle(me_request(&live)).await);
    assert_eq!(
        response.status(),
        200,
        "the live session is not rate limited"
    );
    assert_eq!(response.headers()["ratelimit-remaining"], "3");
}
