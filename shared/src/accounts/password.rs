//! Passwords: at least 12 characters, hashed with argon2id at OWASP's
//! minimum (m = 19 MiB, t = 2, p = 1), never stored, logged or echoed.

use std::fmt;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::ids::random_bytes;

/// Shortest password accepted (`shared/openapi.yaml`).
pub const MIN_CHARS: usize = 12;
/// Longest password accepted: hashing is deliberately slow, so its input is bounded.
pub const MAX_CHARS: usize = 256;

/// argon2id memory cost in KiB (OWASP: 19 MiB).
const M_COST_KIB: u32 = 19 * 1024;
/// argon2id iterations (OWASP: 2).
const T_COST: u32 = 2;
/// argon2id parallelism (OWASP: 1).
const P_COST: u32 = 1;

/// A hash of a throwaway password with the same parameters: verifying against it
/// takes as long as a real check, so an unknown email answers in the same time.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c3RhdGVsZXNzLWR1bW15$Ihn6gLKYFbtU7ESu9KYF3l7d6KT+qIKzH0y91xQq+6Q";

/// A password that meets the length rules. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Why a password could not be hashed (a bug or exhausted memory, never the input).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Password {
    /// Checks the length rules (in characters, not bytes).
    pub fn parse(raw: String) -> Result<Self, String> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(format!("password must be at least {MIN_CHARS} characters"));
        }
        if chars > MAX_CHARS {
            return Err(format!("password must be at most {MAX_CHARS} characters"));
        }
        Ok(Self(raw))
    }

    /// The argon2id hash in PHC string form, with a fresh random salt.
    pub fn hash(&self) -> Result<String, HashError> {
        let salt = random_bytes::<16>();
        hasher()
            .hash_password_with_salt(self.0.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError(e.to_string()))
    }
}

fn hasher() -> Argon2<'static> {
    // The constants are valid parameters; `Params::DEFAULT` is only the unreachable fallback.
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether `password` matches `phc_hash`; with `None` (no such user) it checks
/// against a dummy hash and answers `false`, taking the same time.
pub fn verify(password: &str, phc_hash: Option<&str>) -> bool {
    let matches = hasher()
        .verify_password(password.as_bytes(), phc_hash.unwrap_or(DUMMY_HASH))
        .is_ok();
    matches && phc_hash.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_short_passwords() {
        assert!(Password::parse("elevenchars".into()).is_err());
        assert!(Password::parse("twelve chars".into()).is_ok());
    }

    #[test]
    fn counts_characters_not_bytes() {
        // 11 characters, 22 bytes.
        assert!(Password::parse("ééééééééééé".into()).is_err());
    }

    #[test]
    fn refuses_overlong_passwords() {
        assert!(Password::parse("x".repeat(MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::parse("correct horse battery".into()).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let p = Password::parse("correct horse battery".into()).unwrap();
        let hash = p.hash().unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify("correct horse battery", Some(&hash)));
        assert!(!verify("correct horse batterY", Some(&hash)));
    }

    #[test]
    fn salts_differ() {
        let p = Password::parse("correct horse battery".into()).unwrap();
        assert_ne!(p.hash().unwrap(), p.hash().unwrap());
    }

    #[test]
    fn the_dummy_hash_is_valid_and_never_matches() {
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify("anything at all", None));
    }
}
