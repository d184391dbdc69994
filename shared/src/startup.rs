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

/// Seeds the process's random generator at cold start, where the CPU is
/// whole: the first draw initialises aws-lc's generator (under the SDK's
/// TLS and the service's ids) from the operating system. The build opts
/// out of aws-lc's CPU-jitter collector (`.cargo/config.toml`), which cost
/// about 21 ms of CPU on this first draw; drawn by the first request (a
/// consumer's first TLS handshake, refresh's first token id) instead, that
/// ran at the invocation's share: some 300 ms at 128 MB (BENCHMARKS.md,
/// section 2).
pub fn seed_random() {
    let mut byte = [0u8; 1];
    if aws_lc_rs::rand::fill(&mut byte).is_err() {
        // Nothing to do: the draw that needs it will fail and say so.
        tracing::warn!("the random generator could not be seeded at cold start");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_random_generator_is_seeded_by_the_os_without_the_cpu_jitter_collector() {
        super::seed_random();
        // aws-lc answers Ok only when its CPU-jitter source is in use.
        assert!(
            aws_lc_rs::try_fips_cpu_jitter_entropy().is_err(),
            "aws-lc-sys was built with its CPU-jitter entropy: is \
             AWS_LC_SYS_NO_JITTER_ENTROPY=1 still in .cargo/config.toml?"
        );
    }
}
