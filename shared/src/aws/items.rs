//! DynamoDB items: attributes written and read, a strongly consistent read,
//! and what a conditional write's failed condition means.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use super::StoreError;
use crate::time::Timestamp;

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

/// Whether a transaction was cancelled because one of its conditions
/// failed (not throttled, not in conflict with another transaction).
pub fn transaction_condition_failed(
    error: &SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .any(|reason| reason.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
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
