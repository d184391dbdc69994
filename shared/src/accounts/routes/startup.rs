//! What the account routes are built from at cold start: the session
//! settings, and the stores and authenticator each route takes.

use lambda_http::Request;
use lambda_http::http::header::{self};

use crate::accounts::auth::{Authenticator, DEFAULT_REQUESTS_PER_USER_PER_MINUTE, per_user_policy};
use crate::accounts::keystore::VerifyingKeys;
use crate::accounts::sessions::SessionStore;
use crate::accounts::tokens::{AccessTokenVerifier, TokenSettings};
use crate::accounts::users::UserStore;
use crate::aws::AwsClients;
use crate::config::{ConfigError, Environment};
use crate::ratelimit::RateLimiter;
pub use crate::startup::StartupError;

/// How long sessions live, and how long a rotated-away refresh token still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Idle expiry, slid forward by every refresh (default 7 days).
    pub idle_ttl_seconds: u64,
    /// Absolute expiry from login, also the item's TTL (default 30 days).
    pub absolute_ttl_seconds: u64,
    /// Grace for presenting the immediately preceding refresh token again (default 10 s).
    pub refresh_grace_seconds: u64,
}

impl SessionSettings {
    pub(super) fn from_env(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            idle_ttl_seconds: env.parse_or("SESSION_IDLE_TTL_SECONDS", 7 * 24 * 3600)?,
            absolute_ttl_seconds: env.parse_or("SESSION_ABSOLUTE_TTL_SECONDS", 30 * 24 * 3600)?,
            refresh_grace_seconds: env.parse_or("REFRESH_GRACE_SECONDS", 10)?,
        })
    }
}

pub(super) fn token_settings(env: &Environment) -> Result<TokenSettings, ConfigError> {
    Ok(TokenSettings {
        issuer: env.require("TOKEN_ISSUER")?.to_string(),
        audience: env.require("TOKEN_AUDIENCE")?.to_string(),
        access_ttl_seconds: env.parse_or("ACCESS_TOKEN_TTL_SECONDS", 900)?,
    })
}

/// The authenticator of every bearer route, with its per-user budget
/// (`REQUESTS_PER_USER_PER_MINUTE`, default 300: one count per user, which
/// a function may refuse at another level). Reads the published keys.
pub async fn authenticator(
    env: &Environment,
    aws: &AwsClients,
) -> Result<Authenticator, StartupError> {
    let verifier = AccessTokenVerifier::new(&token_settings(env)?);
    let per_user = per_user_policy(env.parse_or(
        "REQUESTS_PER_USER_PER_MINUTE",
        DEFAULT_REQUESTS_PER_USER_PER_MINUTE,
    )?);
    Ok(Authenticator::new(
        verifier,
        VerifyingKeys::load(env, aws).await?,
        session_store(env, aws)?.with_roles_from(env.require("USERS_TABLE")?),
        rate_limiter(env, aws)?,
        per_user,
    ))
}

/// The rate limiter counting in `RATE_LIMITS_TABLE`.
pub fn rate_limiter(env: &Environment, aws: &AwsClients) -> Result<RateLimiter, ConfigError> {
    Ok(RateLimiter::new(
        aws.dynamodb().clone(),
        env.require("RATE_LIMITS_TABLE")?,
    ))
}

pub(crate) fn session_store(
    env: &Environment,
    aws: &AwsClients,
) -> Result<SessionStore, ConfigError> {
    Ok(SessionStore::new(
        aws.dynamodb().clone(),
        env.require("SESSIONS_TABLE")?,
        env.require("REVOKED_TOKENS_TABLE")?,
    ))
}

pub(crate) fn user_store(env: &Environment, aws: &AwsClients) -> Result<UserStore, ConfigError> {
    Ok(UserStore::new(
        aws.dynamodb().clone(),
        env.require("USERS_TABLE")?,
    ))
}

pub(super) fn user_agent(request: &Request) -> String {
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    agent.chars().take(256).collect()
}
