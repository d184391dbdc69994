//! JSON logs, one object a line, each carrying the Lambda request id.
//!
//! The Lambda runtime opens a `Lambda runtime invoke` span with a `requestId`
//! field around every invocation; the span list puts it on every line logged
//! while the invocation runs.

use tracing_subscriber::EnvFilter;

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
        .with_env_filter(filter)
        .with_ansi(false)
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(true)
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInitialised(e.to_string()))
}

/// The filter for the configured level; the AWS SDK's own chatter stays at `warn`.
fn filter(env: &Environment) -> Result<EnvFilter, ConfigError> {
    // Lambda's advanced logging controls set AWS_LAMBDA_LOG_LEVEL; LOG_LEVEL is ours.
    let (name, level) = match (env.get("AWS_LAMBDA_LOG_LEVEL"), env.get("LOG_LEVEL")) {
        (Some(level), _) => ("AWS_LAMBDA_LOG_LEVEL", level),
        (None, Some(level)) => ("LOG_LEVEL", level),
        (None, None) => ("LOG_LEVEL", DEFAULT_LEVEL),
    };
    let level: tracing::Level =
        level
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| ConfigError::Invalid {
                name,
                reason: "expected one of trace, debug, info, warn, error".into(),
            })?;
    let level = level.as_str().to_ascii_lowercase();
    EnvFilter::try_new(format!(
        "{level},aws_config=warn,aws_smithy_runtime=warn,hyper=warn"
    ))
    .map_err(|e| ConfigError::Invalid {
        name,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_case_insensitively() {
        let env = Environment::from_pairs([("LOG_LEVEL", "DEBUG")]);
        assert!(filter(&env).is_ok());
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
