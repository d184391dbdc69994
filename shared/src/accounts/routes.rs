//! The routes of "Accounts, sessions and tokens" in API.md. Each is a struct
//! built once at cold start from the environment (with exactly the
//! variables its function gets in template.yaml) and a `handle` method.

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::account_key::{AccountKeyError, AccountKeys};
use super::auth::{Authenticator, DEFAULT_REQUESTS_PER_USER_PER_MINUTE, per_user_policy};
use super::cookies::{self, AllowedOrigins, DeviceCookie};
use super::email::Email;
use super::keys::KeyError;
use super::keystore::{KeyStoreError, SigningKeys, VerifyingKeys};
use super::password::{self, Password};
use super::sessions::{SessionRecord, SessionStore};
use super::tokens::{AccessTokenIssuer, AccessTokenVerifier, RefreshToken, TokenSettings};
use super::users::{RegisterError, UserProfile, UserStore};
use crate::aws::{AwsClients, StoreError};
use crate::config::{ConfigError, Environment};
use crate::http::{Problem, json, json_body, no_content, no_store, path_id, source_ip};
use crate::ids::new_id;
use crate::ratelimit::{Policy, RateLimiter, WhenStoreFails, with_rate_limit};
use crate::time::Timestamp;

pub use super::cookies::REFRESH_COOKIE;
/// Longest display name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signing keys could not be read.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// The account key is unusable.
    #[error(transparent)]
    AccountKey(#[from] AccountKeyError),
    /// A secret could not be read.
    #[error("reading a secret failed: {0}")]
    Secret(String),
    /// The AWS configuration lacks something the function needs.
    #[error("AWS configuration: {0}")]
    Aws(&'static str),
}

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
    fn from_env(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            idle_ttl_seconds: env.parse_or("SESSION_IDLE_TTL_SECONDS", 7 * 24 * 3600)?,
            absolute_ttl_seconds: env.parse_or("SESSION_ABSOLUTE_TTL_SECONDS", 30 * 24 * 3600)?,
            refresh_grace_seconds: env.parse_or("REFRESH_GRACE_SECONDS", 10)?,
        })
    }
}

fn token_settings(env: &Environment) -> Result<TokenSettings, ConfigError> {
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
        session_store(env, aws)?,
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

/// What the token-minting functions (login and refresh only) read from
/// Secrets Manager at cold start, both secrets at once: the signing keys
/// (kept for a bounded time, so a rotation reaches a warm function) and the
/// account key.
async fn minting_keys(
    env: &Environment,
    aws: &AwsClients,
) -> Result<(Minting, AccountKeys), StartupError> {
    let arn = env.require("ACCOUNT_KEY_SECRET_ARN")?;
    let (signing, account) = tokio::join!(SigningKeys::load(env, aws), async {
        aws.secrets()
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| {
                StartupError::Secret(
                    StoreError::sdk("SecretsManager.GetSecretValue", e).to_string(),
                )
            })
    });
    let account = account?;
    let text = account
        .secret_string()
        .ok_or_else(|| StartupError::Secret("the secret has no string value".into()))?;
    let minting = Minting {
        issuer: AccessTokenIssuer::new(token_settings(env)?),
        keys: signing?,
    };
    Ok((minting, AccountKeys::from_secret(text)?))
}

/// Signs access tokens with the current signing key.
struct Minting {
    issuer: AccessTokenIssuer,
    keys: SigningKeys,
}

fn user_agent(request: &Request) -> String {
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    agent.chars().take(256).collect()
}

/// The public view of a user.
#[derive(Debug, Serialize)]
pub(crate) struct UserView {
    user_id: String,
    email: String,
    name: Option<String>,
    created_at: String,
}

impl From<UserProfile> for UserView {
    fn from(profile: UserProfile) -> Self {
        Self {
            user_id: profile.user_id,
            email: profile.email,
            name: profile.name,
            created_at: profile.created_at.rfc3339(),
        }
    }
}

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
            "invalid_name",
            "The name is invalid",
            format!(
                "`name` must be at most {MAX_NAME_CHARS} characters, without control characters"
            ),
        ));
    }
    Ok(Some(name))
}

