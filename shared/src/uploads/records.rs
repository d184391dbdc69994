//! The uploads table: `user_id` (S) and `upload_id` (S) as its key, with
//! `filename`, `content_type`, `size`, `status`, `created_at` and, while the
//! upload is not `ready`, `expires_at` (the TTL). Status moves only out of
//! `pending`, by conditional writes, so a repeated event changes nothing.

use crate::aws::{
    Item, Page, Partition, StoreError, conditional, consistent_get, n, number, s, text, timestamp,
};
use crate::ids::{UploadId, UserId};
use crate::time::Timestamp;

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadStatus {
    /// URL handed out; the object has not been confirmed.
    Pending,
    /// The object arrived and matched what was announced.
    Ready,
    /// The object did not match and was deleted.
    Rejected,
}

impl UploadStatus {
    /// The status as the API and the table spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Rejected => "rejected",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "ready" => Some(Self::Ready),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// One upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// Whose.
    pub user_id: UserId,
    /// Its id (the last segment of its object key).
    pub upload_id: UploadId,
    /// The display name (sanitised, never part of the key).
    pub filename: String,
    /// The type the object must have.
    pub content_type: String,
    /// The exact length the object must have.
    pub size: u64,
    /// Where it stands.
    pub status: UploadStatus,
    /// When the URL was handed out.
    pub created_at: Timestamp,
    /// When the record lapses (TTL), unless it is `ready`.
    pub expires_at: Option<Timestamp>,
}

impl UploadRecord {
    /// The S3 key of the upload's object: under the owner's prefix, made of ids only.
    pub fn object_key(&self) -> String {
        object_key(&self.user_id, &self.upload_id)
    }
}

/// The S3 key of `user_id`'s upload `upload_id`.
pub fn object_key(user_id: &UserId, upload_id: &UploadId) -> String {
    format!("users/{user_id}/uploads/{upload_id}")
}

/// The owner and upload id named by an object key, if it is one of ours.
pub fn parse_object_key(key: &str) -> Option<(UserId, UploadId)> {
    let rest = key.strip_prefix("users/")?;
    let (user_id, upload_id) = rest.split_once("/uploads/")?;
    let ids_only = |s: &str| crate::ids::is_id(s);
    (ids_only(user_id) && ids_only(upload_id)).then(|| (user_id.into(), upload_id.into()))
}

/// Upload records in DynamoDB.
#[derive(Debug, Clone)]
pub struct UploadStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl UploadStore {
    /// Records in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Writes a new record.
    pub async fn create(&self, record: &UploadRecord) -> Result<(), StoreError> {
        let mut item = Item::from([
            ("user_id".to_string(), s(&record.user_id)),
            ("upload_id".to_string(), s(&record.upload_id)),
            ("filename".to_string(), s(&record.filename)),
            ("content_type".to_string(), s(&record.content_type)),
            ("size".to_string(), n(record.size)),
            ("status".to_string(), s(record.status.as_str())),
            ("created_at".to_string(), n(record.created_at.0)),
        ]);
        if let Some(expires_at) = record.expires_at {
            item.insert("expires_at".into(), n(expires_at.0));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(upload_id)")
            .send()
            .await;
        if conditional("DynamoDB.PutItem", result)? {
            Ok(())
        } else {
            Err(StoreError::corrupt(
                "DynamoDB.PutItem",
                "an upload id was issued twice",
            ))
        }
    }

    /// The record, if it exists and has not lapsed.
    pub async fn get(
        &self,
        user_id: &UserId,
        upload_id: &UploadId,
        now: Timestamp,
    ) -> Result<Option<UploadRecord>, StoreError> {
        let key = Item::from([
            ("user_id".into(), s(user_id)),
            ("upload_id".into(), s(upload_id)),
        ]);
        match consistent_get(&self.client, &self.table, key).await? {
            None => Ok(None),
            Some(item) => Ok(live(record_from(&item, "DynamoDB.GetItem")?, now)),
        }
    }

    /// Up to `limit` of the user's live uploads after `after`, by id.
    pub async fn list(
        &self,
        user_id: &UserId,
        limit: u32,
        after: Option<&str>,
        now: Timestamp,
    ) -> Result<Page<UploadRecord>, StoreError> {
        self.partition(user_id)
            .page(limit, after, |item| live_from(item, now))
            .await
    }

    fn partition<'a>(&'a self, user_id: &'a UserId) -> Partition<'a> {
        Partition {
            client: &self.client,
            table: &self.table,
            key: ("user_id", user_id),
            sort_key: "upload_id",
        }
    }

    /// Moves a `pending` upload to `ready` (no TTL from then on) or
    /// `rejected`; `false` when it is not pending (already settled, or gone).
    pub async fn settle(
        &self,
        user_id: &UserId,
        upload_id: &UploadId,
        to: UploadStatus,
    ) -> Result<bool, StoreError> {
        let update = match to {
            UploadStatus::Ready => "SET #status = :to REMOVE expires_at",
            _ => "SET #status = :to",
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .key("upload_id", s(upload_id))
            .update_expression(update)
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":pending", s(UploadStatus::Pending.as_str()))
            .send()
            .await;
        conditional("DynamoDB.UpdateItem", result)
    }

    /// Deletes the record (deleting one that is not there succeeds: the
    /// route has already found it, and a retry must not fail).
    pub async fn delete(&self, user_id: &UserId, upload_id: &UploadId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .key("upload_id", s(upload_id))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk("DynamoDB.DeleteItem", e))
    }
}

