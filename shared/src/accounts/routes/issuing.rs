//! What login and refresh share: the keys they mint with (read at cold
//! start) and the token response they answer with.

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::startup::{StartupError, token_settings};
use crate::accounts::account_key::AccountKeys;
use crate::accounts::cookies;
use crate::accounts::keystore::{SigningKeys, secret_string};
use crate::accounts::refresh_token::RefreshToken;
use crate::accounts::sessions::SessionRecord;
use crate::accounts::tokens::AccessTokenIssuer;
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, json, no_store};
use crate::ids::SessionId;
use crate::time::Timestamp;

/// What the token-minting functions (login and refresh only) read from
/// Secrets Manager at cold start, both secrets at once: the signing keys
/// (kept for a bounded time, so a rotation reaches a warm function) and the
/// account key.
pub(super) async fn minting_keys(
    env: &Environment,
    aws: &AwsClients,
) -> Result<(Minting, AccountKeys), StartupError> {
    let arn = env.require("ACCOUNT_KEY_SECRET_ARN")?;
    let (signing, account) = tokio::join!(
        SigningKeys::load(env, aws),
        secret_string(aws.secrets(), arn)
    );
    let text = account.map_err(StartupError::Secret)?;
    let minting = Minting {
        issuer: AccessTokenIssuer::new(token_settings(env)?),
        keys: signing?,
    };
    Ok((minting, AccountKeys::from_secret(&text)?))
}

/// Signs access tokens with the current signing key.
pub(super) struct Minting {
    issuer: AccessTokenIssuer,
    keys: SigningKeys,
}

/// The body of login and refresh answers.
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    /// Absent when the caller asked for the cookie alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    refresh_expires_in: u64,
    session_id: SessionId,
}

/// Issues an access token and answers with both tokens, body and cookie;
/// the refresh token in the cookie alone when `request` prefers so
/// (`Prefer: refresh-token=cookie`, answered with `Preference-Applied`).
pub(super) async fn token_response(
    minting: &Minting,
    session: &SessionRecord,
    refresh: &RefreshToken,
    now: Timestamp,
    request: &Request,
) -> Result<Response<Body>, Problem> {
    let cookie_only = cookies::prefers_cookie_only(request);
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
        refresh_token: (!cookie_only).then(|| refresh.expose().to_string()),
        refresh_expires_in,
        session_id: session.session_id.clone(),
    };
    let mut response = no_store(json(StatusCode::OK, &body)?);
    cookies::set_refresh(&mut response, refresh.expose(), refresh_expires_in);
    if cookie_only {
        response.headers_mut().insert(
            "preference-applied",
            HeaderValue::from_static(cookies::COOKIE_ONLY_PREFERENCE),
        );
        // A cache between must not give one preference's answer to the other.
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("prefer"));
    }
    Ok(response)
}

/// The refresh token of `session`'s current generation.
pub(super) fn current_refresh_token(keys: &AccountKeys, session: &SessionRecord) -> RefreshToken {
    RefreshToken::issue(
        keys,
        &session.user_id,
        &session.session_id,
        &session.refresh_nonce,
        session.refresh_generation,
    )
}
