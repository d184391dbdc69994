//! The "Background jobs" routes (`shared/openapi.yaml`). A job is a record first and a
//! message second: the route writes the record, then sends the message, so
//! there is never a message without a record.
//!
//! The record is born marked `unsent`, and the mark goes once the message is
//! on the queue. If the send fails the answer is 503 and:
//!
//! - with an `Idempotency-Key`, the job stays; the client's retry is the same
//!   operation, finds this job and sends it again (one job, however many
//!   retries);
//! - without one, the route deletes the job it just made, so the client's
//!   retry does not leave a second one behind.
//!
//! Whatever is still marked a minute later (a process that died between the
//! two writes, a delete that failed) is sent by the `job-sweeper`.

use std::time::{Duration, SystemTime};

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::export_bucket::{export_file_name, export_key};
use super::messages::{JobMessage, JobQueue};
use super::records::{JobKind, JobRecord, JobStatus};
use super::store::JobStore;
use crate::accounts::auth::Caller;
use crate::accounts::routes::StartupError;
use crate::aws::AwsClients;
use crate::config::{ConfigError, Environment};
use crate::http::{
    PageRequest, Problem, ProblemCode, json, json_body, no_store, page_response, path_id,
};
use crate::idempotency::{Attempt, Idempotency};
use crate::ids::{JobId, UserId};
use crate::presign::Presigner;
use crate::route::{AuthenticatedRoute, Calls};
use crate::time::Timestamp;

/// Life of an export's download URL.
pub const DOWNLOAD_URL_SECONDS: u64 = 300;

pub(crate) fn job_store(env: &Environment, aws: &AwsClients) -> Result<JobStore, ConfigError> {
    Ok(JobStore::new(
        aws.dynamodb().clone(),
        env.require("JOBS_TABLE")?,
    ))
}

pub(crate) fn job_queue(env: &Environment, aws: &AwsClients) -> Result<JobQueue, ConfigError> {
    Ok(JobQueue::new(
        aws.sqs().clone(),
        env.require("JOBS_QUEUE_URL")?,
    ))
}

/// A job as the API shows it.
#[derive(Debug, Serialize)]
struct JobView {
    job_id: JobId,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    attempts: u32,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<JobResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Where a finished job's output is.
#[derive(Debug, Serialize)]
pub(crate) struct JobResult {
    download_url: String,
    download_url_expires_at: String,
}

impl JobView {
    /// The view of `record`, with `result` when its output is to be shown.
    pub(crate) fn of(record: JobRecord, result: Option<JobResult>) -> Self {
        Self {
            kind: record.kind.as_str(),
            status: record.status.as_str(),
            attempts: record.attempts,
            created_at: record.created_at.rfc3339(),
            updated_at: record.updated_at.rfc3339(),
            error: match record.status {
                JobStatus::Failed => record.error,
                _ => None,
            },
            job_id: record.job_id,
            result,
        }
    }
}

fn not_found() -> Problem {
    Problem::not_found("no such job")
}

/// `POST /jobs`.
pub struct CreateJob {
    idempotency: Idempotency,
    jobs: JobStore,
    queue: JobQueue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateJobBody {
    #[serde(rename = "type")]
    kind: String,
}

fn unknown_type() -> Problem {
    let known: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
    Problem::new(
        StatusCode::BAD_REQUEST,
        ProblemCode::UnknownJobType,
        "The job type is unknown",
        format!("`type` must be one of: {}", known.join(", ")),
    )
}

impl CreateJob {
    async fn create(
        &self,
        user_id: &UserId,
        request: &Request,
        attempt: Attempt,
    ) -> Result<Response<Body>, Problem> {
        let body: CreateJobBody = json_body(request)?;
        let kind = JobKind::parse(&body.kind).ok_or_else(unknown_type)?;
        let now = Timestamp::now();
        // The job is the request's operation: a retry of it finds the same job.
        let job_id = JobId::from(attempt.operation_id());
        let fresh = JobRecord::queued(user_id, &job_id, kind, now);
        let job = if self.jobs.create(&fresh).await? {
            tracing::info!(job_id = %fresh.job_id, kind = kind.as_str(), "job created");
            fresh
        } else {
            // An earlier attempt of this same request made it.
            self.jobs
                .get(user_id, &job_id, now)
                .await?
                .ok_or_else(|| Problem::service_unavailable(1))?
        };
        if job.unsent {
            self.send(&job, &attempt).await?;
        }
        let mut response = no_store(json(StatusCode::ACCEPTED, &JobView::of(job.clone(), None))?);
        if let Ok(location) = HeaderValue::from_str(&format!("/jobs/{}", job.job_id)) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    }

