//! Access tokens: short-lived EdDSA JWTs that name their session. (Refresh
//! tokens, opaque and numbered, are `refresh_token`'s.)
//!
//! Verification is strict: the algorithm is pinned to EdDSA, `typ` must be
//! `at+jwt`, `kid` must be one of ours, header-borne keys (`jku`, `jwk`,
//! `x5u`, `x5c`) are refused, and `exp`, `nbf`, `iss`, `aud`, `sub` are all
//! required (jsonwebtoken checks `iss`/`aud`/`sub` only when required).

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::{PublicKeys, SigningKey};
use crate::ids::{SessionId, UserId, is_id, new_id};
use crate::time::Timestamp;

/// The `typ` header of our access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Longest bearer token looked at; anything longer is refused unparsed.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Clock skew tolerated on `exp` and `nbf`, in seconds (at most 10).
pub const LEEWAY_SECONDS: u64 = 5;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id.
    pub sub: UserId,
    /// The session this token belongs to.
    pub sid: SessionId,
    /// This token's unique id (the deny-list key).
    pub jti: String,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expires at.
    pub exp: u64,
    /// The `kid` of the key that signed it (from the header; not a claim).
    #[serde(skip)]
    pub kid: String,
}

/// Who issues tokens for whom, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// `iss` of every token.
    pub issuer: String,
    /// `aud` of every token.
    pub audience: String,
    /// Lifetime of an access token in seconds.
    pub access_ttl_seconds: u64,
}

/// Why a bearer token was refused. Logged, never shown beyond `invalid_token`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// Not a JWT of ours at all.
    #[error("malformed token")]
    Malformed,
    /// A header that is not ours: algorithm, type or header-borne key.
    #[error("token header refused: {0}")]
    Header(&'static str),
    /// Signed by a key the verifier does not hold (perhaps one newer than
    /// its copy of the published set, perhaps none of ours).
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// Signature, expiry, issuer, audience or claim types failed.
    #[error("token rejected: {0}")]
    Rejected(String),
    /// The session of the token is gone or expired, or its `jti` is revoked.
    #[error("token revoked")]
    Revoked,
}

/// Signs access tokens (login and refresh only), with the key it is given.
pub struct AccessTokenIssuer {
    settings: TokenSettings,
}

impl AccessTokenIssuer {
    /// An issuer with these settings.
    pub fn new(settings: TokenSettings) -> Self {
        Self { settings }
    }

    /// The settings tokens are issued with.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// A token for `user_id` in `session_id`, issued at `now`, signed by `key`.
    pub fn issue(
        &self,
        key: &SigningKey,
        user_id: &UserId,
        session_id: &SessionId,
        now: Timestamp,
    ) -> Result<(String, AccessClaims), TokenError> {
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: user_id.clone(),
            sid: session_id.clone(),
            jti: new_id(),
            iat: now.0,
            nbf: now.0,
            exp: now.plus(self.settings.access_ttl_seconds).0,
            kid: key.kid().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(key.kid().to_string());
        let token = jsonwebtoken::encode(&header, &claims, key.encoding_key())
            .map_err(|e| TokenError::Rejected(e.to_string()))?;
        Ok((token, claims))
    }
}

/// Verifies access tokens with the public keys it is given.
pub struct AccessTokenVerifier {
    validation: Validation,
}

impl AccessTokenVerifier {
    /// A verifier for tokens from `settings.issuer` to `settings.audience`.
    pub fn new(settings: &TokenSettings) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self { validation }
    }

    /// The claims of `token` if it is a valid, current access token signed
    /// by one of `keys`. (Revocation is checked against the store separately.)
    pub fn verify(&self, keys: &PublicKeys, token: &str) -> Result<AccessClaims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Header("algorithm is not EdDSA"));
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
                || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(TokenError::Header("typ is not at+jwt"));
        }
        if header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
        {
            return Err(TokenError::Header("header carries its own key"));
        }
        if header.cty.is_some() {
            return Err(TokenError::Header("nested tokens are not accepted"));
        }
        let kid = header.kid.ok_or(TokenError::Header("no kid"))?;
        let key = keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map_err(|e| TokenError::Rejected(format!("{:?}", e.kind())))?;
        let claims = AccessClaims { kid, ..data.claims };
        if !is_id(&claims.sub) || !is_id(&claims.sid) || !is_id(&claims.jti) {
            return Err(TokenError::Rejected("claims are not ids".into()));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "https://issuer.test".into(),
            audience: "api.test".into(),
            access_ttl_seconds: 900,
        }
    }

    struct Pair {
        key: SigningKey,
        keys: PublicKeys,
        issuer: AccessTokenIssuer,
        verifier: AccessTokenVerifier,
    }

    fn pair() -> Pair {
        let (_, key) = SigningKey::generate("k1").unwrap();
        let jwks = serde_json::json!({"keys": [key.public_jwk()]}).to_string();
        Pair {
            key,
            keys: PublicKeys::from_jwks(&jwks).unwrap(),
            issuer: AccessTokenIssuer::new(settings()),
            verifier: AccessTokenVerifier::new(&settings()),
        }
    }

    #[test]
    fn an_issued_token_verifies() {
        let p = pair();
        let (user, session) = (UserId::new(), SessionId::new());
        let (token, claims) = p
            .issuer
            .issue(&p.key, &user, &session, Timestamp::now())
            .unwrap();
        let verified = p.verifier.verify(&p.keys, &token).unwrap();
        assert_eq!(verified, claims);
        assert_eq!(verified.sid, session);
        assert_eq!(verified.kid, "k1");
        assert_eq!(verified.exp - verified.iat, 900);
    }

    #[test]
    fn a_token_of_a_key_not_held_is_unknown_not_forged() {
        let p = pair();
        let (_, other) = SigningKey::generate("k2").unwrap();
        let (token, _) = p
            .issuer
            .issue(&other, &UserId::new(), &SessionId::new(), Timestamp::now())
            .unwrap();
        assert_eq!(
            p.verifier.verify(&p.keys, &token),
            Err(TokenError::UnknownKey)
        );
        assert_eq!(
            p.verifier.verify(&PublicKeys::empty(), &token),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let p = pair();
        let long_ago = Timestamp(Timestamp::now().0 - 901 - LEEWAY_SECONDS);
        let (token, _) = p
            .issuer
            .issue(&p.key, &UserId::new(), &SessionId::new(), long_ago)
            .unwrap();
        assert!(matches!(
            p.verifier.verify(&p.keys, &token),
            Err(TokenError::Rejected(_))
        ));
    }
}
