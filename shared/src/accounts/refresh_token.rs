//! Refresh tokens: opaque, numbered, and recognised without being stored.

use std::fmt;

use super::account_key::{AccountKeys, same};
use crate::ids::{SessionId, UserId, is_id};

/// An opaque refresh token: `<user_id>.<session_id>.<generation>.<secret>`.
///
/// A session's refresh tokens are numbered: login issues generation 0 and
/// every rotation the next. The secret of a generation is an HMAC, under a
/// key derived from the account key, of the session, its random nonce (kept
/// in the session item) and the generation. So the server recognises every
/// token it ever issued for a session without storing any of them: an older
/// generation that verifies is reuse, and a token that does not verify was
/// never issued (forged) and changes nothing. Minting one takes both the key
/// (Secrets Manager) and the nonce (DynamoDB). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    user_id: UserId,
    session_id: SessionId,
    generation: u64,
    value: String,
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RefreshToken {{ session_id: {:?}, generation: {}, value: <redacted> }}",
            self.session_id, self.generation
        )
    }
}

/// Longest generation accepted in a token (far past any session's rotations).
const MAX_GENERATION_DIGITS: usize = 12;
/// Length of a secret: an HMAC-SHA256 in unpadded base64url.
const SECRET_LEN: usize = 43;

impl RefreshToken {
    /// The token of `generation` of the session with this nonce.
    pub fn issue(
        keys: &AccountKeys,
        user_id: &UserId,
        session_id: &SessionId,
        nonce: &str,
        generation: u64,
    ) -> Self {
        let secret = keys.refresh_secret(user_id, session_id, nonce, generation);
        Self {
            user_id: user_id.clone(),
            session_id: session_id.clone(),
            generation,
            value: format!("{user_id}.{session_id}.{generation}.{secret}"),
        }
    }

    /// Parses a presented token; `None` if it cannot be one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > 128 {
            return None;
        }
        let mut parts = text.split('.');
        let (user_id, session_id, generation, secret) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let generation_ok = !generation.is_empty()
            && generation.len() <= MAX_GENERATION_DIGITS
            && generation.bytes().all(|b| b.is_ascii_digit())
            && (generation == "0" || !generation.starts_with('0'));
        let secret_ok = secret.len() == SECRET_LEN
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if parts.next().is_some()
            || !is_id(user_id)
            || !is_id(session_id)
            || !generation_ok
            || !secret_ok
        {
            return None;
        }
        Some(Self {
            user_id: user_id.into(),
            session_id: session_id.into(),
            generation: generation.parse().ok()?,
            value: text.to_string(),
        })
    }

    /// Whether the server issued this token for the session with this nonce
    /// (compared in constant time). An empty nonce (a session opened before
    /// refresh tokens were numbered) verifies nothing.
    pub fn was_issued(&self, keys: &AccountKeys, nonce: &str) -> bool {
        let expected = Self::issue(
            keys,
            &self.user_id,
            &self.session_id,
            nonce,
            self.generation,
        );
        !nonce.is_empty() && same(&self.value, &expected.value)
    }

    /// The user it was issued to.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// The session it refreshes.
    pub fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// Its place in the session's sequence of rotations.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The token itself, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refresh(keys: &AccountKeys, nonce: &str, generation: u64) -> RefreshToken {
        RefreshToken::issue(keys, &UserId::new(), &SessionId::new(), nonce, generation)
    }

    #[test]
    fn refresh_tokens_parse_back_and_verify() {
        let (_, keys) = AccountKeys::generate();
        let token = refresh(&keys, "nonce", 7);
        let parsed = RefreshToken::parse(token.expose()).unwrap();
        assert_eq!(parsed, token);
        assert_eq!(parsed.generation(), 7);
        assert!(parsed.was_issued(&keys, "nonce"));
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn a_token_verifies_only_with_its_key_nonce_and_generation() {
        let (_, keys) = AccountKeys::generate();
        let (_, other_keys) = AccountKeys::generate();
        let token = refresh(&keys, "nonce", 3);
        assert!(!token.was_issued(&keys, "other nonce"));
        assert!(!token.was_issued(&other_keys, "nonce"));
        assert!(!token.was_issued(&keys, ""), "a session without a nonce");
        // The secret of generation 3 presented as generation 4 (or 2).
        for forged_generation in ["4", "2"] {
            let value = token
                .expose()
                .replacen(".3.", &format!(".{forged_generation}."), 1);
            let forged = RefreshToken::parse(&value).unwrap();
            assert!(!forged.was_issued(&keys, "nonce"));
        }
        // The attack of the review: the ids from an access token, any secret.
        let value = format!(
            "{}.{}.3.{}",
            token.user_id(),
            token.session_id(),
            "A".repeat(43)
        );
        assert!(
            !RefreshToken::parse(&value)
                .unwrap()
                .was_issued(&keys, "nonce")
        );
    }

    #[test]
    fn malformed_refresh_tokens_are_refused() {
        let (_, keys) = AccountKeys::generate();
        let good = refresh(&keys, "n", 12);
        let value = good.expose();
        let (user, session) = (good.user_id(), good.session_id());
        let secret = value.rsplit('.').next().unwrap();
        for bad in [
            String::new(),
            "a.b.c".into(),
            format!("{value}.extra"),
            value[..value.len() - 1].to_string(),
            value.replace('.', ":"),
            "x".repeat(500),
            format!("{user}.{session}.{secret}"),
            format!("{user}.{session}.012.{secret}"),
            format!("{user}.{session}.-1.{secret}"),
            format!("{user}.{session}.1234567890123.{secret}"),
            format!("{user}.{session}..{secret}"),
        ] {
            assert!(RefreshToken::parse(&bad).is_none(), "{bad}");
        }
    }
}
