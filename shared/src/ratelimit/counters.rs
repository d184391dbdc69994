//! The DynamoDB side of rate limiting: one item per policy, key and window,
//! counted with an atomic conditional `ADD`, expiring (TTL) when its window ends.
//!
//! Table: partition key `counter_id` (S) = `<policy>#<key digest>#<window start>`;
//! attributes `hits` (N) and `expires_at` (N, the TTL). The window start is
//! part of the key, so a counter is never read after its window has ended:
//! the next window is a different item.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::aws::{StoreError, conditional_output, n, number, s};
use crate::time::Timestamp;

/// Counters of hits per window, shared by every instance.
#[derive(Debug, Clone)]
pub struct WindowCounters {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl WindowCounters {
    /// Counters in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Counts one hit on `counter_id` unless it already holds `limit` hits:
    /// `Some(hits)` after counting, `None` when the window is full.
    ///
    /// The condition is evaluated before the update, so `hits < limit` lets
    /// the count reach `limit` and never pass it, however many instances race.
    pub async fn hit(
        &self,
        counter_id: &str,
        limit: u32,
        window_end: Timestamp,
    ) -> Result<Option<u32>, StoreError> {
        const OPERATION: &str = "DynamoDB.UpdateItem";
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("counter_id", s(counter_id))
            .update_expression("ADD hits :one SET expires_at = :end")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":end", n(window_end.0))
            .expression_attribute_values(":limit", n(u64::from(limit)))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        let Some(output) = conditional_output(OPERATION, result)? else {
            return Ok(None);
        };
        let hits = output
            .attributes()
            .and_then(|item| number(item, "hits"))
            .ok_or_else(|| StoreError::corrupt(OPERATION, "the counter has no numeric `hits`"))?;
        Ok(Some(hits))
    }

    /// Takes back one hit counted on `counter_id` (never below zero).
    pub async fn unhit(&self, counter_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("counter_id", s(counter_id))
            .update_expression("ADD hits :minus_one")
            .condition_expression("hits > :zero")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        // A failed condition means there is nothing to give back: not an error.
        conditional_output("DynamoDB.UpdateItem", result).map(|_| ())
    }
}
