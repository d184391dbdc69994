//! The jobs table: `user_id` (S) and `job_id` (S) as its key, with `type`,
//! `status`, `attempts`, `created_at`, `updated_at` and, as they apply,
//! `lease_until` (while a worker runs it), `result_key`, `error`,
//! `last_error`, `unsent` and `expires_at` (TTL, once finished).
//!
//! A job is born `unsent` (the sparse index `unsent-jobs` lists those by
//! `created_at`): the mark goes when its message is sent, or when a worker
//! takes it. Status moves `queued -> running -> succeeded | failed` only by
//! conditional writes. A worker's writes are fenced by the attempt number
//! it claimed with, so a worker whose lease lapsed and was taken over can
//! change nothing; a finished job never moves again.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::messages::JobMessage;
use super::records::{Claim, JobKind, JobRecord, JobStatus};
use crate::aws::{
    Item, Page, Partition, StoreError, conditional, consistent_get, n, number, s, text, timestamp,
};
use crate::ids::{JobId, UserId};
use crate::time::Timestamp;

/// The sparse index of jobs whose message may not have been sent.
pub const UNSENT_INDEX: &str = "unsent-jobs";
/// The value of `unsent` (the index's partition key) on every unsent job.
const UNSENT: &str = "unsent";

/// Job records in DynamoDB.
#[derive(Debug, Clone)]
pub struct JobStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl JobStore {
    /// Records in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Writes a new job; `false` when a job with its id exists already.
    pub async fn create(&self, record: &JobRecord) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_from(record)))
            .condition_expression("attribute_not_exists(job_id)")
            .send()
            .await;
        conditional("DynamoDB.PutItem", result)
    }

    /// The job, if it exists and has not lapsed.
    pub async fn get(
        &self,
        user_id: &UserId,
        job_id: &JobId,
        now: Timestamp,
    ) -> Result<Option<JobRecord>, StoreError> {
        match consistent_get(&self.client, &self.table, key(user_id, job_id)).await? {
            None => Ok(None),
            Some(item) => Ok(record_from(&item, "DynamoDB.GetItem")?.live(now)),
        }
    }

    /// Up to `limit` of the user's live jobs after `after`, by id.
    pub async fn list(
        &self,
        user_id: &UserId,
        limit: u32,
        after: Option<&str>,
        now: Timestamp,
    ) -> Result<Page<JobRecord>, StoreError> {
        self.partition(user_id)
            .page(limit, after, |item| live_from(item, now))
            .await
    }

    /// Every live job of the user.
    pub async fn all(
        &self,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<Vec<JobRecord>, StoreError> {
        self.partition(user_id)
            .all(|item| live_from(item, now))
            .await
    }

    fn partition<'a>(&'a self, user_id: &'a UserId) -> Partition<'a> {
        Partition {
            client: &self.client,
            table: &self.table,
            key: ("user_id", user_id),
            sort_key: "job_id",
        }
    }

    /// Clears the unsent mark once the job's message is on the queue.
    pub async fn mark_sent(&self, user_id: &UserId, job_id: &JobId) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_id, job_id)))
            .update_expression("REMOVE unsent")
            .condition_expression("attribute_exists(unsent)")
            .send()
            .await;
        conditional("DynamoDB.UpdateItem", result)
    }

    /// Deletes a job that was never sent (its creation is being undone);
    /// `false` when it is no longer an unsent, queued job.
    pub async fn delete_unsent(
        &self,
        user_id: &UserId,
        job_id: &JobId,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_id, job_id)))
            .condition_expression("attribute_exists(unsent) AND #status = :queued")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", s(JobStatus::Queued.as_str()))
            .send()
            .await;
        conditional("DynamoDB.DeleteItem", result)
    }

    /// Takes the job for a worker until `lease_until`: it must be queued, or
    /// running under a lease that has lapsed (its worker died).
    pub async fn claim(
        &self,
        user_id: &UserId,
        job_id: &JobId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claim, StoreError> {
        const OPERATION: &str = "DynamoDB.UpdateItem";
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_id, job_id)))
            .update_expression(
                "SET #status = :running, lease_until = :lease, updated_at = :now \
                 ADD attempts :one REMOVE unsent",
            )
            .condition_expression(
                "attribute_exists(job_id) AND (#status = :queued \
                 OR (#status = :running AND lease_until <= :now))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":queued", s(JobStatus::Queued.as_str()))
            .expression_attribute_values(":lease", n(lease_until.0))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output
                    .attributes
                    .ok_or_else(|| StoreError::corrupt(OPERATION, "no attributes returned"))?;
                Ok(Claim::Claimed(record_from(&item, OPERATION)?))
            }
            Err(SdkError::ServiceError(failure)) => match failure.err() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let Some(item) = failed.item() else {
                        return Ok(Claim::Missing);
                    };
                    let record = record_from(item, OPERATION)?;
                    Ok(match record.status {
                        status if status.is_final() => Claim::Finished(status),
                        _ => Claim::Busy,
                    })
                }
                _ => Err(StoreError::sdk(OPERATION, SdkError::ServiceError(failure))),
            },
            Err(other) => Err(StoreError::sdk(OPERATION, other)),
        }
    }

    /// Marks the job succeeded with its output at `result_key`, if `attempt`
    /// still holds it; `false` when it does not (taken over or finished).
    pub async fn succeed(
        &self,
        running: &JobRecord,
        result_key: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .fenced_update(running)
            .update_expression(
                "SET #status = :succeeded, result_key = :key, updated_at = :now, \
                 expires_at = :expires REMOVE lease_until",
            )
            .expression_attribute_values(":succeeded", s(JobStatus::Succeeded.as_str()))
            .expression_attribute_values(":key", s(result_key))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":expires", n(expires_at.0))
            .send()
            .await;
        conditional("DynamoDB.UpdateItem", result)
    }

    /// Puts the job back in the queue after a failed attempt, noting why, if
    /// the attempt still holds it.
    pub async fn release(
        &self,
        running: &JobRecord,
        error: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .fenced_update(running)
            .update_expression(
                "SET #status = :queued, last_error = :error, updated_at = :now REMOVE lease_until",
            )
            .expression_attribute_values(":queued", s(JobStatus::Queued.as_str()))
            .expression_attribute_values(":error", s(error))
            .expression_attribute_values(":now", n(now.0))
            .send()
            .await;
        conditional("DynamoDB.UpdateItem", result)
    }

    /// Marks an unfinished job failed for good with `error`; `false` when it
    /// has already finished (or is gone).
    pub async fn give_up(
        &self,
        user_id: &UserId,
        job_id: &JobId,
        error: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_id, job_id)))
            .update_expression(
                "SET #status = :failed, #error = :error, updated_at = :now, expires_at = :expires \
                 REMOVE lease_until, unsent",
            )
            .condition_expression("#status IN (:queued, :running)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":failed", s(JobStatus::Failed.as_str()))
            .expression_attribute_values(":queued", s(JobStatus::Queued.as_str()))
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":error", s(error))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":expires", n(expires_at.0))
            .send()
            .await;
        conditional("DynamoDB.UpdateItem", result)
    }

    /// The messages of up to `limit` jobs still marked unsent that were
    /// created before `cutoff`.
    pub async fn unsent_before(
        &self,
        cutoff: Timestamp,
        limit: u32,
    ) -> Result<Vec<JobMessage>, StoreError> {
        const OPERATION: &str = "DynamoDB.Query";
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(UNSENT_INDEX)
            .key_condition_expression("unsent = :unsent AND created_at < :cutoff")
            .expression_attribute_values(":unsent", s(UNSENT))
            .expression_attribute_values(":cutoff", n(cutoff.0))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::sdk(OPERATION, e))?;
        output
            .items()
            .iter()
            .map(|item| match (text(item, "user_id"), text(item, "job_id")) {
                (Some(user_id), Some(job_id)) => Ok(JobMessage {
                    user_id: user_id.into(),
                    job_id: job_id.into(),
                }),
                _ => Err(StoreError::corrupt(
                    OPERATION,
                    "unsent index entry without a key",
                )),
            })
            .collect()
    }

    /// An update of the job that lands only while `running` holds it.
    fn fenced_update(
        &self,
        running: &JobRecord,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&running.user_id, &running.job_id)))
            .condition_expression("#status = :running_now AND attempts = :attempt")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running_now", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":attempt", n(u64::from(running.attempts)))
    }
}

