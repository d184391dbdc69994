//! The routes of "Accounts, sessions and tokens" in API.md. Each is a struct
//! built once at cold start from the environment (with exactly the
//! variables its function gets in template.yaml) and a `handle` method.

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::auth::{Authenticator, DEFAULT_REQUESTS_PER_USER_PER_MINUTE, per_user_policy};
use super::email::Email;
use super::keys::{KeyError, PublicKeys, SigningKey};
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

/// The refresh cookie's name: `__Host-` pins it to this host, `/` and Secure.
pub const REFRESH_COOKIE: &str = "__Host-refresh_token";
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
    /// The signing key secret could not be read.
    #[error("reading the signing key secret failed: {0}")]
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

fn public_keys(env: &Environment) -> Result<PublicKeys, StartupError> {
    Ok(PublicKeys::from_jwks(env.require("TOKEN_PUBLIC_JWKS")?)?)
}

/// The authenticator of every bearer route, with its per-user budget
/// (`REQUESTS_PER_USER_PER_MINUTE`, default 300; set it per function).
pub fn authenticator(env: &Environment, aws: &AwsClients) -> Result<Authenticator, StartupError> {
    let verifier = AccessTokenVerifier::new(public_keys(env)?, &token_settings(env)?);
    let per_user = per_user_policy(env.parse_or(
        "REQUESTS_PER_USER_PER_MINUTE",
        DEFAULT_REQUESTS_PER_USER_PER_MINUTE,
    )?);
    Ok(Authenticator::new(
        verifier,
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

/// Reads the signing key from Secrets Manager (login and refresh only).
async fn issuer(env: &Environment, aws: &AwsClients) -> Result<AccessTokenIssuer, StartupError> {
    let arn = env.require("SIGNING_KEY_SECRET_ARN")?;
    let secret = aws
        .secrets()
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            StartupError::Secret(StoreError::sdk("SecretsManager.GetSecretValue", e).to_string())
        })?;
    let text = secret
        .secret_string()
        .ok_or_else(|| StartupError::Secret("the secret has no string value".into()))?;
    Ok(AccessTokenIssuer::new(
        SigningKey::from_secret(text)?,
        token_settings(env)?,
    ))
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
    /// Built from `USERS_TABLE`.
    pub fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            users: user_store(env, aws)?,
        })
    }

    /// Creates an account.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let body: RegisterBody = json_body(&request)?;
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
fn token_response(
    issuer: &AccessTokenIssuer,
    session: &SessionRecord,
    refresh: &RefreshToken,
    now: Timestamp,
) -> Result<Response<Body>, Problem> {
    let (access_token, claims) = issuer
        .issue(&session.user_id, &session.session_id, now)
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
    let cookie = format!(
        "{REFRESH_COOKIE}={}; Max-Age={refresh_expires_in}; Path=/; Secure; HttpOnly; SameSite=Strict",
        refresh.expose()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// A `Set-Cookie` that removes the refresh cookie.
fn clear_refresh_cookie(response: &mut Response<Body>) {
    let cookie = format!("{REFRESH_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// `POST /auth/login`.
pub struct Login {
    users: UserStore,
    sessions: SessionStore,
    issuer: AccessTokenIssuer,
    settings: SessionSettings,
    limiter: RateLimiter,
    limits: LoginLimits,
}

/// Login's two limits; both fail closed, since they guard passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Attempts per source IP (default 20 a minute).
    pub per_ip: Policy,
    /// Failed attempts per email (default 5 per 15 minutes).
    pub failures_per_email: Policy,
}

impl LoginLimits {
    fn from_env(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            per_ip: Policy {
                name: "login-ip",
                limit: env.parse_or("LOGIN_ATTEMPTS_PER_IP_PER_MINUTE", 20)?,
                window_seconds: 60,
                when_store_fails: WhenStoreFails::Refuse,
            },
            failures_per_email: Policy {
                name: "login-email",
                limit: env.parse_or("LOGIN_FAILURES_PER_EMAIL", 5)?,
                window_seconds: env.parse_or("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)?,
                when_store_fails: WhenStoreFails::Refuse,
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
    /// Built from the tables, token settings and the signing key secret.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            users: user_store(env, aws)?,
            sessions: session_store(env, aws)?,
            issuer: issuer(env, aws).await?,
            settings: SessionSettings::from_env(env)?,
            limiter: rate_limiter(env, aws)?,
            limits: LoginLimits::from_env(env)?,
        })
    }

    /// Checks the credentials and opens a session, within the login limits.
    ///
    /// Every attempt counts against the source IP. A failure counts against
    /// the email: the attempt takes a slot before the password is checked
    /// (so racing guesses cannot overshoot) and gives it back if it succeeds.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let per_ip = self
            .limiter
            .admit(&self.limits.per_ip, &source_ip(&request))
            .await?;
        let mut quota = per_ip.quota();
        let body: LoginBody = match json_body(&request) {
            Ok(body) => body,
            Err(problem) => return with_rate_limit(Err(problem), quota),
        };
        let email = Email::parse(&body.email).ok();
        let failure_slot = match &email {
            Some(email) => {
                let slot = self
                    .limiter
                    .admit(&self.limits.failures_per_email, email.as_str())
                    .await?;
                quota = match (quota, slot.quota()) {
                    (Some(ip), Some(email)) => Some(ip.tighter(email)),
                    (ip, email) => ip.or(email),
                };
                Some(slot)
            }
            None => None,
        };
        let outcome = self.check_and_open(&request, &body, email.as_ref()).await;
        if let (Ok(_), Some(slot)) = (&outcome, &failure_slot) {
            self.limiter.give_back(slot).await;
        }
        with_rate_limit(outcome, quota)
    }

    async fn check_and_open(
        &self,
        request: &Request,
        body: &LoginBody,
        email: Option<&Email>,
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
            tracing::info!("login refused");
            return Err(invalid_credentials());
        }
        let Some(credentials) = credentials else {
            return Err(invalid_credentials());
        };
        let now = Timestamp::now();
        let session_id = new_id();
        let refresh = RefreshToken::generate(&credentials.user_id, &session_id);
        let expires_at = now.plus(self.settings.absolute_ttl_seconds);
        let session = SessionRecord {
            user_id: credentials.user_id,
            session_id,
            created_at: now,
            last_seen_at: now,
            user_agent: user_agent(request),
            ip: source_ip(request),
            refresh_hash: refresh.hash(),
            previous_hash: None,
            rotated_at: None,
            idle_expires_at: now.plus(self.settings.idle_ttl_seconds).min(expires_at),
            expires_at,
        };
        self.sessions.create(&session).await?;
        tracing::info!(user_id = %session.user_id, session_id = %session.session_id, "session opened");
        token_response(&self.issuer, &session, &refresh, now)
    }
}

/// `POST /auth/refresh`.
pub struct Refresh {
    sessions: SessionStore,
    issuer: AccessTokenIssuer,
    settings: SessionSettings,
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

fn refresh_cookie(request: &Request) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == REFRESH_COOKIE)
        .map(|(_, value)| value.to_string())
}

