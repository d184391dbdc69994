//! Why a function could not start: the one error of every cold start.

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
