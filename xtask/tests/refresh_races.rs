//! Refresh-token rotation under concurrency, against the stack's DynamoDB,
//! with the handlers built in-process from their template environment and a
//! grace period of the test's choosing.

// In tests a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

mod support;

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::accounts::routes::{Login, Me, Refresh, Register};
use shared::config::Environment;
use shared::http::finish;
use support::unique_email;
use xtask::stack::StackInfo;

const PASSWORD: &str = "correct horse battery staple";

struct Routes {
    register: Register,
    login: Login,
    refresh: Refresh,
    me: Me,
}

async fn routes(grace_seconds: u64) -> Arc<Routes> {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let env = |binary: &str| stack.template_environment(binary);
    let mut refresh_env = stack.function_env["refresh"].clone();
    refresh_env.insert("REFRESH_GRACE_SECONDS".into(), grace_seconds.to_string());
    Arc::new(Routes {
        register: Register::new(&env("register"), &aws).unwrap(),
        login: Login::new(&env("login"), &aws).await.unwrap(),
        refresh: Refresh::new(&Environment::from_pairs(refresh_env), &aws)
            .await
            .unwrap(),
        me: Me::new(&env("me"), &aws).unwrap(),
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
    /// Registers a fresh user and logs in: (refresh token, access token).
    async fn new_session(&self) -> (String, String) {
        let email = unique_email();
        let body = json!({"email": email, "password": PASSWORD});
        let (status, _) = parse(finish(
            self.register
                .handle(request(
                    "register/create-account.json",
                    Some(body.clone()),
                    None,
                ))
                .await,
        ));
        assert_eq!(status, 201);
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
    assert_ne!(t1, t1b);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    // Outside the grace it is reuse: refused, and the whole session is revoked.
    assert_eq!(routes.refresh(&t0).await.unwrap_err(), 401);
    assert_eq!(
        routes.refresh(&t1b).await.unwrap_err(),
        401,
        "the session is revoked"
    );
}

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
    let email = unique_email();
    let body = json!({"email": email, "password": PASSWORD});
    parse(finish(
        routes
            .register
            .handle(request("register/create-account.json", Some(body), None))
            .await,
    ));
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