impl Register {
    /// Built from `USERS_TABLE` and `RATE_LIMITS_TABLE`; at most
    /// `REGISTER_ATTEMPTS_PER_IP_PER_HOUR` attempts (default 20) per source IP.
    pub fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
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
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let admitted = self
            .limiter
            .admit(&self.per_ip, &source_ip(&request))
            .await?;
        with_rate_limit(self.create(&request).await, admitted.quota())
    }

    async fn create(&self, request: &Request) -> Result<Response<Body>, Problem> {
        let body: RegisterBody = json_body(request)?;
        let email = Email::parse(&body.email).map_err(|reason| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_email",
                "The email is invalid",
                reason,
            )
        })?;
        let password = Password::parse(body.password).map_err(|reason| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_password",
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
            user_id: new_id(),
            email: email.as_str().to_string(),
            name,
            created_at: Timestamp::now(),
        };
        match self.users.create(&profile, &email, &hash).await {
            Ok(()) => {}
            Err(RegisterError::EmailTaken) => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "email_taken",
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

/// The body of login and refresh answers.
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    refresh_expires_in: u64,
    session_id: String,
}

/// Issues an access token and answers with both tokens, body and cookie.
async fn token_response(
    minting: &Minting,
    session: &SessionRecord,
    refresh: &RefreshToken,
    now: Timestamp,
) -> Result<Response<Body>, Problem> {
    let key = minting.keys.current().await.map_err(|error| {
        tracing::error!(%error, "the signing key could not be read");
        Problem::service_unavailable(1)
    })?;
    let (access_token, claims) = minting
        .issuer
        .issue(&key, &session.user_id, &session.session_id, now)
        .map_err(|error| {
            tracing::error!(%error, "signing an access token failed");
            Problem::internal()
        })?;
    let refresh_expires_in = session.ends_at().0.saturating_sub(now.0);
    let body = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        refresh_token: refresh.expose().to_string(),
        refresh_expires_in,
        session_id: session.session_id.clone(),
    };
    let mut response = no_store(json(StatusCode::OK, &body)?);
    cookies::set_refresh(&mut response, refresh.expose(), refresh_expires_in);
    Ok(response)
}

/// `POST /auth/login`.
pub struct Login {
    users: UserStore,
    sessions: SessionStore,
    minting: Minting,
    keys: AccountKeys,
    settings: SessionSettings,
    limiter: RateLimiter,
    limits: LoginLimits,
}

/// Login's limits; all fail closed, since they guard passwords.
///
/// Failures are counted per device that logged in to the account before
/// (its device cookie) or, for every other client together, per email
/// (OWASP's device cookies). Guesses from anywhere can lock an email out of
/// unknown devices for a window, never out of a device it has used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Attempts per source IP (default 20 a minute).
    pub per_ip: Policy,
    /// Failed attempts per email from clients without its device cookie
    /// (default 5 per 15 minutes).
    pub failures_per_email: Policy,
    /// Failed attempts per known device (the same budget, its own count).
    pub failures_per_device: Policy,
}

