//! One partition of a table read a page at a time.

use super::{Item, StoreError, s, text};

/// One page of a listing, and the sort key the next page starts after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The records, in sort-key order.
    pub items: Vec<T>,
    /// The sort key the next page starts after; `None` on the last page.
    pub next_after: Option<String>,
}

/// The items of one partition of a table whose sort key is a string (a
/// user's uploads, a user's jobs), read strongly consistently.
#[derive(Debug, Clone, Copy)]
pub struct Partition<'a> {
    /// The DynamoDB client it reads with.
    pub client: &'a aws_sdk_dynamodb::Client,
    /// The table whose partition it reads.
    pub table: &'a str,
    /// The partition key's name and value.
    pub key: (&'a str, &'a str),
    /// The sort key's name.
    pub sort_key: &'a str,
}

impl Partition<'_> {
    /// Up to `limit` items after the sort key `after`; `decode` makes each
    /// a record, or `None` for one to leave out (it lapsed).
    pub async fn page<T>(
        &self,
        limit: u32,
        after: Option<&str>,
        decode: impl Fn(&Item) -> Result<Option<T>, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        const OPERATION: &str = "DynamoDB.Query";
        let (key_name, key_value) = self.key;
        let mut query = self
            .client
            .query()
            .table_name(self.table)
            .key_condition_expression("#key = :key")
            .expression_attribute_names("#key", key_name)
            .expression_attribute_values(":key", s(key_value))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        if let Some(after) = after {
            query = query
                .exclusive_start_key(key_name, s(key_value))
                .exclusive_start_key(self.sort_key, s(after));
        }
        let output = query
            .send()
            .await
            .map_err(|e| StoreError::sdk(OPERATION, e))?;
        let mut items = Vec::new();
        for item in output.items() {
            items.extend(decode(item)?);
        }
        let next_after = output
            .last_evaluated_key()
            .and_then(|key| text(key, self.sort_key));
        Ok(Page { items, next_after })
    }

    /// Every item of the partition, a page of 100 at a time.
    pub async fn all<T>(
        &self,
        decode: impl Fn(&Item) -> Result<Option<T>, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.page(100, after.as_deref(), &decode).await?;
            items.extend(page.items);
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(items),
            }
        }
    }
}
