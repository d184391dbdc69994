//! The carts table: one item per user, `user_id` (S) as its key, with
//! `items` (L of M{sku S, quantity N}), `version` (N) and `updated_at` (N).
//! Every write is conditional on the version the writer read, so of two
//! writes from one version exactly one lands.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::items::{CartItems, RawLine};
use crate::aws::{Item, StoreError, conditional_output, consistent_get, n, number, s};
use crate::ids::UserId;
use crate::time::Timestamp;

/// A user's cart and the version it was read at (0: never written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    /// Its lines.
    pub items: CartItems,
    /// Bumped by every write.
    pub version: u64,
}

/// Carts in DynamoDB.
#[derive(Debug, Clone)]
pub struct CartStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl CartStore {
    /// Carts in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The user's cart (empty at version 0 when never written), read strongly
    /// consistently so a write on any instance is seen at once.
    pub async fn get(&self, user_id: &UserId) -> Result<Cart, StoreError> {
        let key = Item::from([("user_id".into(), s(user_id))]);
        match consistent_get(&self.client, &self.table, key).await? {
            None => Ok(Cart::default()),
            Some(item) => cart_from(&item, "DynamoDB.GetItem"),
        }
    }

    /// Replaces the user's lines if the cart is at one of `versions` now:
    /// the new cart, or `None` when it has moved on.
    pub async fn replace(
        &self,
        user_id: &UserId,
        items: &CartItems,
        versions: &[u64],
        now: Timestamp,
    ) -> Result<Option<Cart>, StoreError> {
        const OPERATION: &str = "DynamoDB.UpdateItem";
        let Some((condition, values)) = version_condition(versions) else {
            return Ok(None);
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .update_expression("SET #items = :items, #updated = :now ADD #version :one")
            .condition_expression(condition)
            .expression_attribute_names("#items", "items")
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":items", lines_attribute(items))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        let result = request.send().await;
        match conditional_output(OPERATION, result)? {
            None => Ok(None),
            Some(output) => {
                let item = output
                    .attributes()
                    .ok_or_else(|| StoreError::corrupt(OPERATION, "no attributes returned"))?;
                cart_from(item, OPERATION).map(Some)
            }
        }
    }
}

/// "The version is one of these" as a condition and its values; `None`
/// when no version is given (nothing can match).
fn version_condition(versions: &[u64]) -> Option<(String, Vec<(String, AttributeValue)>)> {
    let mut alternatives = Vec::new();
    if versions.contains(&0) {
        // Version 0 is the cart never written.
        alternatives.push("attribute_not_exists(#version)".to_string());
    }
    let values: Vec<(String, AttributeValue)> = versions
        .iter()
        .filter(|v| **v > 0)
        .enumerate()
        .map(|(i, version)| (format!(":v{i}"), n(*version)))
        .collect();
    if !values.is_empty() {
        let names: Vec<&str> = values.iter().map(|(name, _)| name.as_str()).collect();
        alternatives.push(format!("#version IN ({})", names.join(", ")));
    }
    (!alternatives.is_empty()).then(|| (alternatives.join(" OR "), values))
}

fn lines_attribute(items: &CartItems) -> AttributeValue {
    AttributeValue::L(
        items
            .lines()
            .iter()
            .map(|line| {
                AttributeValue::M(Item::from([
                    ("sku".to_string(), s(line.sku.as_str())),
                    ("quantity".to_string(), n(u64::from(line.quantity.get()))),
                ]))
            })
            .collect(),
    )
}

/// A stored cart, checked with the same rules as a client's.
fn cart_from(item: &Item, operation: &'static str) -> Result<Cart, StoreError> {
    let corrupt = |what: &str| StoreError::corrupt(operation, format!("cart item: {what}"));
    let version = number(item, "version").ok_or_else(|| corrupt("no numeric version"))?;
    let raw = match item.get("items") {
        None => Vec::new(),
        Some(value) => value
            .as_l()
            .map_err(|_| corrupt("items is not a list"))?
            .iter()
            .map(|line| {
                let line = line.as_m().map_err(|_| corrupt("a line is not a map"))?;
                let sku = line.get("sku").and_then(|v| v.as_s().ok());
                let quantity = number(line, "quantity");
                match (sku, quantity) {
                    (Some(sku), Some(quantity)) => Ok(RawLine::new(sku.clone(), quantity)),
                    _ => Err(corrupt("a line lacks sku or quantity")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let items = CartItems::parse(raw).map_err(|e| corrupt(&e.to_string()))?;
    Ok(Cart { items, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_version_matches_nothing() {
        assert!(version_condition(&[]).is_none());
    }

    #[test]
    fn version_zero_is_the_cart_never_written() {
        let (condition, values) = version_condition(&[0]).unwrap();
        assert_eq!(condition, "attribute_not_exists(#version)");
        assert!(values.is_empty());
    }

    #[test]
    fn several_versions_are_alternatives() {
        let (condition, values) = version_condition(&[0, 3, 7]).unwrap();
        assert_eq!(
            condition,
            "attribute_not_exists(#version) OR #version IN (:v0, :v1)"
        );
        assert_eq!(values[1], (":v1".to_string(), n(7)));
    }
}
