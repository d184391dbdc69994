//! Where the signing keys live, and how each function holds them.
//!
//! - The private set ([`KeySet`]) is the signing-key secret in Secrets
//!   Manager: only login, refresh and the rotation read it, only the
//!   rotation writes it.
//! - Its public half is published in DynamoDB (`TOKEN_KEYS_TABLE`, one item),
//!   which every verifying function already reaches: no other client to link,
//!   and DynamoDB's throughput, not SSM's 40 reads a second shared by every
//!   cold start of the account.
//! - A withdrawn key is also put on the deny-list (`kid#<kid>#<shard>` in the
//!   revoked tokens table, under each of [`WITHDRAWN_SHARDS`] keys), which the
//!   per-request standing check reads in its one round trip: its tokens are
//!   refused at once, however long a verifier still holds the key.
//!
//! Verifiers keep the published set for `TOKEN_KEYS_MAX_AGE_SECONDS` (default
//! 300) and refetch on an unknown `kid` at most every 10 seconds; signers keep
//! the secret for `SIGNING_KEY_MAX_AGE_SECONDS` (default 60).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::keys::{KeyError, PublicKeys, SigningKey};
use super::keyset::KeySet;
use crate::aws::{AwsClients, StoreError, consistent_get, n, s, text};
use crate::config::{ConfigError, Environment};
use crate::maxage::MaxAge;
use crate::time::Timestamp;

/// The one item of the published keys table.
const KEY_SET_ITEM: &str = "access-token-keys";
/// Shortest wait between two refetches forced by unknown kids.
const MIN_REFETCH: Duration = Duration::from_secs(10);

/// Why the keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// What the store holds is not a usable key set.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The private key set in Secrets Manager.
#[derive(Debug, Clone)]
pub struct SigningKeySecret {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SigningKeySecret {
    /// The secret `SIGNING_KEY_SECRET_ARN`.
    pub fn new(env: &Environment, aws: &AwsClients) -> Result<Self, ConfigError> {
        Ok(Self {
            client: aws.secrets().clone(),
            secret_id: env.require("SIGNING_KEY_SECRET_ARN")?.to_string(),
        })
    }

    /// The key set as stored now.
    pub async fn load(&self) -> Result<KeySet, KeyStoreError> {
        let text = secret_string(&self.client, &self.secret_id).await?;
        Ok(KeySet::from_secret(&text)?)
    }

    /// Stores `set` as the secret's new value.
    pub async fn store(&self, set: &KeySet) -> Result<(), KeyStoreError> {
        self.client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(set.to_secret()?)
            .send()
            .await
            .map_err(|e| StoreError::sdk("SecretsManager.PutSecretValue", e))?;
        Ok(())
    }
}

/// The string value of secret `secret_id`, as stored now.
pub async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<String, StoreError> {
    const OPERATION: &str = "SecretsManager.GetSecretValue";
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| StoreError::sdk(OPERATION, e))?;
    output
        .secret_string()
        .map(str::to_string)
        .ok_or_else(|| StoreError::corrupt(OPERATION, "the secret has no string value"))
}

/// The published public keys in DynamoDB, and the deny-list of withdrawn kids.
#[derive(Debug, Clone)]
pub struct PublishedKeys {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// How many deny-list keys a withdrawn key is written under. Every
/// authenticated request reads whether its token's key is withdrawn, and
/// nearly all tokens share the one signing key: under a single key that
/// read would land on one DynamoDB partition (3,000 strongly consistent
/// reads a second) at a few thousand requests a second. Written under 16
/// keys and read under one of them, the spread is 16 partitions' worth
/// (BENCHMARKS.md, "Capacity"); a withdrawal writes them all in one
/// transaction, so no check can read a shard it missed.
pub const WITHDRAWN_SHARDS: u32 = 16;

/// The deny-list key, in shard `shard`, of every token signed by `kid`.
pub fn withdrawn_kid_id(kid: &str, shard: u32) -> String {
    format!("kid#{kid}#{shard}")
}

/// The shard a token's check reads: from its `jti` (random), so checks
/// spread evenly over the shards; any shard answers the same.
pub fn withdrawn_shard(jti: &str) -> u32 {
    // FNV-1a: stable, and enough to spread random ids.
    let hash = jti.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(WITHDRAWN_SHARDS)) as u32
}

impl PublishedKeys {
    /// The table `TOKEN_KEYS_TABLE`.
    pub fn new(env: &Environment, aws: &AwsClients) -> Result<Self, ConfigError> {
        Ok(Self {
            client: aws.dynamodb().clone(),
            table: env.require("TOKEN_KEYS_TABLE")?.to_string(),
        })
    }