/// A record whose TTL has passed is treated as absent.
fn live_from(item: &Item, now: Timestamp) -> Result<Option<UploadRecord>, StoreError> {
    Ok(live(record_from(item, "DynamoDB.Query")?, now))
}

fn live(record: UploadRecord, now: Timestamp) -> Option<UploadRecord> {
    match record.expires_at {
        Some(expires_at) if expires_at.has_passed(now) => None,
        _ => Some(record),
    }
}

fn record_from(item: &Item, operation: &'static str) -> Result<UploadRecord, StoreError> {
    let corrupt = |what: &str| StoreError::corrupt(operation, format!("upload item: {what}"));
    let field = |name: &str| text(item, name).ok_or_else(|| corrupt(name));
    let size = number(item, "size").ok_or_else(|| corrupt("size"))?;
    Ok(UploadRecord {
        user_id: field("user_id")?.into(),
        upload_id: field("upload_id")?.into(),
        filename: field("filename")?,
        content_type: field("content_type")?,
        size,
        status: UploadStatus::parse(&field("status")?).ok_or_else(|| corrupt("status"))?,
        created_at: timestamp(item, "created_at").ok_or_else(|| corrupt("created_at"))?,
        expires_at: timestamp(item, "expires_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_ids_under_the_owners_prefix_and_round_trip() {
        let user = UserId::new();
        let upload = UploadId::new();
        let key = object_key(&user, &upload);
        assert_eq!(key, format!("users/{user}/uploads/{upload}"));
        assert_eq!(parse_object_key(&key), Some((user, upload)));
    }

    #[test]
    fn keys_that_are_not_ours_are_not_parsed() {
        let id = crate::ids::new_id();
        for key in [
            format!("users/{id}/uploads/../{id}"),
            format!("users/{id}/uploads/{id}/extra"),
            format!("other/{id}/uploads/{id}"),
            format!("users/{id}/uploads/"),
            "users//uploads/x".to_string(),
        ] {
            assert_eq!(parse_object_key(&key), None, "{key}");
        }
    }

    #[test]
    fn a_lapsed_record_is_absent_and_a_ready_one_never_lapses() {
        let record = UploadRecord {
            user_id: "u".into(),
            upload_id: "x".into(),
            filename: "f".into(),
            content_type: "text/plain".into(),
            size: 1,
            status: UploadStatus::Pending,
            created_at: Timestamp(100),
            expires_at: Some(Timestamp(200)),
        };
        assert!(live(record.clone(), Timestamp(199)).is_some());
        assert!(live(record.clone(), Timestamp(200)).is_none());
        let ready = UploadRecord {
            status: UploadStatus::Ready,
            expires_at: None,
            ..record
        };
        assert!(live(ready, Timestamp(u64::MAX)).is_some());
    }
}
