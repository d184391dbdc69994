//! The functions behind the jobs queue: the worker, the dead-letter handler
//! and the sweep.
//!
//! Delivery is at least once. The worker claims a job with a conditional
//! write (`queued -> running`, `attempts + 1`, a lease until its own
//! deadline) before it does any work, and finishes it with a write fenced by
//! that attempt number. So a message delivered twice, or after the job
//! finished, does the work at most once and never moves a finished job
//! backwards. A worker that dies leaves its lease to lapse; the message
//! comes back after the queue's visibility timeout (six times the worker's
//! timeout, so always after the lease) and the next attempt takes over.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Context;

use super::export::Exporter;
use super::messages::{JobMessage, JobQueue};
use super::records::{Claim, JobKind, JobRecord};
use super::routes::{job_queue, job_store};
use super::store::JobStore;
use crate::accounts::routes::StartupError;
use crate::aws::{AwsClients, StoreError};
use crate::config::Environment;
use crate::metrics::{self, Metric};
use crate::sqs_batch::{Consumer, process_batch, retry_all};
use crate::time::Timestamp;

/// How long a finished job (and its export) is kept.
pub const JOB_RETENTION_SECONDS: u64 = 7 * 24 * 3600;
/// A worker's lease when its invocation has no deadline (called directly).
const FALLBACK_LEASE_SECONDS: u64 = 60;
/// The sweep leaves a job alone for this long after its creation by default
/// (its route is still sending it).
pub const DEFAULT_SWEEP_AFTER_SECONDS: u64 = 60;
/// Most jobs one sweep sends.
const SWEEP_BATCH: u32 = 100;

/// Why a message was not done with (it comes back, then goes to the DLQ).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The body does not name a job.
    #[error("not a job message: {0}")]
    Malformed(String),
    /// Another worker holds a live lease on the job; this copy of the
    /// message comes back and finds it finished (or its lease lapsed).
    #[error("another worker is running the job")]
    Busy,
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This delivery did the work and finished the job.
    Succeeded,
    /// Nothing to do: the job had finished, or is gone.
    Skipped,
    /// The work was done but the lease had been taken over: the other
    /// worker finishes the job.
    Superseded,
}

/// `job-worker`: runs each job of a batch of SQS messages, at most once.
pub struct JobWorker {
    jobs: JobStore,
    exporter: Exporter,
}

impl JobWorker {
    async fn message(&self, message: SqsMessage, lease_until: Timestamp) -> Result<(), JobError> {
        let body = message.body.unwrap_or_default();
        let job = JobMessage::parse(&body).map_err(|e| JobError::Malformed(e.to_string()))?;
        let outcome = self.run(&job, lease_until).await?;
        tracing::info!(job_id = %job.job_id, ?outcome, "job message handled");
        Ok(())
    }

    /// Claims the job, does its work, finishes it.
    pub async fn run(&self, job: &JobMessage, lease_until: Timestamp) -> Result<Outcome, JobError> {
        let now = Timestamp::now();
        let running = match self
            .jobs
            .claim(&job.user_id, &job.job_id, now, lease_until)
            .await?
        {
            Claim::Claimed(record) => record,
            Claim::Busy => return Err(JobError::Busy),
            Claim::Finished(status) => {
                tracing::info!(job_id = %job.job_id, status = status.as_str(), "job already finished");
                return Ok(Outcome::Skipped);
            }
            Claim::Missing => {
                tracing::warn!(job_id = %job.job_id, "a message for a job that does not exist");
                return Ok(Outcome::Skipped);
            }
        };
        tracing::info!(job_id = %running.job_id, attempt = running.attempts, lease_until = lease_until.0, "job claimed");
        metrics::count(Metric::JobAttempts);
        match self.work(&running).await {
            Ok(result_key) => {
                let now = Timestamp::now();
                let expires = now.plus(JOB_RETENTION_SECONDS);
                if self
                    .jobs
                    .succeed(&running, &result_key, now, expires)
                    .await?
                {
                    tracing::info!(job_id = %running.job_id, "job succeeded");
                    metrics::count(Metric::JobsSucceeded);
                    Ok(Outcome::Succeeded)
                } else {
                    tracing::warn!(job_id = %running.job_id, "lease lost before the job finished");
                    Ok(Outcome::Superseded)
                }
            }
            Err(error) => {
                let reason = format!("{} was unavailable", error.operation);
                if let Err(release) = self.jobs.release(&running, &reason, Timestamp::now()).await {
                    // The lease lapses at the deadline; the retry takes over then.
                    tracing::warn!(error = %release, "job not released");
                }
                Err(error.into())
            }
        }
    }

    async fn work(&self, job: &JobRecord) -> Result<String, StoreError> {
        match job.kind {
            JobKind::Export => self.exporter.export(job, Timestamp::now()).await,
        }
    }
}

