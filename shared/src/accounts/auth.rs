//! Authenticating a request: verify the bearer token locally (signature,
//! expiry, issuer, audience), then check in one round trip that its session
//! is live and its `jti` is not revoked. Any instance can do it; a logout on
//! one instance is seen by the next request on every other.

use lambda_http::Request;
use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderValue};

use super::sessions::{SessionStore, TokenStanding};
use super::tokens::{AccessClaims, AccessTokenVerifier, TokenError};
use crate::http::Problem;
use crate::time::Timestamp;

/// The caller of an authenticated request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The verified claims of the caller's access token.
    pub claims: AccessClaims,
}

impl Caller {
    /// The caller's user id.
    pub fn user_id(&self) -> &str {
        &self.claims.sub
    }

    /// The session the caller's token belongs to.
    pub fn session_id(&self) -> &str {
        &self.claims.sid
    }
}

/// Verifies bearer tokens and checks their standing in the store.
pub struct Authenticator {
    verifier: AccessTokenVerifier,
    sessions: SessionStore,
}

/// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
pub fn unauthorized() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "Unauthorized",
        "the access token is missing, malformed, expired, revoked or not ours",
    )
    .with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer error="invalid_token""#),
    )
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(request: &Request) -> Result<&str, TokenError> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(TokenError::Missing)?
        .to_str()
        .map_err(|_| TokenError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(TokenError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Malformed);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    Ok(token)
}

impl Authenticator {
    /// An authenticator with this verifier and store.
    pub fn new(verifier: AccessTokenVerifier, sessions: SessionStore) -> Self {
        Self { verifier, sessions }
    }

    /// The store it checks standing in.
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// The caller, or 401 (503 if the store cannot answer).
    pub async fn authenticate(&self, request: &Request) -> Result<Caller, Problem> {
        let now = Timestamp::now();
        let claims = bearer_token(request)
            .and_then(|token| self.verifier.verify(token))
            .map_err(|reason| {
                tracing::info!(%reason, "bearer token refused");
                unauthorized()
            })?;
        match self.sessions.standing(&claims, now).await {
            Ok(TokenStanding::Valid) => Ok(Caller { claims }),
            Ok(TokenStanding::Revoked) => {
                tracing::info!(reason = %TokenError::Revoked, "bearer token refused");
                Err(unauthorized())
            }
            Err(error) => {
                tracing::error!(%error, "token standing could not be checked");
                Err(Problem::service_unavailable(1))
            }
        }
    }
}
