//! The one error of every store: what failed, why in short, and the SDK's
//! error as its source; and its one mapping to the API, 503.

use std::fmt::Debug;

use aws_sdk_dynamodb::error::SdkError;

/// A store or queue did not do what was asked: unreachable, throttled or
/// failing. Nothing was changed by the call that failed; the API answers 503.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {cause}")]
pub struct StoreError {
    /// The AWS operation, e.g. `DynamoDB.PutItem`.
    pub operation: &'static str,
    /// What went wrong, in short (never contains item values).
    pub cause: String,
    /// The SDK's error itself, for whoever walks the chain.
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// Wraps an SDK error of `operation`, keeping it as the source.
    pub fn sdk<E, R>(operation: &'static str, error: SdkError<E, R>) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        R: Debug + Send + Sync + 'static,
    {
        let cause = match &error {
            SdkError::ServiceError(service) => format!("service error: {:?}", service.err()),
            SdkError::TimeoutError(_) => "timed out".to_string(),
            SdkError::DispatchFailure(_) => "could not reach the service".to_string(),
            other => format!("{other:?}"),
        };
        Self {
            operation,
            cause,
            source: Some(Box::new(error)),
        }
    }

    /// A store answer that does not have the shape the code wrote.
    pub fn corrupt(operation: &'static str, what: impl Into<String>) -> Self {
        Self {
            operation,
            cause: what.into(),
            source: None,
        }
    }

    /// A failure of `operation` caused by `error` (not the SDK's).
    pub fn caused_by(
        operation: &'static str,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            operation,
            cause: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}

/// The one mapping of store failures to the API: 503 with `Retry-After`,
/// the cause in the log only.
impl From<StoreError> for crate::http::Problem {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store call failed");
        crate::http::Problem::service_unavailable(1)
    }
}

/// The same, for a failure a cache's coalesced load shares among its waiters.
impl From<std::sync::Arc<StoreError>> for crate::http::Problem {
    fn from(error: std::sync::Arc<StoreError>) -> Self {
        tracing::error!(%error, "store call failed");
        crate::http::Problem::service_unavailable(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_keeps_the_sdks_error_as_its_source() {
        use aws_sdk_dynamodb::operation::get_item::GetItemError;
        use std::error::Error;
        let sdk: SdkError<GetItemError, aws_sdk_dynamodb::config::http::HttpResponse> =
            SdkError::timeout_error("the attempt took too long");
        let error = StoreError::sdk("DynamoDB.GetItem", sdk);
        assert_eq!(error.to_string(), "DynamoDB.GetItem failed: timed out");
        let source = error.source().expect("the SDK's error is kept");
        assert!(source.source().is_some(), "and its own cause under it");
        assert!(
            StoreError::corrupt("DynamoDB.GetItem", "no id")
                .source()
                .is_none()
        );
    }
}
