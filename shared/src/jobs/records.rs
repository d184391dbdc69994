//! A job as the service knows it: what it does, where it stands, and what
//! claiming it for a worker found. Its table is `store`'s.

use crate::ids::{JobId, UserId};
use crate::time::Timestamp;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Writes everything the service holds about the user to one JSON document.
    Export,
}

impl JobKind {
    /// Every kind, as the API lists them.
    pub const ALL: [JobKind; 1] = [JobKind::Export];

    /// The kind as the API and the table spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Export => "export",
        }
    }

    /// The kind named `raw`, if there is one.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker holds it until `lease_until`.
    Running,
    /// Done; `result_key` names its output.
    Succeeded,
    /// Given up; `error` says why.
    Failed,
}

impl JobStatus {
    /// The status as the API and the table spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// The status spelled `raw`, as stored and in the API.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == raw)
    }

    /// Whether the job has finished (it never changes again).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// One job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Whose.
    pub user_id: UserId,
    /// Opaque; a keyed request's operation id, so its retry finds this job.
    pub job_id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// Where it stands.
    pub status: JobStatus,
    /// How many times a worker has taken it.
    pub attempts: u32,
    /// When it was asked for.
    pub created_at: Timestamp,
    /// Its last change.
    pub updated_at: Timestamp,
    /// Until when the worker running it holds it.
    pub lease_until: Option<Timestamp>,
    /// Where its output is (S3 key), once it succeeded.
    pub result_key: Option<String>,
    /// Why it failed, once it failed.
    pub error: Option<String>,
    /// What went wrong with the last attempt, if one failed.
    pub last_error: Option<String>,
    /// Its message may not have been sent yet.
    pub unsent: bool,
    /// When the record lapses (TTL), once finished.
    pub expires_at: Option<Timestamp>,
}

impl JobRecord {
    /// The record, unless its TTL has passed at `now` (a finished job
    /// lapses; DynamoDB deletes it up to two days later).
    pub fn live(self, now: Timestamp) -> Option<Self> {
        match self.expires_at {
            Some(expires_at) if expires_at.has_passed(now) => None,
            _ => Some(self),
        }
    }

    /// A new job, queued and not yet sent.
    pub fn queued(user_id: &UserId, job_id: &JobId, kind: JobKind, now: Timestamp) -> Self {
        Self {
            user_id: user_id.clone(),
            job_id: job_id.clone(),
            kind,
            status: JobStatus::Queued,
            attempts: 0,
            created_at: now,
            updated_at: now,
            lease_until: None,
            result_key: None,
            error: None,
            last_error: None,
            unsent: true,
            expires_at: None,
        }
    }
}

/// What claiming a job for a worker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The worker holds it now, as attempt `record.attempts`.
    Claimed(JobRecord),
    /// Another worker holds a live lease on it.
    Busy,
    /// It has finished.
    Finished(JobStatus),
    /// There is no such job (or it lapsed).
    Missing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_job_lapses_with_its_ttl() {
        let mut record =
            JobRecord::queued(&"u".into(), &"j".into(), JobKind::Export, Timestamp(10));
        assert!(record.clone().live(Timestamp(u64::MAX)).is_some());
        record.expires_at = Some(Timestamp(20));
        assert!(record.clone().live(Timestamp(19)).is_some());
        assert!(record.live(Timestamp(20)).is_none());
    }

    #[test]
    fn kinds_and_statuses_are_spelled_as_in_the_api() {
        assert_eq!(JobKind::parse("export"), Some(JobKind::Export));
        assert_eq!(JobKind::parse("Export"), None);
        for status in ["queued", "running", "succeeded", "failed"] {
            assert_eq!(
                JobStatus::parse(status).map(JobStatus::as_str),
                Some(status)
            );
        }
        assert!(JobStatus::Failed.is_final() && !JobStatus::Running.is_final());
    }
}
