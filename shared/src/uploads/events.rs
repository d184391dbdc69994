//! The `upload-events` function: S3 `ObjectCreated` events, through SQS.
//! Each object is checked against its record (size and type, by HeadObject)
//! and the record moves `pending -> ready`, or `rejected` with the object
//! deleted. An object without a record is deleted. Settled records never
//! change again, so the same event twice does nothing the second time.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Context;
use serde::Deserialize;

use super::objects::UploadObjects;
use super::records::{UploadStatus, UploadStore, parse_object_key};
use crate::accounts::routes::StartupError;
use crate::aws::{AwsClients, StoreError};
use crate::config::Environment;
use crate::metrics::{self, Metric};
use crate::sqs_batch::{Consumer, process_batch};
use crate::time::Timestamp;

/// An S3 event notification, as much of it as is read here.
#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(rename = "Records", default)]
    records: Vec<NotificationRecord>,
}

#[derive(Debug, Deserialize)]
struct NotificationRecord {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    object: S3Object,
}

#[derive(Debug, Deserialize)]
struct S3Object {
    key: String,
}

/// Why a message could not be handled (it is retried, then dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum UploadEventError {
    /// The body is not an S3 event notification.
    #[error("not an S3 event notification: {0}")]
    Malformed(String),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It matched: the upload is ready.
    Ready,
    /// It did not match: deleted, the upload rejected.
    Rejected,
    /// No live record names it: deleted.
    Orphan,
    /// Nothing to do (already settled, object gone, or not one of ours).
    Unchanged,
}

/// Confirms uploads from S3 events.
pub struct UploadEvents {
    uploads: UploadStore,
    objects: UploadObjects,
}

impl UploadEvents {
    async fn message(&self, message: SqsMessage) -> Result<(), UploadEventError> {
        let body = message.body.unwrap_or_default();
        let notification: Notification =
            serde_json::from_str(&body).map_err(|e| UploadEventError::Malformed(e.to_string()))?;
        // S3 sends an `s3:TestEvent` without records when notifications are set up.
        for record in notification.records {
            if !record.event_name.starts_with("ObjectCreated:") {
                continue;
            }
            let key = decode_key(&record.s3.object.key);
            let outcome = self.object_created(&key).await?;
            tracing::info!(?outcome, "object event handled");
        }
        Ok(())
    }

    /// Settles the upload that `key` belongs to.
    pub async fn object_created(&self, key: &str) -> Result<Outcome, StoreError> {
        let Some((user_id, upload_id)) = parse_object_key(key) else {
            tracing::warn!("an object outside the upload key scheme: left alone");
            return Ok(Outcome::Unchanged);
        };
        let Some(record) = self
            .uploads
            .get(&user_id, &upload_id, Timestamp::now())
            .await?
        else {
            self.objects.delete(key).await?;
            tracing::warn!(%upload_id, "an object without a live upload record: deleted");
            return Ok(Outcome::Orphan);
        };
        if record.status != UploadStatus::Pending {
            return Ok(Outcome::Unchanged);
        }
        let Some(facts) = self.objects.head(key).await? else {
            return Ok(Outcome::Unchanged);
        };
        let type_matches = facts
            .content_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(&record.content_type));
        if facts.size == record.size && type_matches {
            // Tag first: a retry after a failure here still finds it pending.
            self.objects.mark_ready(key).await?;
            self.uploads
                .settle(&user_id, &upload_id, UploadStatus::Ready)
                .await?;
            metrics::count(Metric::UploadsConfirmed);
            Ok(Outcome::Ready)
        } else {
            // Delete first: a retry after a failure here still finds it pending.
            self.objects.delete(key).await?;
            self.uploads
                .settle(&user_id, &upload_id, UploadStatus::Rejected)
                .await?;
            tracing::warn!(%upload_id, expected = record.size, got = facts.size, "object does not match its upload: rejected");
            metrics::count(Metric::UploadsRejected);
            Ok(Outcome::Rejected)
        }
    }
}

impl Consumer for UploadEvents {
    /// Built from `UPLOADS_TABLE` and `UPLOADS_BUCKET`.
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            uploads: UploadStore::new(aws.dynamodb().clone(), env.require("UPLOADS_TABLE")?),
            objects: UploadObjects::new(aws.s3().clone(), env.require("UPLOADS_BUCKET")?),
        })
    }

    /// Handles a batch; the failed messages are reported for retry.
    async fn handle(&self, event: SqsEvent, _context: Context) -> SqsBatchResponse {
        // Boxed: the SDK's futures nest deep enough to exhaust the compiler's
        // layout recursion limit in the function's `main` otherwise.
        process_batch(event, |message| Box::pin(self.message(message))).await
    }
}

/// An S3 event key as stored: S3 URL-encodes keys in events, with `+` for spaces.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_url_decoded() {
        assert_eq!(decode_key("users%2Fu1%2Fuploads%2Fx"), "users/u1/uploads/x");
        assert_eq!(decode_key("users/u1/uploads/x"), "users/u1/uploads/x");
        assert_eq!(decode_key("a+b%2Bc"), "a b+c");
    }

    #[test]
    fn a_test_event_has_no_records() {
        let n: Notification =
            serde_json::from_str(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).unwrap();
        assert!(n.records.is_empty());
    }
}
