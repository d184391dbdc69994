//! The Ed25519 keys of access tokens: a private key (with its `kid`) that
//! only the token-minting functions can read, and the public JWK Set that
//! every other function verifies with, locally. Where they are kept and how
//! they rotate: `keyset` and `keystore`.

use std::collections::HashMap;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why a key could not be loaded; never contains key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The signing-key secret is not the expected JSON.
    #[error(
        "the signing key secret is not {{\"kid\", \"private_key_pkcs8\"}} JSON with an Ed25519 PKCS#8 key"
    )]
    InvalidSigningKey,
    /// The public JWK Set is not valid or holds something other than Ed25519 public keys.
    #[error("the public JWK Set is invalid: {0}")]
    InvalidJwks(String),
}

/// The secret's JSON shape.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SigningKeySecret {
    kid: String,
    /// Standard base64 of the PKCS#8 DER document.
    private_key_pkcs8: String,
}

/// The private key that signs access tokens.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public_x: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SigningKey {{ kid: {:?}, private: <redacted> }}",
            self.kid
        )
    }
}

impl SigningKey {
    /// Reads the secret `{"kid": "...", "private_key_pkcs8": "<base64>"}`.
    pub fn from_secret(text: &str) -> Result<Self, KeyError> {
        let secret: SigningKeySecret =
            serde_json::from_str(text).map_err(|_| KeyError::InvalidSigningKey)?;
        Self::from_parts(&secret.kid, &secret.private_key_pkcs8)
    }

    /// The key `kid` from the standard base64 of its PKCS#8 DER document.
    pub fn from_parts(kid: &str, private_key_pkcs8: &str) -> Result<Self, KeyError> {
        let der = STANDARD
            .decode(private_key_pkcs8.trim())
            .map_err(|_| KeyError::InvalidSigningKey)?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| KeyError::InvalidSigningKey)?;
        if kid.is_empty() {
            return Err(KeyError::InvalidSigningKey);
        }
        Ok(Self {
            public_x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            kid: kid.to_string(),
            encoding: EncodingKey::from_ed_der(&der),
        })
    }

    /// A new key `kid`: the standard base64 of its PKCS#8 document, and the key.
    pub fn generate_parts(kid: &str) -> Result<(String, Self), KeyError> {
        let document = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .map_err(|_| KeyError::InvalidSigningKey)?;
        let pkcs8 = STANDARD.encode(document.as_ref());
        let key = Self::from_parts(kid, &pkcs8)?;
        Ok((pkcs8, key))
    }

    /// A new key pair: the secret's JSON and the key.
    pub fn generate(kid: &str) -> Result<(String, Self), KeyError> {
        let (pkcs8, key) = Self::generate_parts(kid)?;
        let secret = serde_json::to_string(&SigningKeySecret {
            kid: kid.to_string(),
            private_key_pkcs8: pkcs8,
        })
        .map_err(|_| KeyError::InvalidSigningKey)?;
        Ok((secret, key))
    }

    /// The key id written into every token's header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public half as a JWK.
    pub fn public_jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.public_x,
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }
}

/// The public keys that verify access tokens, by `kid`.
pub struct PublicKeys {
    keys: HashMap<String, DecodingKey>,
    jwks: Value,
}

impl std::fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKeys")
            .field("jwks", &self.jwks)
            .finish()
    }
}