    /// Sends the job's message and clears its mark; on a failed send, leaves
    /// it for the retry (keyed) or takes it back (not keyed): see the module.
    async fn send(&self, job: &JobRecord, attempt: &Attempt) -> Result<(), Problem> {
        if let Err(error) = self.queue.send(&JobMessage::from(job)).await {
            if !attempt.is_keyed()
                && let Err(error) = self.jobs.delete_unsent(&job.user_id, &job.job_id).await
            {
                tracing::warn!(%error, job_id = %job.job_id, "unsent job kept; the sweep will send it");
            }
            return Err(error.into());
        }
        if let Err(error) = self.jobs.mark_sent(&job.user_id, &job.job_id).await {
            // The message is on its way; the sweep may send it once more,
            // which the worker shrugs off.
            tracing::warn!(%error, job_id = %job.job_id, "job sent but still marked unsent");
        }
        Ok(())
    }
}

impl AuthenticatedRoute for CreateJob {
    const CALLS: Calls = Calls::new(
        5,
        "the idempotency claim, the job record, the message, the record marked sent, \
         the claim completed",
    );

    /// Built from the jobs and idempotency tables and the jobs queue.
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            idempotency: Idempotency::from_env(env, aws, "POST /jobs")?,
            jobs: job_store(env, aws)?,
            queue: job_queue(env, aws)?,
        })
    }

    /// Queues a job; with an `Idempotency-Key`, at most one per key.
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        self.idempotency
            .run(caller.user_id(), request, |attempt| {
                self.create(caller.user_id(), request, attempt)
            })
            .await
    }
}

/// `GET /jobs/{job_id}`.
pub struct GetJob {
    jobs: JobStore,
    presigner: Presigner,
}

impl GetJob {
    async fn download(&self, job: &JobRecord) -> Result<JobResult, Problem> {
        // The key is always derived from the owner and the id, never read
        // from the record, so a record can only ever point into its owner's prefix.
        let key = export_key(&job.user_id, &job.job_id);
        let disposition = format!("attachment; filename=\"{}\"", export_file_name(&job.job_id));
        let signed = self
            .presigner
            .get(
                &key,
                &disposition,
                Duration::from_secs(DOWNLOAD_URL_SECONDS),
                SystemTime::now(),
            )
            .await?;
        Ok(JobResult {
            download_url: signed.url,
            download_url_expires_at: Timestamp::now().plus(DOWNLOAD_URL_SECONDS).rfc3339(),
        })
    }
}

impl AuthenticatedRoute for GetJob {
    const CALLS: Calls = Calls::new(1, "the job (the result URL is presigned locally)");
    const READ_ONLY: bool = true;

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            jobs: job_store(env, aws)?,
            presigner: Presigner::from_env(env, aws, "EXPORTS_BUCKET")?,
        })
    }

    /// The caller's job; a short-lived download URL once it succeeded.
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let job_id = path_id(request, "job_id").ok_or_else(not_found)?;
        let job = self
            .jobs
            .get(caller.user_id(), &job_id, Timestamp::now())
            .await?
            .ok_or_else(not_found)?;
        let result = match (job.status, job.kind) {
            (JobStatus::Succeeded, JobKind::Export) => Some(self.download(&job).await?),
            _ => None,
        };
        Ok(no_store(json(StatusCode::OK, &JobView::of(job, result))?))
    }
}

/// `GET /jobs`.
pub struct ListJobs {
    jobs: JobStore,
}

impl AuthenticatedRoute for ListJobs {
    const CALLS: Calls = Calls::new(1, "one query");
    const READ_ONLY: bool = true;

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            jobs: job_store(env, aws)?,
        })
    }

    /// A page of the caller's jobs (without download URLs: ask for the job).
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let page_request = PageRequest::from_request(request)?;
        let page = self
            .jobs
            .list(
                caller.user_id(),
                page_request.limit,
                page_request.after.as_deref(),
                Timestamp::now(),
            )
            .await?;
        page_response("jobs", page, |job| JobView::of(job, None))
    }
}
