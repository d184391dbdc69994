//! The "Uploads" routes (`shared/openapi.yaml`). The functions hand out presigned URLs and
//! keep records; the bytes go from the client to S3 and back, never through
//! a function.

use std::time::{Duration, SystemTime};

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::files::{UploadPolicy, attachment, display_name};
use super::objects::{PENDING_TAG, UploadObjects};
use super::records::{UploadRecord, UploadStatus, UploadStore};
use crate::accounts::auth::Caller;
use crate::accounts::routes::StartupError;
use crate::aws::AwsClients;
use crate::config::{ConfigError, Environment};
use crate::http::{
    PageRequest, Problem, ProblemCode, json, json_body, no_content, no_store, page_response,
    path_id,
};
use crate::ids::UploadId;
use crate::presign::Presigner;
use crate::route::{AuthenticatedRoute, Calls};
use crate::time::Timestamp;

/// Longest life of an upload URL (`shared/openapi.yaml`: at most 10 minutes).
pub const MAX_UPLOAD_URL_SECONDS: u64 = 600;
/// Life of a download URL (at most 5 minutes).
pub const DOWNLOAD_URL_SECONDS: u64 = 300;
/// How long a record waits for its object.
pub const PENDING_TTL_SECONDS: u64 = 24 * 3600;

pub(crate) fn upload_store(
    env: &Environment,
    aws: &AwsClients,
) -> Result<UploadStore, ConfigError> {
    Ok(UploadStore::new(
        aws.dynamodb().clone(),
        env.require("UPLOADS_TABLE")?,
    ))
}

fn upload_objects(env: &Environment, aws: &AwsClients) -> Result<UploadObjects, ConfigError> {
    Ok(UploadObjects::new(
        aws.s3().clone(),
        env.require("UPLOADS_BUCKET")?,
    ))
}

fn presigner(env: &Environment, aws: &AwsClients) -> Result<Presigner, StartupError> {
    Presigner::from_env(env, aws, "UPLOADS_BUCKET")
}

fn not_found() -> Problem {
    Problem::not_found("no such upload")
}

/// An upload as the API shows it.
#[derive(Debug, Serialize)]
struct UploadView {
    upload_id: UploadId,
    filename: String,
    content_type: String,
    size: u64,
    status: &'static str,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    download_url: Option<String>,
}

impl UploadView {
    pub(crate) fn of(record: UploadRecord, download_url: Option<String>) -> Self {
        Self {
            status: record.status.as_str(),
            created_at: record.created_at.rfc3339(),
            upload_id: record.upload_id,
            filename: record.filename,
            content_type: record.content_type,
            size: record.size,
            download_url,
        }
    }
}

/// `POST /uploads`.
pub struct CreateUpload {
    uploads: UploadStore,
    presigner: Presigner,
    policy: UploadPolicy,
    url_seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUploadBody {
    filename: String,
    content_type: String,
    size: u64,
}

#[derive(Serialize)]
struct CreatedUpload {
    upload_id: UploadId,
    method: &'static str,
    url: String,
    headers: serde_json::Map<String, serde_json::Value>,
    expires_at: String,
}

fn invalid(code: ProblemCode, title: &'static str, field: &str, reason: String) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        code,
        title,
        format!("`{field}` {reason}"),
    )
}