impl LoginLimits {
    fn from_env(env: &Environment) -> Result<Self, ConfigError> {
        let failures = Policy {
            name: "login-email",
            limit: env.parse_or("LOGIN_FAILURES_PER_EMAIL", 5)?,
            window_seconds: env.parse_or("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)?,
            when_store_fails: WhenStoreFails::Refuse,
        };
        Ok(Self {
            per_ip: Policy {
                name: "login-ip",
                limit: env.parse_or("LOGIN_ATTEMPTS_PER_IP_PER_MINUTE", 20)?,
                window_seconds: 60,
                when_store_fails: WhenStoreFails::Refuse,
            },
            failures_per_email: failures,
            failures_per_device: Policy {
                name: "login-device",
                ..failures
            },
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

fn invalid_credentials() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "Invalid credentials",
        "the email or the password is wrong",
    )
}

impl Login {
    /// Built from the tables, token settings and the two secrets.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let (minting, keys) = minting_keys(env, aws).await?;
        Ok(Self {
            users: user_store(env, aws)?,
            sessions: session_store(env, aws)?,
            minting,
            keys,
            settings: SessionSettings::from_env(env)?,
            limiter: rate_limiter(env, aws)?,
            limits: LoginLimits::from_env(env)?,
        })
    }

    /// Checks the credentials and opens a session, within the login limits.
    ///
    /// Every attempt counts against the source IP. A failure counts against
    /// the device or the email: the attempt takes a slot before the password
    /// is checked (so racing guesses cannot overshoot) and gives it back if
    /// it succeeds. Both counts go out at once: one round trip.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let ip = source_ip(&request);
        let body = json_body::<LoginBody>(&request);
        let email = body
            .as_ref()
            .ok()
            .and_then(|body| Email::parse(&body.email).ok());
        let device = email
            .as_ref()
            .and_then(|email| DeviceCookie::presented(&request, &self.keys, email.as_str()));
        let failure_slot = async {
            match (&email, &device) {
                (None, _) => None,
                (Some(_), Some(device)) => Some(
                    self.limiter
                        .admit(&self.limits.failures_per_device, device.id())
                        .await,
                ),
                (Some(email), None) => Some(
                    self.limiter
                        .admit(&self.limits.failures_per_email, email.as_str())
                        .await,
                ),
            }
        };
        let (per_ip, failure_slot) =
            tokio::join!(self.limiter.admit(&self.limits.per_ip, &ip), failure_slot);
        let digest = || {
            email
                .as_ref()
                .map_or_else(|| "-".to_string(), |e| self.keys.log_digest(e.as_str()))
        };
        let per_ip = match per_ip {
            Ok(per_ip) => per_ip,
            Err(problem) => {
                // Refused before any password was checked: no failure to count.
                if let Some(Ok(slot)) = &failure_slot {
                    self.limiter.give_back(slot).await;
                }
                return Err(problem);
            }
        };
        let slot = match failure_slot.transpose() {
            Ok(slot) => slot,
            Err(problem) => {
                if problem.status() == StatusCode::TOO_MANY_REQUESTS {
                    tracing::warn!(%ip, email_digest = %digest(), known_device = device.is_some(), "login locked out");
                }
                return Err(problem);
            }
        };
        let quota = match (per_ip.quota(), slot.as_ref().and_then(|s| s.quota())) {
            (Some(ip), Some(email)) => Some(ip.tighter(email)),
            (ip, email) => ip.or(email),
        };
        let body = match body {
            Ok(body) => body,
            Err(problem) => return with_rate_limit(Err(problem), quota),
        };
        let outcome = self
            .check_and_open(&request, &body, email.as_ref(), device)
            .await;
        match (&outcome, &slot) {
            (Ok(_), Some(slot)) => self.limiter.give_back(slot).await,
            (Err(problem), _) if problem.code() == "invalid_credentials" => {
                tracing::info!(%ip, email_digest = %digest(), "login refused");
            }
            _ => {}
        }
        with_rate_limit(outcome, quota)
    }

    async fn check_and_open(
        &self,
        request: &Request,
        body: &LoginBody,
        email: Option<&Email>,
        device: Option<DeviceCookie>,
    ) -> Result<Response<Body>, Problem> {
        if body.password.chars().count() > password::MAX_CHARS {
            return Err(invalid_credentials());
        }
        let credentials = match email {
            Some(email) => self.users.credentials(email).await?,
            None => None,
        };
        // Unknown emails are checked against a dummy hash: same answer, same time.
        if !password::verify(
            &body.password,
            credentials.as_ref().map(|c| c.password_hash.as_str()),
        ) {
            return Err(invalid_credentials());
        }
        let (Some(credentials), Some(email)) = (credentials, email) else {
            return Err(invalid_credentials());
        };
        let now = Timestamp::now();
        let session_id = new_id();
        let expires_at = now.plus(self.settings.absolute_ttl_seconds);
        let session = SessionRecord {
            user_id: credentials.user_id,
            session_id,
            created_at: now,
            last_seen_at: now,
            user_agent: user_agent(request),
            ip: source_ip(request),
            refresh_nonce: new_id(),
            refresh_generation: 0,
            rotated_at: None,
            idle_expires_at: now.plus(self.settings.idle_ttl_seconds).min(expires_at),
            expires_at,
        };
        self.sessions.create(&session).await?;
        tracing::info!(user_id = %session.user_id, session_id = %session.session_id, "session opened");
        let refresh = current_refresh_token(&self.keys, &session);
        let mut response = token_response(&self.minting, &session, &refresh, now).await?;
        // A device that logs in becomes (or stays) a known device of the account.
        device
            .unwrap_or_else(|| DeviceCookie::issue(&self.keys, email.as_str()))
            .set_on(&mut response);
        Ok(response)
    }
}

/// The refresh token of `session`'s current generation.
fn current_refresh_token(keys: &AccountKeys, session: &SessionRecord) -> RefreshToken {
    RefreshToken::issue(
        keys,
        &session.user_id,
        &session.session_id,
        &session.refresh_nonce,
        session.refresh_generation,
    )
}

/// `POST /auth/refresh`.
pub struct Refresh {
    sessions: SessionStore,
    minting: Minting,
    keys: AccountKeys,
    settings: SessionSettings,
    origins: AllowedOrigins,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

fn invalid_refresh_token() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
        "Invalid refresh token",
        "the refresh token is invalid, expired, revoked or already used",
    )
}

