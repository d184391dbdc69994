//! The S3 side of uploads: what an object turned out to be, and removing it.
//! No function here ever reads or writes an object's bytes.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{Tag, Tagging};

use crate::aws::StoreError;

/// The tag every object is written with (the presigned PUT signs it): a
/// lifecycle rule expires objects still carrying it, those of uploads that
/// never completed.
pub const PENDING_TAG: &str = "upload=pending";

/// What S3 says an object is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFacts {
    /// Its length in bytes.
    pub size: u64,
    /// Its `Content-Type`, as stored.
    pub content_type: Option<String>,
}

/// Upload objects in one bucket.
#[derive(Debug, Clone)]
pub struct UploadObjects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl UploadObjects {
    /// Objects in `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The object's size and type, or `None` when there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectFacts>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(ObjectFacts {
                size: head
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or_default(),
                content_type: head.content_type().map(str::to_string),
            })),
            Err(error)
                if error.as_service_error().is_some_and(|e| e.is_not_found())
                    || error.code() == Some("NotFound") =>
            {
                Ok(None)
            }
            Err(error) => Err(StoreError::sdk("S3.HeadObject", error)),
        }
    }

    /// Tags the object `upload=ready`, taking it out of the lifecycle rule
    /// that expires unconfirmed uploads.
    pub async fn mark_ready(&self, key: &str) -> Result<(), StoreError> {
        const OPERATION: &str = "S3.PutObjectTagging";
        let tag = Tag::builder()
            .key("upload")
            .value("ready")
            .build()
            .map_err(|e| StoreError::corrupt(OPERATION, e.to_string()))?;
        let tagging = Tagging::builder()
            .tag_set(tag)
            .build()
            .map_err(|e| StoreError::corrupt(OPERATION, e.to_string()))?;
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk(OPERATION, e))
    }

    /// Deletes the object (deleting one that is not there succeeds).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk("S3.DeleteObject", e))
    }
}
