//! Every function's handler, built by binary name exactly as its `main`
//! builds it, for calling in-process: the sample-event test feeds it
//! `events/`, and the AWS call budget counts what each route asks of the
//! stores.

use anyhow::Result;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};
use shared::accounts::rotation::RotateKeys;
use shared::accounts::routes::{
    DeleteSession, Jwks, ListSessions, Login, Logout, LogoutAll, Me, Refresh, Register,
};
use shared::aws::AwsClients;
use shared::cart::routes::{GetCart, PutCart};
use shared::config::Environment;
use shared::http::finish;
use shared::jobs::routes::{CreateJob, GetJob, ListJobs};
use shared::jobs::worker::{JobFailures, JobSweeper, JobWorker};
use shared::route::Route;
use shared::uploads::events::UploadEvents;
use shared::uploads::routes::{CreateUpload, DeleteUpload, GetUpload, ListUploads};

/// One function's handler.
pub enum Handler {
    Health,
    Jwks(Jwks),
    Register(Register),
    Login(Login),
    Refresh(Refresh),
    Logout(Logout),
    LogoutAll(LogoutAll),
    ListSessions(ListSessions),
    DeleteSession(DeleteSession),
    Me(Me),
    GetCart(GetCart),
    PutCart(PutCart),
    CreateUpload(CreateUpload),
    ListUploads(ListUploads),
    GetUpload(GetUpload),
    DeleteUpload(DeleteUpload),
    CreateJob(CreateJob),
    ListJobs(ListJobs),
    GetJob(GetJob),
    UploadEvents(UploadEvents),
    JobWorker(JobWorker),
    JobFailures(JobFailures),
    JobSweeper(JobSweeper),
    RotateKeys(RotateKeys),
}

impl Handler {
    /// The handler of function `binary` with its environment and clients,
    /// as its cold start builds it; `None` for a binary not known here.
    pub async fn build(binary: &str, env: &Environment, aws: &AwsClients) -> Result<Option<Self>> {
        Ok(Some(match binary {
            "health" => Self::Health,
            "jwks" => Self::Jwks(Jwks::new(env, aws).await?),
            "register" => Self::Register(Register::new(env, aws)?),
            "login" => Self::Login(Login::new(env, aws).await?),
            "refresh" => Self::Refresh(Refresh::new(env, aws).await?),
            "logout" => Self::Logout(Logout::new(env, aws).await?),
            "logout-all" => Self::LogoutAll(LogoutAll::new(env, aws).await?),
            "list-sessions" => Self::ListSessions(ListSessions::new(env, aws).await?),
            "delete-session" => Self::DeleteSession(DeleteSession::new(env, aws).await?),
            "me" => Self::Me(Me::new(env, aws).await?),
            "get-cart" => Self::GetCart(GetCart::new(env, aws).await?),
            "put-cart" => Self::PutCart(PutCart::new(env, aws).await?),
            "create-upload" => Self::CreateUpload(CreateUpload::new(env, aws).await?),
            "list-uploads" => Self::ListUploads(ListUploads::new(env, aws).await?),
            "get-upload" => Self::GetUpload(GetUpload::new(env, aws).await?),
            "delete-upload" => Self::DeleteUpload(DeleteUpload::new(env, aws).await?),
            "create-job" => Self::CreateJob(CreateJob::new(env, aws).await?),
            "list-jobs" => Self::ListJobs(ListJobs::new(env, aws).await?),
            "get-job" => Self::GetJob(GetJob::new(env, aws).await?),
            "upload-events" => Self::UploadEvents(UploadEvents::new(env, aws)?),
            "job-worker" => Self::JobWorker(JobWorker::new(env, aws)?),
            "job-failures" => Self::JobFailures(JobFailures::new(env, aws)?),
            "job-sweeper" => Self::JobSweeper(JobSweeper::new(env, aws)?),
            "rotate-keys" => Self::RotateKeys(RotateKeys::new(env, aws)?),
            _ => return Ok(None),
        }))
    }

    /// Whether it consumes a queue (`sqs`) rather than serving a route (`http`).
    pub fn consumes_a_queue(&self) -> bool {
        matches!(
            self,
            Self::UploadEvents(_)
                | Self::JobWorker(_)
                | Self::JobFailures(_)
                | Self::JobSweeper(_)
                | Self::RotateKeys(_)
        )
    }

    /// A route's answer to `request`, as the function would send it;
    /// `None` for a queue consumer.
    pub async fn http(&self, request: Request) -> Option<Response<Body>> {
        Some(finish(match self {
            Self::Health => shared::health::handle(request).await,
            Self::Jwks(route) => route.handle(request).await,
            Self::Register(route) => route.handle(request).await,
            Self::Login(route) => route.handle(request).await,
            Self::Refresh(route) => route.handle(request).await,
            Self::Logout(route) => route.handle(request).await,
            Self::LogoutAll(route) => route.handle(request).await,
            Self::ListSessions(route) => route.handle(request).await,
            Self::DeleteSession(route) => route.handle(request).await,
            Self::Me(route) => route.handle(request).await,
            Self::GetCart(route) => route.handle(request).await,
            Self::PutCart(route) => route.handle(request).await,
            Self::CreateUpload(route) => route.handle(request).await,
            Self::ListUploads(route) => route.handle(request).await,
            Self::GetUpload(route) => route.handle(request).await,
            Self::DeleteUpload(route) => route.handle(request).await,
            Self::CreateJob(route) => route.handle(request).await,
            Self::ListJobs(route) => route.handle(request).await,
            Self::GetJob(route) => route.handle(request).await,
            Self::UploadEvents(_)
            | Self::JobWorker(_)
            | Self::JobFailures(_)
            | Self::JobSweeper(_)
            | Self::RotateKeys(_) => {
                return None;
            }
        }))
    }

    /// A queue consumer's answer to a batch; `None` for a route.
    pub async fn sqs(&self, event: SqsEvent) -> Option<SqsBatchResponse> {
        Some(match self {
            Self::UploadEvents(consumer) => consumer.handle(event).await,
            Self::JobWorker(worker) => {
                worker
                    .handle(event, lambda_runtime::Context::default())
                    .await
            }
            Self::JobFailures(consumer) => consumer.handle(event).await,
            Self::JobSweeper(consumer) => consumer.handle(event).await,
            Self::RotateKeys(consumer) => consumer.handle(event).await,
            _ => return None,
        })
    }
}
