//! Sessions against the stack's DynamoDB, with the handlers built
//! in-process from their template environment: refresh-token rotation under
//! concurrency and with a grace period of the test's choosing, forged and
//! replayed refresh tokens, and a logout-all whose second step fails.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::accounts::routes::{Login, LogoutAll, Me, Refresh, Register};
use shared::config::Environment;
use shared::http::finish;
use shared::route::{Authenticated, Route};
use xtask::stack::StackInfo;

use crate::helpers::{PASSWORD, unique_email};

struct Routes {
    register: Register,
    login: Login,
    refresh: Refresh,
    me: Authenticated<Me>,
}

async fn routes(grace_seconds: u64) -> Arc<Routes> {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let env = |binary: &str| stack.template_environment(binary);
    let mut refresh_env = stack.function_env["refresh"].clone();
    refresh_env.insert("REFRESH_GRACE_SECONDS".into(), grace_seconds.to_string());
    Arc::new(Routes {
        register: Register::build(&env("register"), &aws).await.unwrap(),
        login: Login::build(&env("login"), &aws).await.unwrap(),
        refresh: Refresh::build(&Environment::from_pairs(refresh_env), &aws)
            .await
            .unwrap(),
        me: Authenticated::<Me>::build(&env("me"), &aws).await.unwrap(),
    })
}

/// A request like the sample event of `function`, with this body and bearer token.
fn request(sample: &str, body: Option<Value>, bearer: Option<&str>) -> Request {
    let path = xtask::workspace_root().join("events").join(sample);
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    if let Some(token) = bearer {
        event["headers"]["authorization"] = json!(format!("Bearer {token}"));
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn parse(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null),
    )
}

impl Routes {
    /// Registers a fresh user: its email.
    async fn new_account(&self) -> String {
        let email = unique_email();
        let body = json!({"email": email, "password": PASSWORD});
        let (status, _) = parse(finish(
            self.register
                .handle(request("register/create-account.json", Some(body), None))
                .await,
        ));
        assert_eq!(status, 201);
        email
    }

    /// Registers a fresh user and logs in: (refresh token, access token).
    async fn new_session(&self) -> (String, String) {
        let email = self.new_account().await;
        self.login_again(&email).await
    }

    async fn login_again(&self, email: &str) -> (String, String) {
        let body = json!({"email": email, "password": PASSWORD});
        let (status, tokens) = parse(finish(
            self.login
                .handle(request("login/password.json", Some(body), None))
                .await,
        ));
        assert_eq!(status, 200, "{tokens}");
        (
            tokens["refresh_token"].as_str().unwrap().to_string(),
            tokens["access_token"].as_str().unwrap().to_string(),
        )
    }

    /// Refreshes: Ok((refresh, access)) on 200, Err(status) otherwise.
    async fn refresh(&self, token: &str) -> Result<(String, String), u16> {
        let body = json!({"refresh_token": token});
        let (status, tokens) = parse(finish(
            self.refresh
                .handle(request("refresh/body-token.json", Some(body), None))
                .await,
        ));
        if status != 200 {
            return Err(status);
        }
        Ok((
            tokens["refresh_token"].as_str().unwrap().to_string(),
            tokens["access_token"].as_str().unwrap().to_string(),
        ))
    }

    async fn me(&self, access: &str) -> u16 {
        parse(finish(
            self.me
                .handle(request("me/bearer.json", None, Some(access)))
                .await,
        ))
        .0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_grace_twenty_parallel_refreshes_of_one_token_give_exactly_one_200() {
    let routes = routes(0).await;
    let (refresh, _) = routes.new_session().await;
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let routes = Arc::clone(&routes);
            let token = refresh.clone();
            tokio::spawn(async move { routes.refresh(&token).await })
        })
        .collect();
    let mut successes = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => successes += 1,
            Err(status) => assert_eq!(status, 401),
        }
    }
    assert_eq!(successes, 1);
}

#[tokio::test]
async fn the_preceding_token_works_inside_the_grace_and_never_after() {
    let routes = routes(2).await;
    let (t0, _) = routes.new_session().await;
    let (t1, _) = routes.refresh(&t0).await.unwrap();
    // The answer with t1 was "lost": t0 again, inside the grace, still works.
    let (t1b, _) = routes.refresh(&t0).await.expect("inside the grace");
    assert_eq!(t1, t1b, "the same successor, not a second one");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    // Outside the grace it is reuse: refused, and the whole session is revoked.
    assert_eq!(routes.refresh(&t0).await.unwrap_err(), 401);
    assert_eq!(
        routes.refresh(&t1b).await.unwrap_err(),
        401,
        "the session is revoked"
    );
}

