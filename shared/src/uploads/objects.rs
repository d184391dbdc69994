//! The S3 side of uploads: what an object turned out to be, and removing it.
//! No function here ever reads or writes an object's bytes.

use aws_sdk_s3::error::ProvideErrorMetadata;

use crate::aws::StoreError;

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

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
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
