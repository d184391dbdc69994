//! JSON logs, one object a line, each carrying the Lambda request id.
//!
//! The Lambda runtime opens a `Lambda runtime invoke` span with a `requestId`
//! field around every invocation; the span list puts it on every line logged
//! while the invocation runs.

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{ConfigError, Environment};

/// The level used when neither `AWS_LAMBDA_LOG_LEVEL` nor `LOG_LEVEL` is set.
const DEFAULT_LEVEL: &str = "info";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log level variable holds something that is not a level.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A global subscriber was already installed.
    #[error("logging was already initialised: {0}")]
    AlreadyInitialised(String),
}

/// Installs the JSON subscriber; call once, first thing in `main`.
pub fn init() -> Result<(), TelemetryError> {
    let filter = filter(&Environment::from_process())?;
    tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(true)
        .finish()
        .with(filter)
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInitialised(e.to_string()))
}

/// The filter for the configured level; the AWS SDK's own chatter stays at
/// `warn`. (Targets, not `EnvFilter`: no directive parsing, and no regex
/// engine in every function's binary.)
fn filter(env: &Environment) -> Result<Targets, ConfigError> {
    // Lambda's advanced logging controls set AWS_LAMBDA_LOG_LEVEL; LOG_LEVEL is ours.
    let (name, level) = match (env.get("AWS_LAMBDA_LOG_LEVEL"), env.get("LOG_LEVEL")) {
        (Some(level), _) => ("AWS_LAMBDA_LOG_LEVEL", level),
        (None, Some(level)) => ("LOG_LEVEL", level),
        (None, None) => ("LOG_LEVEL", DEFAULT_LEVEL),
    };
    let level: Level = level
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| ConfigError::Invalid {
            name,
            reason: "expected one of trace, debug, info, warn, error".into(),
        })?;
    let chatty = ["aws_config", "aws_smithy_runtime", "hyper"];
    Ok(chatty
        .into_iter()
        .fold(Targets::new().with_default(level), |targets, target| {
            targets.with_target(target, level.min(Level::WARN))
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_case_insensitively() {
        let env = Environment::from_pairs([("LOG_LEVEL", "DEBUG")]);
        let targets = filter(&env).unwrap();
        assert!(targets.would_enable("shared::accounts", &Level::DEBUG));
        assert!(!targets.would_enable("shared::accounts", &Level::TRACE));
    }

    #[test]
    fn the_sdks_chatter_stays_at_warn() {
        let env = Environment::from_pairs([("LOG_LEVEL", "trace")]);
        let targets = filter(&env).unwrap();
        assert!(targets.would_enable("shared", &Level::TRACE));
        assert!(!targets.would_enable("aws_smithy_runtime::client", &Level::INFO));
        assert!(targets.would_enable("aws_smithy_runtime::client", &Level::WARN));
        let quiet = filter(&Environment::from_pairs([("LOG_LEVEL", "error")])).unwrap();
        assert!(!quiet.would_enable("hyper", &Level::WARN));
    }

    #[test]
    fn lambdas_own_level_wins_over_ours() {
        let env = Environment::from_pairs([("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("LOG_LEVEL", "bad")]);
        assert!(filter(&env).is_ok());
    }

    #[test]
    fn a_bad_level_names_its_variable() {
        let env = Environment::from_pairs([("LOG_LEVEL", "loud")]);
        let err = filter(&env).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "LOG_LEVEL",
                ..
            }
        ));
    }
}
