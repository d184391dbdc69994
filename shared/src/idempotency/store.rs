//! The idempotency table: one item per caller, route and key
//! (`idempotency_id`), with the request's `fingerprint`, its `status`
//! (`in_progress`, `completed` or `released`), the `operation_id` every
//! attempt of it shares, the `lock_token` and `lock_until` of the attempt
//! running now, the stored response once completed, and `expires_at` (TTL).
//!
//! Every change is conditional on the lock token of the attempt that makes
//! it, so an attempt whose lock lapsed and was taken over can change nothing.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use crate::aws::{Item, StoreError, conditional, n, number, s, text, timestamp};
use crate::time::Timestamp;

/// Where a request with a given key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    /// An attempt is running, or died holding its lock until `lock_until`.
    InProgress {
        /// When the lock lapses and another attempt may take over.
        lock_until: Timestamp,
    },
    /// The request was answered; a repeat gets this answer.
    Completed(StoredResponse),
    /// The last attempt failed in a way worth retrying; the next one may run.
    Released,
}

/// An existing record, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The fingerprint of the request that first used the key.
    pub fingerprint: String,
    /// Shared by every attempt of the request.
    pub operation_id: String,
    /// The token of the attempt that last held the lock.
    pub lock_token: String,
    /// Where it stands.
    pub state: RecordState,
}

/// A response as stored for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// The headers worth replaying (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// What starting an attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key was new (or its record had lapsed): this attempt holds the lock.
    Started,
    /// A live record exists.
    Found(Record),
}

/// A new attempt.
#[derive(Debug, Clone)]
pub struct NewAttempt<'a> {
    /// The record's key.
    pub id: &'a str,
    /// The request's fingerprint.
    pub fingerprint: &'a str,
    /// The operation id, if the key is new.
    pub operation_id: &'a str,
    /// This attempt's lock token.
    pub lock_token: &'a str,
    /// When its lock lapses.
    pub lock_until: Timestamp,
    /// When the record lapses.
    pub expires_at: Timestamp,
}

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";
const RELEASED: &str = "released";

/// Idempotency records in DynamoDB.
#[derive(Debug, Clone)]
pub struct IdempotencyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl IdempotencyStore {
    /// Records in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Writes the record of a new attempt unless a live one exists, which is
    /// then returned (from the failed condition: one round trip either way).
    pub async fn begin(
        &self,
        attempt: &NewAttempt<'_>,
        now: Timestamp,
    ) -> Result<Begin, StoreError> {
        const OPERATION: &str = "DynamoDB.PutItem";
        let item = Item::from([
            ("idempotency_id".to_string(), s(attempt.id)),
            ("fingerprint".to_string(), s(attempt.fingerprint)),
            ("status".to_string(), s(IN_PROGRESS)),
            ("operation_id".to_string(), s(attempt.operation_id)),
            ("lock_token".to_string(), s(attempt.lock_token)),
            ("lock_until".to_string(), n(attempt.lock_until.0)),
            ("expires_at".to_string(), n(attempt.expires_at.0)),
        ]);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(idempotency_id) OR expires_at <= :now")
            .expression_attribute_values(":now", n(now.0))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Begin::Started),
            Err(SdkError::ServiceError(failure)) => match failure.err() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let item = failed.item().ok_or_else(|| {
                        StoreError::corrupt(OPERATION, "a failed condition returned no item")
                    })?;
                    Ok(Begin::Found(record_from(item)?))
                }
                _ => Err(StoreError::sdk(OPERATION, SdkError::ServiceError(failure))),
            },
            Err(other) => Err(StoreError::sdk(OPERATION, other)),
        }
    }

    /// Takes over `seen` (released, or in progress with a lapsed lock) for a
    /// new attempt; `false` when another attempt got there first.
    pub async fn take_over(
        &self,
        id: &str,
        seen: &Record,
        lock_token: &str,
        lock_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("idempotency_id", s(id))
            .update_expression(
                "SET #status = :in_progress, lock_token = :token, lock_until = :until",
            )
            .condition_expression("lock_token = :seen AND #status <> :completed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":token", s(lock_token))
            .expression_attribute_values(":until", n(lock_until.0))
            .expression_attribute_values(":seen", s(&seen.lock_token))
            .send()
            .await;
        conditional("DynamoDB.UpdateItem", result)
    }

    /// Stores the answer of the attempt holding `lock_token`; `false` when
    /// its lock lapsed and another attempt took over.
    pub async fn complete(
        &self,
        id: &str,
        lock_token: &str,
        response: &StoredResponse,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let headers: HashMap<String, AttributeValue> = response
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), s(value)))
            .collect();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("idempotency_id", s(id))
            .update_expression(
                "SET #status = :completed, response_status = :status, response_headers = :headers, \
                 response_body = :body, expires_at = :expires REMOVE lock_until",
            )
            .condition_expression("lock_token = :token AND #status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":status", n(u64::from(response.status)))
            .expression_attribute_values(":headers", AttributeValue::M(headers))
            .expression_attribute_values(
                ":body",
                AttributeValue::B(Blob::new(response.body.clone())),
            )
            .expression_attribute_values(":expires", n(expires_at.0))
            .expression_attribute_values(":token", s(lock_token))
            .send()
            .await;
        conditional("DynamoDB.UpdateItem", result)
    }

    /// Lets the next attempt run at once (this one failed in a way worth
    /// retrying); `false` when its lock had already been taken over.
    pub async fn release(&self, id: &str, lock_token: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("idempotency_id", s(id))
            .update_expression("SET #status = :released REMOVE lock_until")
            .condition_expression("lock_token = :token AND #status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":released", s(RELEASED))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":token", s(lock_token))
            .send()
            .await;
        conditional("DynamoDB.UpdateItem", result)
    }
}

fn record_from(item: &Item) -> Result<Record, StoreError> {
    const OPERATION: &str = "DynamoDB.PutItem";
    let corrupt = |what: &str| StoreError::corrupt(OPERATION, format!("idempotency item: {what}"));
    let field = |name: &str| text(item, name).ok_or_else(|| corrupt(name));
    let state = match field("status")?.as_str() {
        IN_PROGRESS => RecordState::InProgress {
            lock_until: timestamp(item, "lock_until").ok_or_else(|| corrupt("lock_until"))?,
        },
        RELEASED => RecordState::Released,
        COMPLETED => {
            let status =
                number(item, "response_status").ok_or_else(|| corrupt("response_status"))?;
            let headers = item
                .get("response_headers")
                .and_then(|v| v.as_m().ok())
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
                        .collect()
                })
                .unwrap_or_default();
            let body = item
                .get("response_body")
                .and_then(|v| v.as_b().ok())
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default();
            RecordState::Completed(StoredResponse {
                status,
                headers,
                body,
            })
        }
        _ => return Err(corrupt("status")),
    };
    Ok(Record {
        fingerprint: field("fingerprint")?,
        operation_id: field("operation_id")?,
        lock_token: field("lock_token")?,
        state,
    })
}