impl Refresh {
    /// Built from the sessions table, token settings and the signing key secret.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            sessions: session_store(env, aws)?,
            issuer: issuer(env, aws).await?,
            settings: SessionSettings::from_env(env)?,
        })
    }

    /// Rotates the refresh token; a rotated-away token revokes its session.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let presented = if request.body().is_empty() {
            refresh_cookie(&request).ok_or_else(|| {
                Problem::invalid_body("send {\"refresh_token\": ...} or the refresh cookie")
            })?
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
        let presented_hash = token.hash();
        let next = RefreshToken::generate(token.user_id(), token.session_id());

        let rotated = if same(&presented_hash, &session.refresh_hash) {
            // A false here means a concurrent refresh with this token won: not reuse.
            self.sessions
                .rotate(
                    &session,
                    &presented_hash,
                    &next.hash(),
                    now,
                    self.settings.idle_ttl_seconds,
                )
                .await?
        } else if self.within_grace(&session, &presented_hash, now) {
            self.sessions
                .rotate_within_grace(&session, &next.hash(), now)
                .await?
        } else {
            // A token that was rotated away is being replayed: whoever holds it,
            // the session can no longer be trusted.
            self.sessions
                .delete(&session.user_id, &session.session_id)
                .await?;
            tracing::warn!(user_id = %session.user_id, session_id = %session.session_id, "refresh token reuse: session revoked");
            false
        };
        if !rotated {
            return Err(invalid_refresh_token());
        }
        let session = SessionRecord {
            idle_expires_at: now
                .plus(self.settings.idle_ttl_seconds)
                .min(session.expires_at),
            ..session
        };
        token_response(&self.issuer, &session, &next, now)
    }

    fn within_grace(&self, session: &SessionRecord, presented_hash: &str, now: Timestamp) -> bool {
        let grace = self.settings.refresh_grace_seconds;
        match (&session.previous_hash, session.rotated_at) {
            (Some(previous), Some(rotated_at)) => {
                grace > 0
                    && same(presented_hash, previous)
                    && now.0 <= rotated_at.0.saturating_add(grace)
            }
            _ => false,
        }
    }
}

/// Constant-time equality of two hashes.
fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// `POST /auth/logout`.
pub struct Logout {
    auth: Authenticator,
}

impl Logout {
    /// Built from the tables and the public keys.
    pub fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws)?,
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
                clear_refresh_cookie(&mut response);
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
    pub fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws)?,
        })
    }

    /// Ends every session of the caller: every token issued before now is refused.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        self.auth
            .authenticated(&request, |caller| async move {
                let sessions = self.auth.sessions();
                sessions
                    .revoke_token_and_end_session(&caller.claims)
                    .await?;
                sessions.delete_all(caller.user_id()).await?;
                tracing::info!(user_id = %caller.user_id(), "logged out everywhere");
                let mut response = no_content();
                clear_refresh_cookie(&mut response);
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
    pub fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws)?,
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
    pub fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws)?,
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
    pub fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws)?,
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
    keys: PublicKeys,
}

impl Jwks {
    /// Built from `TOKEN_PUBLIC_JWKS`.
    pub fn new(env: &Environment) -> Result<Self, StartupError> {
        Ok(Self {
            keys: public_keys(env)?,
        })
    }

    /// The public keys, cacheable for five minutes.
    pub async fn handle(&self, _request: Request) -> Result<Response<Body>, Problem> {
        let mut response = json(StatusCode::OK, self.keys.jwks())?;
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
