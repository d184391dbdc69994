//! The account key: one 32-byte secret that the token-minting functions
//! (login and refresh) read at cold start. HKDF derives a key of its own for
//! each use, so no key ever serves two purposes: refresh-token secrets,
//! device cookies, and the keyed digest of an email in logs.

use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::hmac::{self, HMAC_SHA256};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::ids::{SessionId, UserId, random_bytes};

/// Bytes of key material in the secret.
const KEY_BYTES: usize = 32;

/// The secret's JSON shape: `{"account_key": "<base64 of 32 bytes>"}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountKeySecret {
    account_key: String,
}

/// Why the account key could not be loaded; never contains key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the account key secret is not {{\"account_key\": \"<base64 of 32 bytes>\"}} JSON")]
pub struct AccountKeyError;

/// What a derived key is for; its label is the HKDF `info`.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    RefreshToken,
    DeviceCookie,
    LogDigest,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::RefreshToken => b"stateless-lambda/refresh-token/v1",
            Self::DeviceCookie => b"stateless-lambda/device-cookie/v1",
            Self::LogDigest => b"stateless-lambda/log-digest/v1",
        }
    }
}

/// The keys derived from the account key, one per purpose.
pub struct AccountKeys {
    refresh_token: hmac::Key,
    device_cookie: hmac::Key,
    log_digest: hmac::Key,
}

impl std::fmt::Debug for AccountKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountKeys { <redacted> }")
    }
}

impl AccountKeys {
    /// Reads the secret `{"account_key": "<base64>"}`.
    pub fn from_secret(text: &str) -> Result<Self, AccountKeyError> {
        let secret: AccountKeySecret = serde_json::from_str(text).map_err(|_| AccountKeyError)?;
        let bytes = STANDARD
            .decode(secret.account_key.trim())
            .map_err(|_| AccountKeyError)?;
        if bytes.len() != KEY_BYTES {
            return Err(AccountKeyError);
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// A new random key: the secret's JSON and the keys.
    pub fn generate() -> (String, Self) {
        let bytes = random_bytes::<KEY_BYTES>();
        let secret = serde_json::json!({ "account_key": STANDARD.encode(bytes) }).to_string();
        (secret, Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        // A fixed salt: the input is already uniformly random (RFC 5869, 3.1).
        let prk = Salt::new(HKDF_SHA256, b"stateless-lambda").extract(bytes);
        let derive = |purpose: Purpose| -> hmac::Key {
            let info = [purpose.label()];
            // Expanding fails only for an output longer than 255 hash
            // lengths; ours is one, so this cannot fail on any input.
            #[allow(clippy::expect_used)]
            let okm = prk
                .expand(&info, HMAC_SHA256)
                .expect("one hash length of HKDF output");
            hmac::Key::from(okm)
        };
        Self {
            refresh_token: derive(Purpose::RefreshToken),
            device_cookie: derive(Purpose::DeviceCookie),
            log_digest: derive(Purpose::LogDigest),
        }
    }

    /// HMAC-SHA256 of `parts`, each length-prefixed so no two lists of
    /// parts give the same input, in unpadded base64url (43 characters).
    fn mac(key: &hmac::Key, parts: &[&[u8]]) -> String {
        let mut context = hmac::Context::with_key(key);
        for part in parts {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        URL_SAFE_NO_PAD.encode(context.sign().as_ref())
    }

    /// The refresh-token secret of `generation` of a session.
    pub fn refresh_secret(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        nonce: &str,
        generation: u64,
    ) -> String {
        Self::mac(
            &self.refresh_token,
            &[
                user_id.as_bytes(),
                session_id.as_bytes(),
                nonce.as_bytes(),
                &generation.to_be_bytes(),
            ],
        )
    }

    /// The signature of a device cookie issued to `email` with `nonce`.
    pub fn device_signature(&self, email: &str, nonce: &str) -> String {
        Self::mac(&self.device_cookie, &[email.as_bytes(), nonce.as_bytes()])
    }

    /// A keyed digest of `value` for logs: an operator can match two lines
    /// of one email; nobody without the key can reverse it by dictionary.
    pub fn log_digest(&self, value: &str) -> String {
        let mut digest = Self::mac(&self.log_digest, &[value.as_bytes()]);
        digest.truncate(16);
        digest
    }
}

/// Constant-time equality of two strings (secrets, MACs, hashes).
pub fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_its_secret() {
        let (secret, keys) = AccountKeys::generate();
        let again = AccountKeys::from_secret(&secret).unwrap();
        assert_eq!(
            keys.refresh_secret(&"u".into(), &"s".into(), "n", 3),
            again.refresh_secret(&"u".into(), &"s".into(), "n", 3)
        );
        assert!(!format!("{keys:?}").contains(&secret));
    }

    #[test]
    fn each_purpose_and_input_gives_another_mac() {
        let (_, keys) = AccountKeys::generate();
        let base = keys.refresh_secret(&"u".into(), &"s".into(), "n", 1);
        assert_eq!(base.len(), 43);
        assert_ne!(base, keys.refresh_secret(&"u".into(), &"s".into(), "n", 2));
        assert_ne!(base, keys.refresh_secret(&"u".into(), &"s".into(), "m", 1));
        assert_ne!(
            base,
            keys.refresh_secret(&"us".into(), &"".into(), "n", 1),
            "parts are framed"
        );
        assert_ne!(keys.device_signature("a", "n"), keys.log_digest("a"));
        let (_, other) = AccountKeys::generate();
        assert_ne!(base, other.refresh_secret(&"u".into(), &"s".into(), "n", 1));
    }

    #[test]
    fn malformed_secrets_are_refused_without_echoing_them() {
        for bad in [
            "",
            "{}",
            r#"{"account_key":"c2hvcnQ="}"#,
            r#"{"account_key":"%%%"}"#,
        ] {
            let error = AccountKeys::from_secret(bad).unwrap_err();
            assert!(!error.to_string().contains("c2hvcnQ"));
        }
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
