//! The AWS SDK: its configuration and the clients every store shares; the
//! store error, DynamoDB item helpers and paging are modules of their own.

mod counted;
mod error;
mod items;
mod paging;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

pub use error::StoreError;
pub use items::{
    Item, conditional, conditional_output, consistent_get, n, number, s, text, timestamp,
    transaction_condition_failed,
};
pub use paging::{Page, Partition};

/// The SDK configuration of this process: region, credentials and endpoints
/// from the environment (`AWS_ENDPOINT_URL_<SERVICE>` points it at emulators),
/// and [`timeouts`].
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}

/// Makes `connections` of `call` at once and forgets their answers: at
/// cold start, so that the connections (and their TLS handshakes) a first
/// request's wave of calls needs are open before it comes. Init runs at
/// full CPU on Lambda, an invocation at its memory's share: a handshake
/// paid here costs a fraction of one paid by the first request. A store
/// that fails here fails nothing: the request will meet it again.
pub async fn preconnect<F, Fut, T>(connections: usize, call: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let calls = (0..connections).map(|_| call());
    for outcome in futures_util::future::join_all(calls).await {
        if let Err(error) = outcome {
            tracing::warn!(%error, "pre-connecting to a store at cold start failed");
        }
    }
}

/// How long one store call may take. A store that hangs must cost a request
/// a 503 with `Retry-After`, not the whole function timeout (10 s in the
/// template), after which API Gateway answers a bare 503 of its own. An
/// attempt gets 3 s (DynamoDB answers in milliseconds; the local emulators,
/// busy, in well under a second), the retries of one call 8 s in all.
pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// The SDK configuration of this process and the clients built from it.
///
/// A client is built the first time a store asks for it, and then shared by
/// every store of the process (one connection pool per service). A function
/// that never asks for S3 neither builds an S3 client at cold start nor links
/// its configuration, runtime plugins and endpoint rules (`me`, which uses
/// DynamoDB alone, went from a 2.95 MB to a 2.79 MB zip on x86-64).
#[derive(Debug, Clone)]
pub struct AwsClients {
    config: aws_config::SdkConfig,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    secrets: OnceLock<aws_sdk_secretsmanager::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    /// Also on every Management API client (the call log of the tests).
    management_interceptor: Option<aws_smithy_runtime_api::client::interceptors::SharedInterceptor>,
}

impl AwsClients {
    /// Clients configured from the environment.
    pub async fn from_env() -> Self {
        Self::new(&sdk_config().await)
    }

    /// Clients from one SDK configuration (no I/O; none is built yet).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            config: config.clone(),
            dynamodb: OnceLock::new(),
            secrets: OnceLock::new(),
            s3: OnceLock::new(),
            sqs: OnceLock::new(),
            management_interceptor: None,
        }
    }

    /// DynamoDB.
    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.dynamodb.get_or_init(|| {
            let config = aws_sdk_dynamodb::config::Builder::from(&self.config);
            aws_sdk_dynamodb::Client::from_conf(config.interceptor(counted::Counted).build())
        })
    }

    /// Secrets Manager (only the token-minting functions may read their secret).
    pub fn secrets(&self) -> &aws_sdk_secretsmanager::Client {
        self.secrets.get_or_init(|| {
            let config = aws_sdk_secretsmanager::config::Builder::from(&self.config);
            aws_sdk_secretsmanager::Client::from_conf(config.interceptor(counted::Counted).build())
        })
    }

    /// S3 (object metadata, deletion and export documents; upload bytes
    /// never pass through a function).
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3.get_or_init(|| {
            let config = aws_sdk_s3::config::Builder::from(&self.config);
            aws_sdk_s3::Client::from_conf(config.interceptor(counted::Counted).build())
        })
    }

    /// SQS (job messages).
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs.get_or_init(|| {
            let config = aws_sdk_sqs::config::Builder::from(&self.config);
            aws_sdk_sqs::Client::from_conf(config.interceptor(counted::Counted).build())
        })
    }

    /// The Management API of the WebSocket API at `endpoint`
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`):
    /// one per API, so built by the store that asks for it, once.
    pub fn management(&self, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
        let mut config = aws_sdk_apigatewaymanagement::config::Builder::from(&self.config)
            .endpoint_url(endpoint)
            .interceptor(counted::Counted);
        if let Some(interceptor) = &self.management_interceptor {
            config.push_interceptor(interceptor.clone());
        }
        aws_sdk_apigatewaymanagement::Client::from_conf(config.build())
    }

    /// These clients, whose Management API clients also run `interceptor`.
    pub fn with_management_interceptor(
        self,
        interceptor: aws_smithy_runtime_api::client::interceptors::SharedInterceptor,
    ) -> Self {
        Self {
            management_interceptor: Some(interceptor),
            ..self
        }
    }

    /// These clients with `client` as the DynamoDB client (tests and tools
    /// that configure each client themselves).
    pub fn with_dynamodb(self, client: aws_sdk_dynamodb::Client) -> Self {
        Self {
            dynamodb: OnceLock::from(client),
            ..self
        }
    }

    /// These clients with `client` as the Secrets Manager client.
    pub fn with_secrets(self, client: aws_sdk_secretsmanager::Client) -> Self {
        Self {
            secrets: OnceLock::from(client),
            ..self
        }
    }

    /// These clients with `client` as the S3 client.
    pub fn with_s3(self, client: aws_sdk_s3::Client) -> Self {
        Self {
            s3: OnceLock::from(client),
            ..self
        }
    }

    /// These clients with `client` as the SQS client.
    pub fn with_sqs(self, client: aws_sdk_sqs::Client) -> Self {
        Self {
            sqs: OnceLock::from(client),
            ..self
        }
    }

    /// The credentials the clients sign with (for presigned URLs).
    pub fn credentials(&self) -> Option<aws_credential_types::provider::SharedCredentialsProvider> {
        self.config.credentials_provider()
    }

    /// The region the clients call.
    pub fn region(&self) -> Option<&str> {
        self.config.region().map(AsRef::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use aws_config::{BehaviorVersion, Region, SdkConfig};

    use super::*;

    fn config(region: &'static str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .build()
    }

    #[test]
    fn a_client_is_built_once_from_the_configuration() {
        let aws = AwsClients::new(&config("eu-west-1"));
        assert!(aws.dynamodb.get().is_none(), "nothing is built up front");
        let first: *const aws_sdk_dynamodb::Client = aws.dynamodb();
        assert!(std::ptr::eq(first, aws.dynamodb()), "built once");
        assert_eq!(
            aws.dynamodb().config().region().map(AsRef::as_ref),
            Some("eu-west-1")
        );
        assert!(aws.s3.get().is_none() && aws.sqs.get().is_none() && aws.secrets.get().is_none());
        assert_eq!(aws.region(), Some("eu-west-1"));
    }

    #[test]
    fn a_client_handed_in_is_the_one_used() {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config("us-east-2"))
                .force_path_style(true)
                .build(),
        );
        let aws = AwsClients::new(&config("eu-west-1")).with_s3(s3);
        assert_eq!(
            aws.s3().config().region().map(AsRef::as_ref),
            Some("us-east-2")
        );
        assert_eq!(aws.region(), Some("eu-west-1"), "the others keep the base");
    }
}