/// Also the thief who refreshed a stolen token twice (t0 to t2): the
/// owner's next refresh, with t0, is still reuse, never a harmless 401.
#[tokio::test]
async fn only_the_immediately_preceding_token_has_a_grace() {
    let routes = routes(10).await;
    let (t0, _) = routes.new_session().await;
    let (t1, _) = routes.refresh(&t0).await.unwrap();
    let (t2, access) = routes.refresh(&t1).await.unwrap();
    // t0 is two rotations old: reuse, whatever the grace.
    assert_eq!(routes.refresh(&t0).await.unwrap_err(), 401);
    assert_eq!(
        routes.refresh(&t2).await.unwrap_err(),
        401,
        "the session is revoked"
    );
    assert_eq!(routes.me(&access).await, 401, "its access tokens too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reuse_racing_a_legitimate_refresh_never_leaves_a_working_descendant() {
    let routes = routes(0).await;
    let email = routes.new_account().await;
    for round in 0..100 {
        let (t0, _) = routes.login_again(&email).await;
        let (t1, _) = routes.refresh(&t0).await.unwrap();
        let thief = {
            let routes = Arc::clone(&routes);
            tokio::spawn(async move { routes.refresh(&t0).await })
        };
        let owner = {
            let routes = Arc::clone(&routes);
            tokio::spawn(async move { routes.refresh(&t1).await })
        };
        assert_eq!(
            thief.await.unwrap().unwrap_err(),
            401,
            "round {round}: reuse is refused"
        );
        if let Ok((t2, access)) = owner.await.unwrap() {
            assert_eq!(
                routes.refresh(&t2).await.unwrap_err(),
                401,
                "round {round}: descendant refresh"
            );
            assert_eq!(
                routes.me(&access).await,
                401,
                "round {round}: descendant access token"
            );
        }
    }
}

/// The claims of an access token, read without checking it (as anyone can).
fn claims(access: &str) -> Value {
    let payload = access.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_refresh_token_that_was_never_issued_changes_nothing() {
    let routes = routes(10).await;
    let (refresh, access) = routes.new_session().await;
    // `sub` and `sid` are in clear in every access token; the secret is guessed.
    let claims = claims(&access);
    let (sub, sid) = (
        claims["sub"].as_str().unwrap(),
        claims["sid"].as_str().unwrap(),
    );
    let guess = "A".repeat(43);
    for forged in [
        format!("{sub}.{sid}.{guess}"),
        format!("{sub}.{sid}.0.{guess}"),
        format!("{sub}.{sid}.1.{guess}"),
        format!("{sub}.{sid}.7.{guess}"),
    ] {
        assert_eq!(routes.refresh(&forged).await.unwrap_err(), 401, "{forged}");
    }
    assert_eq!(
        routes.me(&access).await,
        200,
        "the victim's session lives on"
    );
    let (_, access) = routes
        .refresh(&refresh)
        .await
        .expect("the genuine refresh token still works");
    assert_eq!(routes.me(&access).await, 200);
}

#[tokio::test]
async fn inside_the_grace_replays_all_get_the_one_successor() {
    let routes = routes(10).await;
    let (t0, _) = routes.new_session().await;
    let (t1, _) = routes.refresh(&t0).await.unwrap();
    for replay in 0..3 {
        let (again, _) = routes.refresh(&t0).await.expect("inside the grace");
        assert_eq!(again, t1, "replay {replay} gets the same successor");
    }
    // One lineage only: its next rotation works once, and the replays of t0
    // minted nothing that could outlive it.
    let (t2, access) = routes.refresh(&t1).await.unwrap();
    assert_ne!(t2, t1);
    assert_eq!(routes.me(&access).await, 200);
}

/// Fails every attempt of the second kind of DynamoDB write a request
/// makes (whichever comes second), as a store that breaks halfway would.
#[derive(Debug, Clone, Default)]
struct FailSecondWrite(Arc<Mutex<Vec<String>>>);

impl Intercept for FailSecondWrite {
    fn name(&self) -> &'static str {
        "FailSecondWrite"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = xtask::call_log::operation(config);
        let writes = [
            "DynamoDB.BatchWriteItem",
            "DynamoDB.TransactWriteItems",
            "DynamoDB.DeleteItem",
        ];
        if !writes.contains(&operation.as_str()) {
            return Ok(());
        }
        let mut seen = self.0.lock().unwrap();
        if !seen.contains(&operation) {
            seen.push(operation.clone());
        }
        if seen.iter().position(|o| *o == operation) == Some(1) {
            return Err(format!("injected failure of {operation}").into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_logout_all_that_fails_halfway_is_finished_by_its_retry() {
    let routes = routes(10).await;
    let stack = StackInfo::from_env().unwrap();
    let email = routes.new_account().await;
    let (_, caller) = routes.login_again(&email).await;
    let (other_refresh, other) = routes.login_again(&email).await;

    let env = stack.template_environment("logout-all");
    let breaking = {
        let base = xtask::aws_config().await;
        let config = aws_sdk_dynamodb::config::Builder::from(&base)
            .endpoint_url(&stack.dynamodb_endpoint)
            .interceptor(FailSecondWrite::default())
            .build();
        stack
            .aws_clients()
            .await
            .with_dynamodb(aws_sdk_dynamodb::Client::from_conf(config))
    };
    let breaking = Authenticated::<LogoutAll>::build(&env, &breaking)
        .await
        .unwrap();
    let working = Authenticated::<LogoutAll>::build(&env, &stack.aws_clients().await)
        .await
        .unwrap();
    let logout_all = || request("logout-all/bearer.json", None, Some(&caller));
    assert_eq!(
        finish(breaking.handle(logout_all()).await).status(),
        503,
        "the store broke halfway"
    );
    assert_eq!(
        finish(working.handle(logout_all()).await).status(),
        204,
        "the client's retry finishes the job"
    );
    assert_eq!(routes.me(&other).await, 401, "the other session ended");
    assert_eq!(routes.refresh(&other_refresh).await.unwrap_err(), 401);
    assert_eq!(routes.me(&caller).await, 401, "and the caller's");
}