impl AuthenticatedRoute for CreateUpload {
    const CALLS: Calls = Calls::new(1, "the pending upload's record (presigning is local)");

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            uploads: upload_store(env, aws)?,
            presigner: presigner(env, aws)?,
            policy: UploadPolicy::from_env(env)?,
            url_seconds: env
                .parse_or("UPLOAD_URL_TTL_SECONDS", MAX_UPLOAD_URL_SECONDS)?
                .clamp(1, MAX_UPLOAD_URL_SECONDS),
        })
    }

    /// Records a pending upload and hands out the URL to PUT it to.
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let body: CreateUploadBody = json_body(request)?;
        let content_type = self.policy.content_type(&body.content_type).map_err(|r| {
            invalid(
                ProblemCode::ContentTypeNotAllowed,
                "The type is not allowed",
                "content_type",
                r,
            )
        })?;
        let size = self.policy.size(body.size).map_err(|r| {
            invalid(
                ProblemCode::SizeOutOfRange,
                "The size is out of range",
                "size",
                r,
            )
        })?;
        let now = Timestamp::now();
        let record = UploadRecord {
            user_id: caller.user_id().clone(),
            upload_id: UploadId::new(),
            filename: display_name(&body.filename),
            content_type,
            size,
            status: UploadStatus::Pending,
            created_at: now,
            expires_at: Some(now.plus(PENDING_TTL_SECONDS)),
        };
        let signed = self
            .presigner
            .put(
                &record.object_key(),
                &record.content_type,
                record.size,
                PENDING_TAG,
                Duration::from_secs(self.url_seconds),
                SystemTime::now(),
            )
            .await?;
        // The record exists before anyone can upload: every object event finds it.
        self.uploads.create(&record).await?;
        tracing::info!(upload_id = %record.upload_id, size, "upload url issued");
        let headers = signed
            .headers
            .into_iter()
            .map(|(name, value)| (http_case(&name), serde_json::Value::String(value)))
            .collect();
        let created = CreatedUpload {
            upload_id: record.upload_id.clone(),
            method: "PUT",
            url: signed.url,
            headers,
            expires_at: now.plus(self.url_seconds).rfc3339(),
        };
        let mut response = no_store(json(StatusCode::CREATED, &created)?);
        if let Ok(location) = HeaderValue::from_str(&format!("/uploads/{}", record.upload_id)) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    }
}

/// `content-length` as `Content-Length`, `x-amz-tagging` as `X-Amz-Tagging`.
fn http_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// `GET /uploads/{upload_id}`.
pub struct GetUpload {
    uploads: UploadStore,
    presigner: Presigner,
}

impl AuthenticatedRoute for GetUpload {
    const CALLS: Calls = Calls::new(1, "the record (the download URL is presigned locally)");
    const READ_ONLY: bool = true;

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            uploads: upload_store(env, aws)?,
            presigner: presigner(env, aws)?,
        })
    }

    /// The caller's upload; with a short-lived download URL once it is ready.
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let upload_id = path_id(request, "upload_id").ok_or_else(not_found)?;
        let record = self
            .uploads
            .get(caller.user_id(), &upload_id, Timestamp::now())
            .await?
            .ok_or_else(not_found)?;
        let download_url = match record.status {
            UploadStatus::Ready => Some(
                self.presigner
                    .get(
                        &record.object_key(),
                        &attachment(&record.filename),
                        Duration::from_secs(DOWNLOAD_URL_SECONDS),
                        SystemTime::now(),
                    )
                    .await?
                    .url,
            ),
            _ => None,
        };
        Ok(no_store(json(
            StatusCode::OK,
            &UploadView::of(record, download_url),
        )?))
    }
}

/// `GET /uploads`.
pub struct ListUploads {
    uploads: UploadStore,
}

impl AuthenticatedRoute for ListUploads {
    const CALLS: Calls = Calls::new(1, "one query");
    const READ_ONLY: bool = true;

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            uploads: upload_store(env, aws)?,
        })
    }

    /// A page of the caller's uploads.
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let page_request = PageRequest::from_request(request)?;
        let page = self
            .uploads
            .list(
                caller.user_id(),
                page_request.limit,
                page_request.after.as_deref(),
                Timestamp::now(),
            )
            .await?;
        page_response("uploads", page, |record| UploadView::of(record, None))
    }
}

/// `DELETE /uploads/{upload_id}`.
pub struct DeleteUpload {
    uploads: UploadStore,
    objects: UploadObjects,
}

impl AuthenticatedRoute for DeleteUpload {
    const CALLS: Calls = Calls::new(3, "the record (for its key), the object, the record");

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            uploads: upload_store(env, aws)?,
            objects: upload_objects(env, aws)?,
        })
    }

    /// Removes the object, then the record: a failure between the two leaves
    /// a record whose retry finishes the job, never an object without one.
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let upload_id = path_id(request, "upload_id").ok_or_else(not_found)?;
        let now = Timestamp::now();
        let record = self
            .uploads
            .get(caller.user_id(), &upload_id, now)
            .await?
            .ok_or_else(not_found)?;
        self.objects.delete(&record.object_key()).await?;
        self.uploads.delete(caller.user_id(), &upload_id).await?;
        tracing::info!(%upload_id, "upload deleted");
        Ok(no_content())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_shown_in_http_case() {
        assert_eq!(http_case("content-length"), "Content-Length");
        assert_eq!(http_case("if-none-match"), "If-None-Match");
    }
}
