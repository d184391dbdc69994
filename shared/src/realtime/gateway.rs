//! The API Gateway Management API of the WebSocket API: how any instance
//! reaches any client (`PostToConnection`) or closes its connection
//! (`DeleteConnection`).

use std::time::Duration;

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata;
use aws_sdk_apigatewaymanagement::primitives::Blob;

use super::store::ConnectionId;
use crate::aws::StoreError;

/// Attempts of a throttled post or close (the SDK's own retries within each).
const THROTTLED_ATTEMPTS: u32 = 4;

/// What a post found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// API Gateway took the frame for the connection.
    Sent,
    /// 410: the connection is gone (its client vanished, or it closed).
    Gone,
}

/// The Management API client.
#[derive(Debug, Clone)]
pub struct ManagementApi {
    client: Client,
}

fn throttled(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("LimitExceededException" | "TooManyRequestsException" | "ThrottlingException")
    )
}

/// The pause before attempt `attempt` (1-based) after a throttle: 50 ms
/// doubling, with jitter, so retries of many posts do not come back at once.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64 << attempt.min(6);
    Duration::from_millis(base / 2 + fastrand::u64(0..=base / 2))
}

impl ManagementApi {
    /// Over `client` (built for the API's endpoint).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Sends `text` to connection `id`; a throttled post is retried with backoff.
    pub async fn post(&self, id: &ConnectionId, text: &str) -> Result<Delivery, StoreError> {
        let mut attempt = 1;
        loop {
            let result = self
                .client
                .post_to_connection()
                .connection_id(id.as_str())
                .data(Blob::new(text.as_bytes()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Delivery::Sent),
                Err(error) => {
                    let service = error.as_service_error();
                    if service.is_some_and(|e| e.is_gone_exception()) {
                        return Ok(Delivery::Gone);
                    }
                    if attempt < THROTTLED_ATTEMPTS && throttled(service.and_then(|e| e.code())) {
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(StoreError::sdk(
                        "ApiGatewayManagement.PostToConnection",
                        error,
                    ));
                }
            }
        }
    }

    /// Closes connection `id` (API Gateway then sends its `$disconnect`);
    /// `false` if it was already gone.
    pub async fn close(&self, id: &ConnectionId) -> Result<bool, StoreError> {
        let mut attempt = 1;
        loop {
            let result = self
                .client
                .delete_connection()
                .connection_id(id.as_str())
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(error) => {
                    let service = error.as_service_error();
                    if service.is_some_and(|e| e.is_gone_exception()) {
                        return Ok(false);
                    }
                    if attempt < THROTTLED_ATTEMPTS && throttled(service.and_then(|e| e.code())) {
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(StoreError::sdk(
                        "ApiGatewayManagement.DeleteConnection",
                        error,
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 1..10 {
            let pause = backoff(attempt);
            let base = 50u64 << attempt.min(6);
            assert!(
                pause >= Duration::from_millis(base / 2) && pause <= Duration::from_millis(base)
            );
        }
        assert!(throttled(Some("LimitExceededException")));
        assert!(!throttled(Some("GoneException")) && !throttled(None));
    }
}
