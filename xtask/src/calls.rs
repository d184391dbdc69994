//! The AWS calls each route makes on its happy path, counted by
//! [`CallLog`], and the budget every route is held to.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use shared::aws::AwsClients;

use crate::call_log::CallLog;
use crate::client::text;
use crate::events::Call;
use crate::handlers::Handler;
use crate::stack::StackInfo;

/// What one route's handler asked of AWS for one request on its happy path.
#[derive(Debug, Clone)]
pub struct RouteCalls {
    /// The function's binary.
    pub binary: String,
    /// Its answer's status.
    pub status: u16,
    /// `Service.Operation`, one per attempt, in order.
    pub calls: Vec<String>,
}

/// Runs every route once, in an order where each finds what it needs (a
/// user, a session, an upload, a job), through handlers built as their
/// functions build them but with clients that log their calls.
struct RouteRun<'a> {
    stack: &'a StackInfo,
    log: CallLog,
    aws: AwsClients,
    seen: Vec<RouteCalls>,
}

impl<'a> RouteRun<'a> {
    async fn step(&mut self, step: Call<'_>) -> Result<Value> {
        let env = self.stack.template_environment(step.binary);
        let handler = Handler::build(step.binary, &env, &self.aws)
            .await?
            .with_context(|| format!("no handler for {}", step.binary))?;
        // Only the request's own calls count, not its cold start's.
        self.log.take();
        let response = handler
            .http(step.request()?)
            .await
            .with_context(|| format!("{} is not a route", step.binary))?;
        let calls = self.log.take();
        let status = response.status().as_u16();
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
        ensure!(
            status < 300,
            "{}: {status} {body} (calls {calls:?})",
            step.binary
        );
        self.seen.push(RouteCalls {
            binary: step.binary.to_string(),
            status,
            calls,
        });
        Ok(body)
    }

    /// A login whose calls are not one of the routes' own (a second session).
    async fn extra_login(&mut self, credentials: &Value) -> Result<Value> {
        let body = self
            .step(Call {
                body: Some(credentials.clone()),
                ..Call::new("login")
            })
            .await?;
        self.seen.pop();
        Ok(body)
    }
}

/// Every route of the service once on its happy path, and what it called.
pub async fn per_route(stack: &StackInfo) -> Result<Vec<RouteCalls>> {
    let log = CallLog::default();
    let aws = stack.aws_clients_logged(&log).await;
    let mut run = RouteRun {
        stack,
        log,
        aws,
        seen: Vec::new(),
    };
    run.step(Call::new("health")).await?;
    run.step(Call::new("jwks")).await?;
    let email = crate::client::unique_email();
    let credentials = json!({"email": email, "password": crate::client::PASSWORD});
    run.step(Call {
        body: Some(credentials.clone()),
        ..Call::new("register")
    })
    .await?;
    let tokens = run
        .step(Call {
            body: Some(credentials.clone()),
            ..Call::new("login")
        })
        .await?;
    let access = text(&tokens, "access_token")?;
    let refresh = text(&tokens, "refresh_token")?;
    run.extra_login(&credentials).await?;
    let token = Some(access.as_str());
    let authed = |binary| Call {
        token,
        ..Call::new(binary)
    };
    run.step(authed("me")).await?;
    run.step(authed("get-cart")).await?;
    run.step(Call {
        headers: &[("if-match", "\"0\"")],
        body: Some(json!({"items": [{"sku": "MUG-01", "quantity": 1}]})),
        ..authed("put-cart")
    })
    .await?;
    let upload = run
        .step(Call {
            body: Some(json!({"filename": "a.txt", "content_type": "text/plain", "size": 3})),
            ..authed("create-upload")
        })
        .await?;
    let upload_id = text(&upload, "upload_id")?;
    run.step(authed("list-uploads")).await?;
    let upload_path = [("upload_id", upload_id.as_str())];
    run.step(Call {
        path: &upload_path,
        ..authed("get-upload")
    })
    .await?;
    let job = run
        .step(Call {
            headers: &[("idempotency-key", "calls-export")],
            body: Some(json!({"type": "export"})),
            ..authed("create-job")
        })
        .await?;
    let job_id = text(&job, "job_id")?;
    run.step(authed("list-jobs")).await?;
    let job_path = [("job_id", job_id.as_str())];
    run.step(Call {
        path: &job_path,
        ..authed("get-job")
    })
    .await?;
    let sessions = run.step(authed("list-sessions")).await?;
    let other_session = sessions["sessions"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["current"] != true))
        .and_then(|s| s["session_id"].as_str())
        .with_context(|| format!("no second session in {sessions}"))?
        .to_string();
    let session_path = [("session_id", other_session.as_str())];
    run.step(Call {
        path: &session_path,
        ..authed("delete-session")
    })
    .await?;
    run.step(Call {
        path: &upload_path,
        ..authed("delete-upload")
    })
    .await?;
    let refreshed = run
        .step(Call {
            body: Some(json!({"refresh_token": refresh})),
            ..Call::new("refresh")
        })
        .await?;
    let access = text(&refreshed, "access_token")?;
    run.step(Call {
        token: Some(&access),
        ..Call::new("logout")
    })
    .await?;
    let last = run.extra_login(&credentials).await?;
    let access = text(&last, "access_token")?;
    run.step(Call {
        token: Some(&access),
        ..Call::new("logout-all")
    })
    .await?;
    Ok(run.seen)
}

/// How many AWS calls a route may make on its happy path, and what they are.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub binary: &'static str,
    pub calls: usize,
    pub why: &'static str,
}

const fn budget(binary: &'static str, calls: usize, why: &'static str) -> Budget {
    Budget { binary, calls, why }
}

/// The budget of every route. "auth" is the check of a bearer route: the
/// session's standing and the per-user rate limit, two calls made at once
/// (one round trip of latency).
pub const BUDGETS: &[Budget] = &[
    budget("health", 0, "none"),
    budget("jwks", 0, "none: the public keys are configuration"),
    budget(
        "register",
        2,
        "per-IP limit, one transaction: the user and the claim on its email",
    ),
    budget(
        "login",
        5,
        "per-IP limit and the failure slot (per email, or per known device) at once, \
         credentials, the session, the slot given back",
    ),
    budget(
        "refresh",
        2,
        "the session, its conditional rotation (no access token: no auth)",
    ),
    budget(
        "logout",
        3,
        "auth, one transaction: session gone, access token revoked",
    ),
    budget(
        "logout-all",
        4,
        "auth, query of the others (+1 batch delete per 25; none here), token revoked with its session",
    ),
    budget("list-sessions", 3, "auth, one query"),
    budget("delete-session", 3, "auth, one conditional delete"),
    budget("me", 3, "auth, the user"),
    budget("get-cart", 3, "auth, the cart"),
    budget("put-cart", 3, "auth, one conditional write"),
    budget(
        "create-upload",
        3,
        "auth, the pending upload's record (presigning is local)",
    ),
    budget("list-uploads", 3, "auth, one query"),
    budget(
        "get-upload",
        3,
        "auth, the record (the download URL is presigned locally)",
    ),
    budget(
        "delete-upload",
        5,
        "auth, the record (for its key), the object, the record",
    ),
    budget(
        "create-job",
        7,
        "auth, the idempotency claim, the job record, the message, the record marked sent, \
         the claim completed",
    ),
    budget("list-jobs", 3, "auth, one query"),
    budget(
        "get-job",
        3,
        "auth, the job (the result URL is presigned locally)",
    ),
];
