//! Why a function could not start: the one error of every cold start; and
//! what every cold start does before it builds its handler.

use crate::accounts::account_key::AccountKeyError;
use crate::accounts::keys::KeyError;
use crate::accounts::keystore::KeyStoreError;
use crate::aws::StoreError;
use crate::config::ConfigError;

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signing keys could not be read.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// The account key is unusable.
    #[error(transparent)]
    AccountKey(#[from] AccountKeyError),
    /// A secret could not be read.
    #[error("reading a secret failed: {0}")]
    Secret(#[source] StoreError),
    /// The AWS configuration lacks something the function needs.
    #[error("AWS configuration: {0}")]
    Aws(&'static str),
}

/// Seeds the process's random generator: aws-lc (under the SDK's TLS and
/// the service's ids) runs its CPU-jitter entropy collector on the first
/// random draw, about 21 ms of CPU on the bench's machine. Drawn at cold
/// start it runs at init's full CPU; drawn by the first request (a
/// consumer's first TLS handshake, refresh's first token id), it ran at the
/// invocation's share: some 300 ms at 128 MB (BENCHMARKS.md, section 2).
pub fn seed_random() {
    let mut byte = [0u8; 1];
    if aws_lc_rs::rand::fill(&mut byte).is_err() {
        // Nothing to do: the draw that needs it will fail and say so.
        tracing::warn!("the random generator could not be seeded at cold start");
    }
}
