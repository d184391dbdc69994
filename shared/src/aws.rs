//! AWS SDK configuration and store failures shared by every store module.

use std::fmt::Debug;

use aws_sdk_dynamodb::error::SdkError;

/// The SDK configuration of this process: region, credentials and endpoints
/// from the environment (`AWS_ENDPOINT_URL_<SERVICE>` points it at emulators).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A store or queue did not do what was asked: unreachable, throttled or
/// failing. Nothing was changed by the call that failed; the API answers 503.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {cause}")]
pub struct StoreError {
    /// The AWS operation, e.g. `DynamoDB.PutItem`.
    pub operation: &'static str,
    /// The SDK's description (never contains item values).
    pub cause: String,
}

impl StoreError {
    /// Wraps an SDK error of `operation`.
    pub fn sdk<E: Debug, R: Debug>(operation: &'static str, error: SdkError<E, R>) -> Self {
        let cause = match &error {
            SdkError::ServiceError(service) => format!("service error: {:?}", service.err()),
            SdkError::TimeoutError(_) => "timed out".to_string(),
            SdkError::DispatchFailure(_) => "could not reach the service".to_string(),
            other => format!("{other:?}"),
        };
        Self { operation, cause }
    }

    /// A store answer that does not have the shape the code wrote.
    pub fn corrupt(operation: &'static str, what: impl Into<String>) -> Self {
        Self {
            operation,
            cause: what.into(),
        }
    }
}

/// The SDK clients a function may use, built once at cold start.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Secrets Manager (only the token-minting functions may read their secret).
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    /// Clients configured from the environment.
    pub async fn from_env() -> Self {
        Self::new(&sdk_config().await)
    }

    /// Clients from one SDK configuration (no I/O).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}
