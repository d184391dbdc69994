//! The L2 tier: a DynamoDB table (key `key`, TTL on `expires_at`) shared by
//! every instance. A value is JSON under `value`, fresh until
//! `fresh_until_ms`, with the milliseconds its computation took
//! (`delta_ms`, for XFetch); a lease is the item `lease#<key>`, taken by a
//! conditional write. Every read treats a past `expires_at` as absent.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::aws::{Item, StoreError, conditional, n, number, s, text};

/// The cache table.
#[derive(Debug, Clone)]
pub struct CacheTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// A value as the L2 holds it.
#[derive(Debug, Clone)]
pub struct L2Entry {
    json: String,
    /// Fresh until then (epoch ms); stale after, until the item expires.
    pub fresh_until_ms: u64,
    /// How long its computation took.
    pub delta_ms: u64,
}

impl L2Entry {
    /// Whether it is past its freshness at `now_ms`.
    pub fn is_stale(&self, now_ms: u64) -> bool {
        self.fresh_until_ms <= now_ms
    }

    /// The value it holds.
    pub fn decode<V: DeserializeOwned>(&self) -> Result<V, serde_json::Error> {
        serde_json::from_str(&self.json)
    }
}

fn seconds(ms: u64) -> u64 {
    ms / 1000
}

impl CacheTable {
    /// The cache in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The entry of `key` at `now_ms`, if one is held and not expired.
    pub async fn get(&self, key: &str, now_ms: u64) -> Result<Option<L2Entry>, StoreError> {
        // Eventually consistent: a cache may lag its writer by a moment.
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(key))
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.GetItem", e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        Ok(entry(&item, now_ms))
    }

    /// Stores `value` under `key`, fresh until `fresh_until_ms`, gone at
    /// `expires_at_ms` (the item's TTL).
    pub async fn put<V: Serialize>(
        &self,
        key: &str,
        value: &V,
        fresh_until_ms: u64,
        delta_ms: u64,
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(value)
            .map_err(|e| StoreError::caused_by("DynamoDB.PutItem", e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("key", s(key))
            .item("value", AttributeValue::S(json))
            .item("fresh_until_ms", n(fresh_until_ms))
            .item("delta_ms", n(delta_ms))
            .item("expires_at", n(seconds(expires_at_ms).saturating_add(1)))
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.PutItem", e))?;
        Ok(())
    }

    /// Takes the lease on loading `key` for `lease_ms`, unless another
    /// loader holds it: whether this one got it.
    pub async fn take_lease(
        &self,
        key: &str,
        now_ms: u64,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        let until = now_ms.saturating_add(lease_ms);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("key", s(&format!("lease#{key}")))
            .item("lease_until_ms", n(until))
            .item("expires_at", n(seconds(until).saturating_add(1)))
            .condition_expression("attribute_not_exists(#key) OR lease_until_ms <= :now")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        conditional("DynamoDB.PutItem", result)
    }
}

/// The entry an item holds at `now_ms`: none once its TTL has passed
/// (DynamoDB deletes expired items only within days), or if malformed.
fn entry(item: &Item, now_ms: u64) -> Option<L2Entry> {
    let expires_at: u64 = number(item, "expires_at")?;
    if expires_at.saturating_mul(1000) <= now_ms {
        return None;
    }
    Some(L2Entry {
        json: text(item, "value")?,
        fresh_until_ms: number(item, "fresh_until_ms")?,
        delta_ms: number(item, "delta_ms").unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_past_its_ttl_is_absent() {
        let item = Item::from([
            ("key".to_string(), s("k")),
            ("value".to_string(), s("1")),
            ("fresh_until_ms".to_string(), n(5_000)),
            ("expires_at".to_string(), n(10)),
        ]);
        assert!(entry(&item, 9_999).is_some());
        assert!(entry(&item, 10_000).is_none());
        let held = entry(&item, 1_000).unwrap();
        assert!(!held.is_stale(4_999) && held.is_stale(5_000));
        assert_eq!(held.decode::<u64>().unwrap(), 1);
    }
}
