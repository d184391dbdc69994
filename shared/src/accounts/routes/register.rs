//! `POST /auth/register`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use super::me::UserView;
use super::startup::{StartupError, rate_limiter, user_store};
use crate::accounts::email::Email;
use crate::accounts::password::Password;
use crate::accounts::users::{RegisterError, UserProfile, UserStore};
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, ProblemCode, json, json_body, no_store, source_ip};
use crate::ids::UserId;
use crate::ratelimit::{Policy, RateLimiter, WhenStoreFails, with_rate_limit};
use crate::route::{Calls, Route};
use crate::time::Timestamp;

/// Longest display name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// `POST /auth/register`.
pub struct Register {
    users: UserStore,
    limiter: RateLimiter,
    per_ip: Policy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
}

fn parse_name(raw: Option<String>) -> Result<Option<String>, Problem> {
    let Some(name) = raw.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::InvalidName,
            "The name is invalid",
            format!(
                "`name` must be at most {MAX_NAME_CHARS} characters, without control characters"
            ),
        ));
    }
    Ok(Some(name))
}

impl Register {
    async fn create(&self, request: &Request) -> Result<Response<Body>, Problem> {
        let body: RegisterBody = json_body(request)?;
        let email = Email::parse(&body.email).map_err(|reason| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::InvalidEmail,
                "The email is invalid",
                reason,
            )
        })?;
        let password = Password::parse(body.password).map_err(|reason| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::InvalidPassword,
                "The password is too weak",
                reason,
            )
        })?;
        let name = parse_name(body.name)?;
        let hash = password.hash().map_err(|error| {
            tracing::error!(%error, "hashing a password failed");
            Problem::internal()
        })?;
        let profile = UserProfile {
            user_id: UserId::new(),
            email: email.as_str().to_string(),
            name,
            created_at: Timestamp::now(),
        };
        match self.users.create(&profile, &email, &hash).await {
            Ok(()) => {}
            Err(RegisterError::EmailTaken) => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    ProblemCode::EmailTaken,
                    "The email is taken",
                    "an account with this email exists",
                ));
            }
            Err(RegisterError::Store(error)) => return Err(error.into()),
        }
        tracing::info!(user_id = %profile.user_id, "account created");
        Ok(no_store(json(
            StatusCode::CREATED,
            &UserView::from(profile),
        )?))
    }
}

impl Route for Register {
    const CALLS: Calls = Calls::new(
        2,
        "the per-IP limit, one transaction: the user and the claim on its email",
    );

    /// Built from `USERS_TABLE` and `RATE_LIMITS_TABLE`; at most
    /// `REGISTER_ATTEMPTS_PER_IP_PER_HOUR` attempts (default 20) per source IP.
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            users: user_store(env, aws)?,
            limiter: rate_limiter(env, aws)?,
            per_ip: Policy {
                name: "register-ip",
                limit: env.parse_or("REGISTER_ATTEMPTS_PER_IP_PER_HOUR", 20)?,
                window_seconds: 3600,
                // Every attempt costs an argon2id hash, and a 409 tells
                // whether an email has an account: closed when unsure.
                when_store_fails: WhenStoreFails::Refuse,
            },
        })
    }

    /// Creates an account, within the per-IP limit (every attempt counts).
    async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let admitted = self
            .limiter
            .admit(&self.per_ip, &source_ip(&request))
            .await?;
        with_rate_limit(self.create(&request).await, admitted.quota())
    }
}
