//! The exports bucket: one JSON document per export job, under the user's
//! own prefix (`users/<user id>/exports/<job id>.json`), expired by the
//! bucket's lifecycle rule. The same key for every attempt of a job, so a
//! job run twice writes one object.
//!
//! A document is written in order and sent as it grows, never held whole
//! (no file holds it either): one that stays under a part goes in one
//! PutObject; a larger one becomes a multipart upload at its first full
//! part, so a worker holds at most about one part of it at a time. An
//! upload that fails is aborted, leaving no parts behind; one whose worker
//! died before it could abort is aborted by the bucket's lifecycle rule a
//! day later.

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::aws::StoreError;
use crate::ids::{JobId, UserId};

/// The size of every part of a multipart export but the last: S3's
/// smallest, so that a worker holds as little of a document as S3 allows.
pub const PART_BYTES: usize = 5 * 1024 * 1024;

/// The key of `job_id`'s export.
pub fn export_key(user_id: &UserId, job_id: &JobId) -> String {
    format!("users/{user_id}/exports/{job_id}.json")
}

/// The name an export downloads under.
pub fn export_file_name(job_id: &JobId) -> String {
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

    /// A document to write (or overwrite) at `key`; nothing is sent yet.
    pub fn upload(&self, key: &str) -> ExportUpload<'_> {
        ExportUpload {
            objects: self,
            key: key.to_string(),
            pending: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
        }
    }
}

/// One document on its way to S3: `write` it in order, then `finish` it,
/// or `abort` it if it cannot be finished.
#[derive(Debug)]
pub struct ExportUpload<'a> {
    objects: &'a ExportObjects,
    key: String,
    /// What is written and not yet sent: less than a part.
    pending: Vec<u8>,
    /// The multipart upload's id, once the first part is full.
    upload_id: Option<String>,
    /// The parts sent so far.
    parts: Vec<CompletedPart>,
}

impl ExportUpload<'_> {
    /// Appends `bytes`, sending a part whenever one is full.
    pub async fn write(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        while !bytes.is_empty() {
            if self.pending.capacity() == 0 {
                // Address space for one part; only what is written of it
                // becomes resident, so a small document costs what it holds.
                self.pending.reserve_exact(PART_BYTES);
            }
            let room = PART_BYTES - self.pending.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.pending.extend_from_slice(now);
            bytes = later;
            if self.pending.len() == PART_BYTES {
                let part = std::mem::take(&mut self.pending);
                self.send_part(part).await?;
            }
        }
        Ok(())
    }

    /// Sends what is left and makes the object: one PutObject for a
    /// document that never filled a part, else the last part and the
    /// upload's completion; the number of parts it went in (1 for a
    /// PutObject). An upload that cannot be completed is aborted.
    pub async fn finish(mut self) -> Result<usize, StoreError> {
        let rest = std::mem::take(&mut self.pending);
        if self.upload_id.is_none() {
            return self.put(rest).await.map(|()| 1);
        }
        let completed = async {
            if !rest.is_empty() {
                self.send_part(rest).await?;
            }
            self.complete().await
        }
        .await;
        match completed {
            Ok(()) => Ok(self.parts.len()),
            Err(error) => {
                self.abort().await;
                Err(error)
            }
        }
    }

    /// Gives the document up: a multipart upload under way is aborted, so
    /// none of its parts is kept (or billed). A failed abort is logged; the
    /// bucket's lifecycle rule aborts the upload a day later.
    pub async fn abort(self) {
        let Some(upload_id) = &self.upload_id else {
            return;
        };
        let objects = self.objects;
        let aborted = objects
            .client
            .abort_multipart_upload()
            .bucket(&objects.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .send()
            .await;
        match aborted {
            Ok(_) => {
                tracing::info!(key = %self.key, parts = self.parts.len(), "export upload aborted");
            }
            Err(error) => tracing::warn!(
                key = %self.key,
                error = %StoreError::sdk("S3.AbortMultipartUpload", error),
                "export upload not aborted; the bucket's lifecycle rule will"
            ),
        }
    }

    async fn put(&self, document: Vec<u8>) -> Result<(), StoreError> {
        let objects = self.objects;
        objects
            .client
            .put_object()
            .bucket(&objects.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(document.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk("S3.PutObject", e))
    }

    /// Sends `part` as the next part, starting the multipart upload first
    /// if this is its first part.
    async fn send_part(&mut self, part: Vec<u8>) -> Result<(), StoreError> {
        let objects = self.objects;
        let upload_id = match &self.upload_id {
            Some(upload_id) => upload_id.clone(),
            None => {
                let created = objects
                    .client
                    .create_multipart_upload()
                    .bucket(&objects.bucket)
                    .key(&self.key)
                    .content_type("application/json")
                    .send()
                    .await
                    .map_err(|e| StoreError::sdk("S3.CreateMultipartUpload", e))?;
                let upload_id = created.upload_id.ok_or_else(|| {
                    StoreError::corrupt("S3.CreateMultipartUpload", "no upload id returned")
                })?;
                self.upload_id.insert(upload_id).clone()
            }
        };
        let number = i32::try_from(self.parts.len() + 1)
            .map_err(|_| StoreError::corrupt("S3.UploadPart", "too many parts"))?;
        let sent = objects
            .client
            .upload_part()
            .bucket(&objects.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(part.into())
            .send()
            .await
            .map_err(|e| StoreError::sdk("S3.UploadPart", e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag)
                .build(),
        );
        Ok(())
    }

    async fn complete(&self) -> Result<(), StoreError> {
        let objects = self.objects;
        objects
            .client
            .complete_multipart_upload()
            .bucket(&objects.bucket)
            .key(&self.key)
            .set_upload_id(self.upload_id.clone())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk("S3.CompleteMultipartUpload", e))
    }
}