fn origin_not_allowed() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "origin_not_allowed",
        "The request's origin may not use the refresh cookie",
        "the refresh cookie is accepted only from the API's own origin or an allowed one; \
         send {\"refresh_token\": ...} in the body otherwise",
    )
}

impl Refresh {
    /// Built from the sessions table, token settings, the two secrets and
    /// `ALLOWED_ORIGINS`.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let (minting, keys) = minting_keys(env, aws).await?;
        Ok(Self {
            sessions: session_store(env, aws)?,
            minting,
            keys,
            settings: SessionSettings::from_env(env)?,
            origins: AllowedOrigins::from_env(env)?,
        })
    }

    /// Rotates the refresh token. An older token that this session was
    /// issued is reuse and revokes the session; a token it was never issued
    /// is refused and changes nothing.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let presented = if request.body().is_empty() {
            let cookie = cookies::read(&request, REFRESH_COOKIE).ok_or_else(|| {
                Problem::invalid_body("send {\"refresh_token\": ...} or the refresh cookie")
            })?;
            if !self.origins.admit(&request) {
                tracing::warn!(ip = %source_ip(&request), "refresh cookie refused: cross-origin request");
                return Err(origin_not_allowed());
            }
            cookie
        } else {
            json_body::<RefreshBody>(&request)?.refresh_token
        };
        let token = RefreshToken::parse(&presented).ok_or_else(invalid_refresh_token)?;
        let now = Timestamp::now();
        let session = self
            .sessions
            .get(token.user_id(), token.session_id(), now)
            .await?
            .ok_or_else(invalid_refresh_token)?;
        if !token.was_issued(&self.keys, &session.refresh_nonce) {
            tracing::info!(session_id = %session.session_id, "refresh token refused: never issued");
            return Err(invalid_refresh_token());
        }
        let current = session.refresh_generation;
        let presented = token.generation();
        let session = if presented == current {
            // A false here means a concurrent refresh with this token won: not reuse.
            let idle = self.settings.idle_ttl_seconds;
            if !self.sessions.rotate(&session, current, now, idle).await? {
                return Err(invalid_refresh_token());
            }
            SessionRecord {
                refresh_generation: current + 1,
                idle_expires_at: now.plus(idle).min(session.expires_at),
                ..session
            }
        } else if presented.saturating_add(1) == current && self.within_grace(&session, now) {
            // The answer to the last rotation was lost: the same successor
            // again, nothing written, so replays never fork the session.
            session
        } else if presented < current {
            // A token that was rotated away is being replayed: whoever holds it,
            // the session can no longer be trusted.
            self.sessions
                .delete(&session.user_id, &session.session_id)
                .await?;
            tracing::warn!(user_id = %session.user_id, session_id = %session.session_id, "refresh token reuse: session revoked");
            return Err(invalid_refresh_token());
        } else {
            // Verified, yet ahead of the session: only the key's holder could make it.
            tracing::error!(session_id = %session.session_id, "refresh token from the future refused");
            return Err(invalid_refresh_token());
        };
        let next = current_refresh_token(&self.keys, &session);
        token_response(&self.minting, &session, &next, now).await
    }

    fn within_grace(&self, session: &SessionRecord, now: Timestamp) -> bool {
        let grace = self.settings.refresh_grace_seconds;
        grace > 0
            && session
                .rotated_at
                .is_some_and(|rotated_at| now.0 <= rotated_at.0.saturating_add(grace))
    }
}

/// `POST /auth/logout`.
pub struct Logout {
    auth: Authenticator,
}

impl Logout {
    /// Built from the tables and the public keys.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws).await?,
        })
    }

    /// Ends this session and refuses this access token from now on.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        self.auth
            .authenticated(&request, |caller| async move {
                self.auth
                    .sessions()
                    .revoke_token_and_end_session(&caller.claims)
                    .await?;
                tracing::info!(session_id = %caller.session_id(), "logged out");
                let mut response = no_content();
                cookies::clear_refresh(&mut response);
                Ok(response)
            })
            .await
    }
}