    fn key() -> crate::aws::Item {
        [("key_set".to_string(), s(KEY_SET_ITEM))].into()
    }

    /// The published JWK Set as stored (`None` before the first publication).
    pub async fn jwks(&self) -> Result<Option<String>, StoreError> {
        let item = consistent_get(&self.client, &self.table, Self::key()).await?;
        Ok(item.and_then(|item| text(&item, "jwks")))
    }

    /// The published keys (none before the first publication).
    pub async fn load(&self) -> Result<PublicKeys, KeyStoreError> {
        match self.jwks().await? {
            Some(jwks) => Ok(PublicKeys::from_published(&jwks)?),
            None => Ok(PublicKeys::empty()),
        }
    }

    /// Publishes `jwks` as the set every verifier reads.
    pub async fn publish(&self, jwks: &Value, now: Timestamp) -> Result<(), StoreError> {
        let mut item = Self::key();
        item.insert("jwks".into(), s(&jwks.to_string()));
        item.insert("published_at".into(), n(now.0));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.PutItem", e))?;
        Ok(())
    }
}

/// What a verifying function holds: the published keys, for a bounded time.
#[derive(Debug)]
pub struct VerifyingKeys {
    published: PublishedKeys,
    cache: MaxAge<PublicKeys>,
}

impl VerifyingKeys {
    /// Loads the published keys (at cold start, at full CPU). A store that
    /// cannot answer then does not stop the function: it starts holding
    /// nothing, answers 503 while the keys cannot be read, and reads them
    /// on the first request after the store is back. (A function that exits
    /// at cold start makes every request wait for a new environment.)
    pub async fn load(env: &Environment, aws: &AwsClients) -> Result<Self, KeyStoreError> {
        let published = PublishedKeys::new(env, aws)?;
        let max_age = Duration::from_secs(env.parse_or("TOKEN_KEYS_MAX_AGE_SECONDS", 300)?);
        let cache = match published.load().await {
            Ok(keys) => MaxAge::holding(keys, max_age, MIN_REFETCH),
            Err(KeyStoreError::Store(error)) => {
                tracing::warn!(%error, "the published keys could not be read at cold start");
                MaxAge::new(max_age, MIN_REFETCH)
            }
            Err(error) => return Err(error),
        };
        Ok(Self { published, cache })
    }

    /// The keys, reloaded if older than their maximum age.
    pub async fn current(&self) -> Result<Arc<PublicKeys>, KeyStoreError> {
        self.cache.get(|| self.published.load()).await
    }

    /// Reloads now for a kid the keys held do not know; `None` when a reload
    /// was forced too recently.
    pub async fn refetch(&self) -> Result<Option<Arc<PublicKeys>>, KeyStoreError> {
        self.cache.refresh(|| self.published.load()).await
    }
}

/// What a signing function holds: the current signing key, for a bounded time.
#[derive(Debug)]
pub struct SigningKeys {
    secret: SigningKeySecret,
    cache: MaxAge<SigningKey>,
}

impl SigningKeys {
    /// Loads the signing key (at cold start).
    pub async fn load(env: &Environment, aws: &AwsClients) -> Result<Self, KeyStoreError> {
        let secret = SigningKeySecret::new(env, aws)?;
        let max_age = env.parse_or("SIGNING_KEY_MAX_AGE_SECONDS", 60)?;
        let key = secret.load().await?.signing_key()?;
        Ok(Self {
            secret,
            cache: MaxAge::holding(key, Duration::from_secs(max_age), MIN_REFETCH),
        })
    }

    /// The key to sign with now.
    pub async fn current(&self) -> Result<Arc<SigningKey>, KeyStoreError> {
        self.cache
            .get(|| async { Ok::<_, KeyStoreError>(self.secret.load().await?.signing_key()?) })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_of_random_token_ids_spread_evenly_over_the_withdrawn_keys_shards() {
        let checks = 16_000;
        let mut per_shard = vec![0u32; WITHDRAWN_SHARDS as usize];
        for _ in 0..checks {
            per_shard[withdrawn_shard(&crate::ids::new_id()) as usize] += 1;
        }
        let even = checks / WITHDRAWN_SHARDS;
        for (shard, count) in per_shard.iter().enumerate() {
            assert!(
                count * 4 > even * 3 && count * 4 < even * 5,
                "shard {shard} got {count} of {checks}: {per_shard:?}"
            );
        }
        // The same token always reads the same shard.
        assert_eq!(withdrawn_shard("a-jti"), withdrawn_shard("a-jti"));
        assert_eq!(withdrawn_kid_id("k-1", 3), "kid#k-1#3");
    }
}