impl PublicKeys {
    /// Reads a JWK Set of Ed25519 public keys; refuses any private part.
    pub fn from_jwks(text: &str) -> Result<Self, KeyError> {
        let set: Value =
            serde_json::from_str(text).map_err(|_| KeyError::InvalidJwks("not JSON".into()))?;
        let Some(entries) = set.get("keys").and_then(Value::as_array) else {
            return Err(KeyError::InvalidJwks("no `keys` array".into()));
        };
        let mut keys = HashMap::new();
        let mut public = Vec::new();
        for entry in entries {
            let field = |name: &str| entry.get(name).and_then(Value::as_str);
            if entry.get("d").is_some() {
                return Err(KeyError::InvalidJwks(
                    "a key has a private part (`d`)".into(),
                ));
            }
            if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
                return Err(KeyError::InvalidJwks(
                    "only OKP Ed25519 keys are accepted".into(),
                ));
            }
            let (Some(kid), Some(x)) = (field("kid"), field("x")) else {
                return Err(KeyError::InvalidJwks("a key lacks `kid` or `x`".into()));
            };
            let x_bytes = URL_SAFE_NO_PAD
                .decode(x)
                .map_err(|_| KeyError::InvalidJwks(format!("key {kid}: `x` is not base64url")))?;
            if x_bytes.len() != 32 || kid.is_empty() {
                return Err(KeyError::InvalidJwks(format!(
                    "key {kid}: not a 32-byte Ed25519 key"
                )));
            }
            let decoding = DecodingKey::from_ed_components(x)
                .map_err(|_| KeyError::InvalidJwks(format!("key {kid}: unusable")))?;
            if keys.insert(kid.to_string(), decoding).is_some() {
                return Err(KeyError::InvalidJwks(format!("kid {kid} appears twice")));
            }
            public.push(json!({
                "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig",
            }));
        }
        if keys.is_empty() {
            return Err(KeyError::InvalidJwks("no keys".into()));
        }
        Ok(Self {
            keys,
            jwks: json!({ "keys": public }),
        })
    }

    /// The published set, which may be empty (then every token is refused).
    pub fn from_published(text: &str) -> Result<Self, KeyError> {
        let set: Value =
            serde_json::from_str(text).map_err(|_| KeyError::InvalidJwks("not JSON".into()))?;
        if set
            .get("keys")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            return Ok(Self::empty());
        }
        Self::from_jwks(text)
    }

    /// No keys at all (nothing published yet): every token is refused.
    pub fn empty() -> Self {
        Self {
            keys: HashMap::new(),
            jwks: json!({ "keys": [] }),
        }
    }

    /// The verifying key for `kid`, if it is one of ours.
    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.get(kid)
    }

    /// The JWK Set to publish: public parts only, rebuilt from what was parsed.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_its_secret() {
        let (secret, key) = SigningKey::generate("k1").unwrap();
        let again = SigningKey::from_secret(&secret).unwrap();
        assert_eq!(again.public_jwk(), key.public_jwk());
        assert!(
            !format!("{key:?}").contains("private_key"),
            "Debug hides the key"
        );
    }

    #[test]
    fn the_published_set_has_no_private_part() {
        let (_, key) = SigningKey::generate("k1").unwrap();
        let set = json!({"keys": [key.public_jwk()]}).to_string();
        let keys = PublicKeys::from_jwks(&set).unwrap();
        assert!(keys.get("k1").is_some());
        assert!(keys.jwks()["keys"][0].get("d").is_none());
    }

    #[test]
    fn a_set_with_a_private_part_is_refused() {
        let (_, key) = SigningKey::generate("k1").unwrap();
        let mut jwk = key.public_jwk();
        jwk["d"] = json!("AAAA");
        let err = PublicKeys::from_jwks(&json!({"keys": [jwk]}).to_string()).unwrap_err();
        assert!(err.to_string().contains("private"));
    }

    #[test]
    fn other_key_types_are_refused() {
        for bad in [
            json!({"keys": []}),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}),
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "short", "kid": "k"}]}),
            json!({"nokeys": true}),
        ] {
            assert!(PublicKeys::from_jwks(&bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_secrets_are_refused_without_echoing_them() {
        for bad in [
            "",
            "{}",
            r#"{"kid":"k","private_key_pkcs8":"bm90IGEga2V5"}"#,
        ] {
            let err = SigningKey::from_secret(bad).unwrap_err();
            assert!(!err.to_string().contains("bm90"));
        }
    }
}
