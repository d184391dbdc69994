//! The signing keys' rotation, run on a schedule (EventBridge through SQS,
//! as the job sweep) by `rotate-keys`, one function at a time (reserved
//! concurrency 1: the secret has no conditional write, so one writer).
//!
//! Each tick moves the key set one step along (`keyset`): the private set is
//! written first, then the public half published, then the publication
//! recorded; a key begins to sign only once a later tick finds it published
//! and old enough. Every step is safe to repeat, so a failed tick is simply
//! retried. A message `{"withdraw": "<kid>"}` withdraws a key known to be
//! compromised: its tokens are refused at once (the deny-list), it leaves the
//! published set, and if it was signing, a new key signs in its place.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::Context;
use serde::Deserialize;

use super::keyset::{Changes, KeySet, RotationPolicy};
use super::keystore::{KeyStoreError, PublishedKeys, SigningKeySecret};
use super::routes::StartupError;
use super::sessions::SessionStore;
use super::tokens::LEEWAY_SECONDS;
use crate::aws::AwsClients;
use crate::config::{ConfigError, Environment};
use crate::sqs_batch::{Consumer, process_batch};
use crate::time::Timestamp;

/// What a message asks of the rotation.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Withdrawal {
    withdraw: String,
}

/// The `rotate-keys` function.
pub struct RotateKeys {
    secret: SigningKeySecret,
    published: PublishedKeys,
    sessions: SessionStore,
    policy: RotationPolicy,
    verifier_max_age: u64,
}

impl RotateKeys {
    /// The delays it rotates with.
    pub fn policy(&self) -> &RotationPolicy {
        &self.policy
    }

    /// One step of the rotation at `now`.
    pub async fn tick(&self, now: Timestamp) -> Result<Changes, KeyStoreError> {
        let set = self.secret.load().await?;
        self.step(set, now).await
    }

    /// One step of the rotation of `set`, the key set as stored now.
    async fn step(&self, mut set: KeySet, now: Timestamp) -> Result<Changes, KeyStoreError> {
        let published = self.published.load().await?;
        let changes = set.advance(now, &self.policy, &published)?;
        if changes.any() {
            self.secret.store(&set).await?;
            tracing::info!(created = ?changes.created, promoted = ?changes.promoted, retired = ?changes.retired, "signing keys rotated");
        }
        let jwks = set.public_jwks()?;
        if *published.jwks() != jwks {
            self.published.publish(&jwks, now).await?;
        }
        if set.mark_published(now) {
            self.secret.store(&set).await?;
        }
        Ok(changes)
    }

    /// Withdraws `kid` at `now`: its tokens are refused from the next
    /// request on, and it leaves the key set and the published keys.
    pub async fn withdraw(&self, kid: &str, now: Timestamp) -> Result<Changes, KeyStoreError> {
        // Refused first: whatever fails after, its tokens stay refused.
        let until = now.plus(self.policy.retire_after + self.verifier_max_age);
        self.sessions.deny_key(kid, until).await?;
        let mut set = self.secret.load().await?;
        if set.withdraw(kid) {
            self.secret.store(&set).await?;
            tracing::warn!(%kid, "signing key withdrawn");
        }
        // Boxed: the SDK's futures nest deep enough to pass the compiler's
        // layout limit when both steps are inlined into one state machine.
        let mut changes = Box::pin(self.step(set, now)).await?;
        changes.retired.push(kid.to_string());
        Ok(changes)
    }
}

impl Consumer for RotateKeys {
    /// Built from the secret, the published keys table, the deny-list and
    /// the delays: `KEY_ROTATION_DAYS` (default 30), `KEY_PROPAGATION_SECONDS`
    /// (default: what verifiers keep the set, plus a minute; never less).
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let verifier_max_age: u64 = env.parse_or("TOKEN_KEYS_MAX_AGE_SECONDS", 300)?;
        let signer_max_age: u64 = env.parse_or("SIGNING_KEY_MAX_AGE_SECONDS", 60)?;
        let access_ttl: u64 = env.parse_or("ACCESS_TOKEN_TTL_SECONDS", 900)?;
        let propagation = env.parse_or("KEY_PROPAGATION_SECONDS", verifier_max_age + 60)?;
        if propagation <= verifier_max_age {
            return Err(ConfigError::Invalid {
                name: "KEY_PROPAGATION_SECONDS",
                reason: "must be longer than TOKEN_KEYS_MAX_AGE_SECONDS, or a verifier \
                         could meet a token of a key it has not seen"
                    .into(),
            }
            .into());
        }
        let rotate_days: u64 = env.parse_or("KEY_ROTATION_DAYS", 30)?;
        Ok(Self {
            secret: SigningKeySecret::new(env, aws)?,
            published: PublishedKeys::new(env, aws)?,
            sessions: super::routes::session_store(env, aws)?,
            policy: RotationPolicy {
                rotate_every: rotate_days.saturating_mul(24 * 3600),
                propagation,
                // A signer may sign with a key until it rereads the secret;
                // that token then lives its lifetime (plus the skew allowed).
                retire_after: signer_max_age + access_ttl + LEEWAY_SECONDS,
            },
            verifier_max_age,
        })
    }

    /// Every message of the batch: a withdrawal, or a tick (a schedule's event).
    async fn handle(&self, event: SqsEvent, _context: Context) -> SqsBatchResponse {
        process_batch(event, |message| async move {
            let body = message.body.unwrap_or_default();
            let now = Timestamp::now();
            match serde_json::from_str::<Withdrawal>(&body) {
                Ok(Withdrawal { withdraw }) => Box::pin(self.withdraw(&withdraw, now)).await,
                Err(_) => Box::pin(self.tick(now)).await,
            }
            .map(|_| ())
        })
        .await
    }
}