impl Consumer for JobWorker {
    /// Built from the jobs table and what the job kinds need.
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let jobs = job_store(env, aws)?;
        Ok(Self {
            exporter: Exporter::new(env, aws, jobs.clone())?,
            jobs,
        })
    }

    /// Handles a batch; only the messages that failed are reported.
    async fn handle(&self, event: SqsEvent, context: Context) -> SqsBatchResponse {
        let now = Timestamp::now();
        let lease_until =
            Timestamp::invocation_deadline(Some(context.deadline), now, FALLBACK_LEASE_SECONDS);
        process_batch(event, |message| {
            Box::pin(self.message(message, lease_until))
        })
        .await
    }
}

/// The dead-letter queue's function: a message that failed `maxReceiveCount`
/// times marks its job failed, with the last attempt's error.
pub struct JobFailures {
    jobs: JobStore,
}

impl JobFailures {
    async fn message(&self, message: SqsMessage) -> Result<(), StoreError> {
        let body = message.body.unwrap_or_default();
        let Ok(job) = JobMessage::parse(&body) else {
            // Nothing to mark; the log is where it ends.
            tracing::error!(message_id = ?message.message_id, "a dead letter that names no job: dropped");
            return Ok(());
        };
        self.give_up(&job).await.map(|_| ())
    }

    /// Marks the job failed unless it finished; whether it did.
    pub async fn give_up(&self, job: &JobMessage) -> Result<bool, StoreError> {
        let now = Timestamp::now();
        let Some(record) = self.jobs.get(&job.user_id, &job.job_id, now).await? else {
            tracing::warn!(job_id = %job.job_id, "a dead letter for a job that does not exist");
            return Ok(false);
        };
        if record.status.is_final() {
            return Ok(false);
        }
        let error = failure_message(&record);
        let failed = self
            .jobs
            .give_up(
                &job.user_id,
                &job.job_id,
                &error,
                now,
                now.plus(JOB_RETENTION_SECONDS),
            )
            .await?;
        if failed {
            tracing::warn!(job_id = %job.job_id, attempts = record.attempts, "job failed for good");
            metrics::count(Metric::JobsFailed);
        }
        Ok(failed)
    }
}

impl Consumer for JobFailures {
    /// Built from the jobs table.
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            jobs: job_store(env, aws)?,
        })
    }

    /// Handles a batch of dead letters.
    async fn handle(&self, event: SqsEvent, _context: Context) -> SqsBatchResponse {
        process_batch(event, |message| Box::pin(self.message(message))).await
    }
}

/// What a user reads about a job that was given up.
fn failure_message(record: &JobRecord) -> String {
    match (&record.last_error, record.attempts) {
        (Some(last), attempts) => {
            format!("the job was given up after {attempts} attempts; the last one failed: {last}")
        }
        (None, 0) => "the job was given up: no worker could start it".to_string(),
        (None, attempts) => format!(
            "the job was given up after {attempts} attempts; the last one did not finish in time"
        ),
    }
}

/// The sweep, run on a schedule (EventBridge through SQS): sends the jobs
/// still marked unsent a while after their creation.
pub struct JobSweeper {
    jobs: JobStore,
    queue: JobQueue,
    after_seconds: u64,
}

impl JobSweeper {
    /// Sends every job left unsent since before `now - after`; how many.
    pub async fn sweep(&self, now: Timestamp) -> Result<usize, StoreError> {
        let cutoff = Timestamp(now.0.saturating_sub(self.after_seconds));
        let unsent = self.jobs.unsent_before(cutoff, SWEEP_BATCH).await?;
        for message in &unsent {
            self.queue.send(message).await?;
            self.jobs
                .mark_sent(&message.user_id, &message.job_id)
                .await?;
            tracing::info!(job_id = %message.job_id, "unsent job sent by the sweep");
        }
        Ok(unsent.len())
    }
}

impl Consumer for JobSweeper {
    /// Built from the jobs table, the jobs queue and `JOB_SWEEP_AFTER_SECONDS`.
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            jobs: job_store(env, aws)?,
            queue: job_queue(env, aws)?,
            after_seconds: env.parse_or("JOB_SWEEP_AFTER_SECONDS", DEFAULT_SWEEP_AFTER_SECONDS)?,
        })
    }

    /// One sweep per batch of schedule ticks; if it fails, the ticks come back.
    async fn handle(&self, event: SqsEvent, _context: Context) -> SqsBatchResponse {
        match self.sweep(Timestamp::now()).await {
            Ok(sent) => {
                tracing::info!(sent, "sweep done");
                SqsBatchResponse::default()
            }
            Err(error) => {
                tracing::error!(%error, "sweep failed; the tick will be retried");
                retry_all(event)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::records::JobRecord;

    #[test]
    fn a_given_up_job_says_why_in_words() {
        let mut record = JobRecord::queued(&"u".into(), &"j".into(), JobKind::Export, Timestamp(1));
        assert_eq!(
            failure_message(&record),
            "the job was given up: no worker could start it"
        );
        record.attempts = 5;
        assert!(failure_message(&record).contains("did not finish in time"));
        record.last_error = Some("S3.PutObject was unavailable".into());
        assert_eq!(
            failure_message(&record),
            "the job was given up after 5 attempts; the last one failed: S3.PutObject was unavailable"
        );
    }
}
