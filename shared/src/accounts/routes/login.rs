//! `POST /auth/login`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use super::issuing::{Minting, current_refresh_token, minting_keys, token_response};
use super::startup::{
    SessionSettings, StartupError, rate_limiter, session_store, user_agent, user_store,
};
use crate::accounts::account_key::AccountKeys;
use crate::accounts::cookies::DeviceCookie;
use crate::accounts::email::Email;
use crate::accounts::password::{self};
use crate::accounts::sessions::{SessionRecord, SessionStore};
use crate::accounts::users::UserStore;
use crate::aws::AwsClients;
use crate::config::{ConfigError, Environment};
use crate::http::{Problem, ProblemCode, json_body, source_ip};
use crate::ids::{SessionId, new_id};
use crate::ratelimit::{Policy, RateLimiter, WhenStoreFails, with_rate_limit};
use crate::route::{Calls, Route};
use crate::time::Timestamp;

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
        ProblemCode::InvalidCredentials,
        "Invalid credentials",
        "the email or the password is wrong",
    )
}

impl Login {
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
        let session_id = SessionId::new();
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
        let mut response = token_response(&self.minting, &session, &refresh, now, request).await?;
        // A device that logs in becomes (or stays) a known device of the account.
        device
            .unwrap_or_else(|| DeviceCookie::issue(&self.keys, email.as_str()))
            .set_on(&mut response);
        Ok(response)
    }
}

impl Route for Login {
    const CALLS: Calls = Calls::new(
        5,
        "the per-IP limit and the failure slot (per email, or per known device) at once, \
         the credentials, the session, the slot given back",
    )
    .in_round_trips(4);

    /// Built from the tables, token settings and the two secrets.
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
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

    /// Its first wave is two counters at once: two connections.
    async fn preconnect(&self) {
        self.users.preconnect(2).await;
    }

    /// Checks the credentials and opens a session, within the login limits.
    ///
    /// Every attempt counts against the source IP. A failure counts against
    /// the device or the email: the attempt takes a slot before the password
    /// is checked (so racing guesses cannot overshoot) and gives it back if
    /// it succeeds. Both counts go out at once: one round trip.
    async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
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
            (Err(problem), _) if problem.is(ProblemCode::InvalidCredentials) => {
                tracing::info!(%ip, email_digest = %digest(), "login refused");
            }
            _ => {}
        }
        with_rate_limit(outcome, quota)
    }
}
