//! AWS SDK configuration and store failures shared by every store module.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::time::Timestamp;

/// The SDK configuration of this process: region, credentials and endpoints
/// from the environment (`AWS_ENDPOINT_URL_<SERVICE>` points it at emulators),
/// and [`timeouts`].
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
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
        }
    }

    /// DynamoDB.
    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.dynamodb
            .get_or_init(|| aws_sdk_dynamodb::Client::new(&self.config))
    }

    /// Secrets Manager (only the token-minting functions may read their secret).
    pub fn secrets(&self) -> &aws_sdk_secretsmanager::Client {
        self.secrets
            .get_or_init(|| aws_sdk_secretsmanager::Client::new(&self.config))
    }

    /// S3 (object metadata, deletion and export documents; upload bytes
    /// never pass through a function).
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3
            .get_or_init(|| aws_sdk_s3::Client::new(&self.config))
    }

    /// SQS (job messages).
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| aws_sdk_sqs::Client::new(&self.config))
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

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

/// A number attribute.
pub fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The string attribute `key` of `item`.
pub fn text(item: &Item, key: &str) -> Option<String> {
    item.get(key)?.as_s().ok().cloned()
}

/// The number attribute `key` of `item`, if it parses as a `T`.
pub fn number<T: std::str::FromStr>(item: &Item, key: &str) -> Option<T> {
    item.get(key)?.as_n().ok()?.parse().ok()
}

/// The number attribute `key` of `item`, as epoch seconds.
pub fn timestamp(item: &Item, key: &str) -> Option<Timestamp> {
    number(item, key).map(Timestamp)
}

/// The item of `table` with `key`, read strongly consistently, so that a
/// write on any instance is seen by the very next read.
pub async fn consistent_get(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: Item,
) -> Result<Option<Item>, StoreError> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| StoreError::sdk("DynamoDB.GetItem", e))?;
    Ok(output.item)
}

/// The outcome of a conditional write: `true` written, `false` the condition failed.
pub fn conditional<O, E>(
    operation: &'static str,
    result: Result<O, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    conditional_output(operation, result).map(|output| output.is_some())
}

/// The output of a conditional write, or `None` when its condition failed.
pub fn conditional_output<O, E>(
    operation: &'static str,
    result: Result<O, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<Option<O>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(error)
            if error
                .as_service_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "ConditionalCheckFailedException") =>
        {
            Ok(None)
        }
        Err(error) => Err(StoreError::sdk(operation, error)),
    }
}

/// One page of a listing, and the sort key the next page starts after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The records, in sort-key order.
    pub items: Vec<T>,
    /// The sort key the next page starts after; `None` on the last page.
    pub next_after: Option<String>,
}

/// The items of one partition of a table whose sort key is a string (a
/// user's uploads, a user's jobs), read strongly consistently.
#[derive(Debug, Clone, Copy)]
pub struct Partition<'a> {
    /// The client.
    pub client: &'a aws_sdk_dynamodb::Client,
    /// The table.
    pub table: &'a str,
    /// The partition key's name and value.
    pub key: (&'a str, &'a str),
    /// The sort key's name.
    pub sort_key: &'a str,
}

impl Partition<'_> {
    /// Up to `limit` items after the sort key `after`; `decode` makes each
    /// a record, or `None` for one to leave out (it lapsed).
    pub async fn page<T>(
        &self,
        limit: u32,
        after: Option<&str>,
        decode: impl Fn(&Item) -> Result<Option<T>, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        const OPERATION: &str = "DynamoDB.Query";
        let (key_name, key_value) = self.key;
        let mut query = self
            .client
            .query()
            .table_name(self.table)
            .key_condition_expression("#key = :key")
            .expression_attribute_names("#key", key_name)
            .expression_attribute_values(":key", s(key_value))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        if let Some(after) = after {
            query = query
                .exclusive_start_key(key_name, s(key_value))
                .exclusive_start_key(self.sort_key, s(after));
        }
        let output = query
            .send()
            .await
            .map_err(|e| StoreError::sdk(OPERATION, e))?;
        let mut items = Vec::new();
        for item in output.items() {
            items.extend(decode(item)?);
        }
        let next_after = output
            .last_evaluated_key()
            .and_then(|key| text(key, self.sort_key));
        Ok(Page { items, next_after })
    }

    /// Every item of the partition, a page of 100 at a time.
    pub async fn all<T>(
        &self,
        decode: impl Fn(&Item) -> Result<Option<T>, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.page(100, after.as_deref(), &decode).await?;
            items.extend(page.items);
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(items),
            }
        }
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
