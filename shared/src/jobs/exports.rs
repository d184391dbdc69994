//! The exports bucket: one JSON document per export job, under the user's
//! own prefix (`users/<user id>/exports/<job id>.json`), written in one
//! PutObject from memory (no file ever holds it) and expired by the
//! bucket's lifecycle rule. The same key for every attempt of a job, so a
//! job run twice writes one object.

use crate::aws::StoreError;

/// The key of `job_id`'s export.
pub fn export_key(user_id: &str, job_id: &str) -> String {
    format!("users/{user_id}/exports/{job_id}.json")
}

/// The name an export downloads under.
pub fn export_file_name(job_id: &str) -> String {
    format!("export-{job_id}.json")
}

/// Export documents in one bucket.
#[derive(Debug, Clone)]
pub struct ExportObjects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl ExportObjects {
    /// Objects in `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// Writes (or overwrites) the document at `key`.
    pub async fn put(&self, key: &str, document: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(document.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk("S3.PutObject", e))
    }
}
