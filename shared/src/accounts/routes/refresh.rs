//! `POST /auth/refresh`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use super::issuing::{Minting, current_refresh_token, minting_keys, token_response};
use super::startup::{SessionSettings, StartupError, session_store};
use crate::accounts::account_key::AccountKeys;
use crate::accounts::cookies::{self, AllowedOrigins};
use crate::accounts::refresh_token::RefreshToken;
use crate::accounts::sessions::{SessionRecord, SessionStore};
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, ProblemCode, json_body, source_ip};
use crate::route::{Calls, Route};
use crate::time::Timestamp;

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
        ProblemCode::InvalidRefreshToken,
        "Invalid refresh token",
        "the refresh token is invalid, expired, revoked or already used",
    )
}

fn origin_not_allowed() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        ProblemCode::OriginNotAllowed,
        "The request's origin may not use the refresh cookie",
        "the refresh cookie is accepted only from the API's own origin or an allowed one; \
         send {\"refresh_token\": ...} in the body otherwise",
    )
}

impl Refresh {
    fn within_grace(&self, session: &SessionRecord, now: Timestamp) -> bool {
        let grace = self.settings.refresh_grace_seconds;
        grace > 0
            && session
                .rotated_at
                .is_some_and(|rotated_at| now.0 <= rotated_at.0.saturating_add(grace))
    }
}

impl Route for Refresh {
    const CALLS: Calls = Calls::new(
        2,
        "the session, its conditional rotation (no access token: no auth)",
    );

    /// Built from the sessions table, token settings, the two secrets and
    /// `ALLOWED_ORIGINS`.
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let (minting, keys) = minting_keys(env, aws).await?;
        Ok(Self {
            sessions: session_store(env, aws)?,
            minting,
            keys,
            settings: SessionSettings::from_env(env)?,
            origins: AllowedOrigins::from_env(env)?,
        })
    }

    /// One call at a time: one connection.
    async fn preconnect(&self) {
        self.sessions.preconnect(1).await;
    }

    /// Rotates the refresh token. An older token that this session was
    /// issued is reuse and revokes the session; a token it was never issued
    /// is refused and changes nothing.
    async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let presented = if request.body().is_empty() {
            let cookie = cookies::read(&request, cookies::REFRESH_COOKIE).ok_or_else(|| {
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
        token_response(&self.minting, &session, &next, now, &request).await
    }
}