/// `POST /auth/logout-all`.
pub struct LogoutAll {
    auth: Authenticator,
}

impl LogoutAll {
    /// Built from the tables and the public keys.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws).await?,
        })
    }

    /// Ends every session of the caller: every token issued before now is refused.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        self.auth
            .authenticated(&request, |caller| async move {
                let sessions = self.auth.sessions();
                // The others first, the caller's own last: if a step fails,
                // the caller's token still works and a retry finishes the job.
                sessions
                    .delete_all_but(caller.user_id(), caller.session_id())
                    .await?;
                sessions
                    .revoke_token_and_end_session(&caller.claims)
                    .await?;
                tracing::info!(user_id = %caller.user_id(), "logged out everywhere");
                let mut response = no_content();
                cookies::clear_refresh(&mut response);
                Ok(response)
            })
            .await
    }
}

/// One entry of `GET /auth/sessions` (and of an export, without `current`).
#[derive(Debug, Serialize)]
pub(crate) struct SessionView {
    session_id: String,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    user_agent: String,
    ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<bool>,
}

impl SessionView {
    /// The view of `session`; `current` says whether it is the caller's own.
    pub(crate) fn of(session: SessionRecord, current: Option<bool>) -> Self {
        Self {
            created_at: session.created_at.rfc3339(),
            last_seen_at: session.last_seen_at.rfc3339(),
            expires_at: session.ends_at().rfc3339(),
            session_id: session.session_id,
            user_agent: session.user_agent,
            ip: session.ip,
            current,
        }
    }
}

/// `GET /auth/sessions`.
pub struct ListSessions {
    auth: Authenticator,
}

impl ListSessions {
    /// Built from the tables and the public keys.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws).await?,
        })
    }

    /// The caller's live sessions, newest first.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        self.auth
            .authenticated(&request, |caller| async move {
                let mut sessions = self
                    .auth
                    .sessions()
                    .list(caller.user_id(), Timestamp::now())
                    .await?;
                sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
                let views: Vec<SessionView> = sessions
                    .into_iter()
                    .map(|s| {
                        let current = s.session_id == caller.session_id();
                        SessionView::of(s, Some(current))
                    })
                    .collect();
                Ok(no_store(json(
                    StatusCode::OK,
                    &serde_json::json!({ "sessions": views }),
                )?))
            })
            .await
    }
}

/// `DELETE /auth/sessions/{session_id}`.
pub struct DeleteSession {
    auth: Authenticator,
}

impl DeleteSession {
    /// Built from the tables and the public keys.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws).await?,
        })
    }

    /// Ends one of the caller's sessions; anyone else's is 404.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let request = &request;
        self.auth
            .authenticated(request, |caller| async move {
                let not_found = || Problem::not_found("no such session");
                let session_id = path_id(request, "session_id").ok_or_else(not_found)?;
                let deleted = self
                    .auth
                    .sessions()
                    .delete(caller.user_id(), &session_id)
                    .await?;
                if !deleted {
                    return Err(not_found());
                }
                tracing::info!(%session_id, "session ended");
                Ok(no_content())
            })
            .await
    }
}

/// `GET /me`.
pub struct Me {
    auth: Authenticator,
    users: UserStore,
}

impl Me {
    /// Built from the tables and the public keys.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws).await?,
            users: user_store(env, aws)?,
        })
    }

    /// The caller's profile.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        self.auth
            .authenticated(&request, |caller| async move {
                let profile = self
                    .users
                    .profile(caller.user_id())
                    .await?
                    .ok_or_else(super::auth::unauthorized)?;
                Ok(no_store(json(StatusCode::OK, &UserView::from(profile))?))
            })
            .await
    }
}

/// `GET /.well-known/jwks.json`.
pub struct Jwks {
    keys: VerifyingKeys,
}

impl Jwks {
    /// Built from `TOKEN_KEYS_TABLE`: the published keys.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            keys: VerifyingKeys::load(env, aws).await?,
        })
    }

    /// The published keys (previous, current and next), cacheable for five minutes.
    pub async fn handle(&self, _request: Request) -> Result<Response<Body>, Problem> {
        let keys = self.keys.current().await.map_err(|error| {
            tracing::error!(%error, "the published keys could not be read");
            Problem::service_unavailable(1)
        })?;
        let mut response = json(StatusCode::OK, keys.jwks())?;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        Ok(response)
    }
}