fn key(user_id: &UserId, job_id: &JobId) -> Item {
    Item::from([
        ("user_id".to_string(), s(user_id)),
        ("job_id".to_string(), s(job_id)),
    ])
}

/// A record whose TTL has passed is treated as absent.
fn live_from(item: &Item, now: Timestamp) -> Result<Option<JobRecord>, StoreError> {
    Ok(record_from(item, "DynamoDB.Query")?.live(now))
}

fn item_from(record: &JobRecord) -> Item {
    let mut item = key(&record.user_id, &record.job_id);
    item.insert("type".into(), s(record.kind.as_str()));
    item.insert("status".into(), s(record.status.as_str()));
    item.insert("attempts".into(), n(u64::from(record.attempts)));
    item.insert("created_at".into(), n(record.created_at.0));
    item.insert("updated_at".into(), n(record.updated_at.0));
    let optional = [
        ("lease_until", record.lease_until.map(|t| n(t.0))),
        ("result_key", record.result_key.as_deref().map(s)),
        ("error", record.error.as_deref().map(s)),
        ("last_error", record.last_error.as_deref().map(s)),
        ("unsent", record.unsent.then(|| s(UNSENT))),
        ("expires_at", record.expires_at.map(|t| n(t.0))),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.into(), value);
        }
    }
    item
}

fn record_from(item: &Item, operation: &'static str) -> Result<JobRecord, StoreError> {
    let corrupt = |what: &str| StoreError::corrupt(operation, format!("job item: {what}"));
    let field = |name: &str| text(item, name).ok_or_else(|| corrupt(name));
    let attempts = number(item, "attempts").ok_or_else(|| corrupt("attempts"))?;
    Ok(JobRecord {
        user_id: field("user_id")?.into(),
        job_id: field("job_id")?.into(),
        kind: JobKind::parse(&field("type")?).ok_or_else(|| corrupt("type"))?,
        status: JobStatus::parse(&field("status")?).ok_or_else(|| corrupt("status"))?,
        attempts,
        created_at: timestamp(item, "created_at").ok_or_else(|| corrupt("created_at"))?,
        updated_at: timestamp(item, "updated_at").ok_or_else(|| corrupt("updated_at"))?,
        lease_until: timestamp(item, "lease_until"),
        result_key: text(item, "result_key"),
        error: text(item, "error"),
        last_error: text(item, "last_error"),
        unsent: item.contains_key("unsent"),
        expires_at: timestamp(item, "expires_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_its_item() {
        let mut record =
            JobRecord::queued(&"u".into(), &"j".into(), JobKind::Export, Timestamp(10));
        assert_eq!(record_from(&item_from(&record), "test").unwrap(), record);
        record.unsent = false;
        record.status = JobStatus::Succeeded;
        record.attempts = 2;
        record.result_key = Some("users/u/exports/j.json".into());
        record.last_error = Some("x".into());
        record.expires_at = Some(Timestamp(99));
        assert_eq!(record_from(&item_from(&record), "test").unwrap(), record);
    }
}
