//! The catalog table, the source of truth (key `pk`, `sk`):
//!
//! - `product#<sku>` / `product`: the product;
//! - `listing#<category>` / `<sku>` and `listing#*` / `<sku>`: its entry in
//!   its category's listing and in the listing of everything, so a listing
//!   is one strongly consistent Query of one partition;
//! - `version#<category>` / `version` and `version#*` / `version`: each
//!   listing's version, bumped in the same transaction as every write that
//!   changes it, so a cached listing keyed by its version is never stale.
//!
//! A write is one transaction conditional on the version it read, so of two
//! writers from one version exactly one lands, and nothing is half-written.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use super::product::{Category, Price, Product, ProductFields, ProductView};
use crate::aws::{Item, Partition, StoreError, consistent_get, n, number, s, text, timestamp};
use crate::cart::items::Sku;
use crate::time::Timestamp;

const OPERATION: &str = "DynamoDB.TransactWriteItems";

/// The listing of one category, or of everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Shelf {
    /// Every product.
    All,
    /// The products of one category.
    Category(Category),
}

impl Shelf {
    /// Its name in keys: the category, or `*`.
    pub fn key(&self) -> &str {
        match self {
            Shelf::All => "*",
            Shelf::Category(category) => category.as_str(),
        }
    }
}

/// What a write found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A new product.
    Created(Product),
    /// An existing one, replaced.
    Replaced(Product),
    /// The product was not at the version the writer expected.
    Conflict,
}

/// The catalog in DynamoDB.
#[derive(Debug, Clone)]
pub struct CatalogStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([("pk".to_string(), s(&pk)), ("sk".to_string(), s(sk))])
}

fn product_key(sku: &Sku) -> Item {
    key(format!("product#{}", sku.as_str()), "product")
}

fn entry_key(shelf: &str, sku: &Sku) -> Item {
    key(format!("listing#{shelf}"), sku.as_str())
}

fn version_key(shelf: &str) -> Item {
    key(format!("version#{shelf}"), "version")
}

impl CatalogStore {
    /// The catalog in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The product with this sku, read strongly consistently.
    pub async fn get(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        match consistent_get(&self.client, &self.table, product_key(sku)).await? {
            None => Ok(None),
            Some(item) => product_from(&item, "DynamoDB.GetItem").map(Some),
        }
    }

    /// The version of a listing now (0: never written).
    pub async fn listing_version(&self, shelf: &Shelf) -> Result<u64, StoreError> {
        let item = consistent_get(&self.client, &self.table, version_key(shelf.key())).await?;
        Ok(item.and_then(|i| number(&i, "version")).unwrap_or(0))
    }

    /// Every product of a listing, in sku order (one Query per 100).
    pub async fn listing(&self, shelf: &Shelf) -> Result<Vec<ProductView>, StoreError> {
        let pk = format!("listing#{}", shelf.key());
        Partition {
            client: &self.client,
            table: &self.table,
            key: ("pk", &pk),
            sort_key: "sk",
        }
        .all(|item| product_from(item, "DynamoDB.Query").map(|p| Some(ProductView::from(&p))))
        .await
    }

    /// Writes `fields` as the product `sku` if it is at `expected` now
    /// (`Some(0)`: must not exist; `None`: whatever it is at).
    pub async fn put(
        &self,
        sku: &Sku,
        fields: &ProductFields,
        expected: Option<u64>,
        now: Timestamp,
    ) -> Result<Written, StoreError> {
        let current = self.get(sku).await?;
        let at = current.as_ref().map_or(0, |p| p.version);
        if expected.is_some_and(|expected| expected != at) {
            return Ok(Written::Conflict);
        }
        let product = Product {
            sku: sku.clone(),
            name: fields.name.clone(),
            price: fields.price.clone(),
            category: fields.category.clone(),
            updated_at: now,
            version: at + 1,
        };
        let mut writes = vec![self.put_item(product_key(sku), &product, Some(at))?];
        let new_shelf = product.category.as_str().to_string();
        writes.push(self.put_item(entry_key(&new_shelf, sku), &product, None)?);
        writes.push(self.put_item(entry_key("*", sku), &product, None)?);
        writes.push(self.bump(&new_shelf)?);
        writes.push(self.bump("*")?);
        if let Some(old) = &current
            && old.category != product.category
        {
            let old_shelf = old.category.as_str();
            writes.push(self.delete_item(entry_key(old_shelf, sku), None)?);
            writes.push(self.bump(old_shelf)?);
        }
        if !self.transact(writes).await? {
            return Ok(Written::Conflict);
        }
        Ok(if current.is_some() {
            Written::Replaced(product)
        } else {
            Written::Created(product)
        })
    }

    /// Deletes the product `sku`: `false` when there is none (or it
    /// changed while this ran).
    pub async fn delete(&self, sku: &Sku) -> Result<bool, StoreError> {
        let Some(current) = self.get(sku).await? else {
            return Ok(false);
        };
        let shelf = current.category.as_str();
        let writes = vec![
            self.delete_item(product_key(sku), Some(current.version))?,
            self.delete_item(entry_key(shelf, sku), None)?,
            self.delete_item(entry_key("*", sku), None)?,
            self.bump(shelf)?,
            self.bump("*")?,
        ];
        self.transact(writes).await
    }

    fn put_item(
        &self,
        key: Item,
        product: &Product,
        at: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = key;
        item.extend([
            ("sku".to_string(), s(product.sku.as_str())),
            ("name".to_string(), s(&product.name)),
            ("amount".to_string(), n(product.price.amount)),
            ("currency".to_string(), s(&product.price.currency)),
            ("category".to_string(), s(product.category.as_str())),
            ("updated_at".to_string(), n(product.updated_at.0)),
            ("version".to_string(), n(product.version)),
        ]);
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        match at {
            Some(0) => put = put.condition_expression("attribute_not_exists(pk)"),
            Some(version) => {
                put = put
                    .condition_expression("version = :at")
                    .expression_attribute_values(":at", n(version));
            }
            None => {}
        }
        let put = put
            .build()
            .map_err(|e| StoreError::corrupt(OPERATION, e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete_item(&self, key: Item, at: Option<u64>) -> Result<TransactWriteItem, StoreError> {
        let mut delete = Delete::builder().table_name(&self.table).set_key(Some(key));
        if let Some(version) = at {
            delete = delete
                .condition_expression("version = :at")
                .expression_attribute_values(":at", n(version));
        }
        let delete = delete
            .build()
            .map_err(|e| StoreError::corrupt(OPERATION, e.to_string()))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    fn bump(&self, shelf: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(version_key(shelf)))
            .update_expression("ADD version :one")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(|e| StoreError::corrupt(OPERATION, e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Runs the writes as one transaction: `false` when a condition failed.
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => {
                let conflict = crate::aws::transaction_condition_failed(&error);
                if conflict {
                    Ok(false)
                } else {
                    Err(StoreError::sdk(OPERATION, error))
                }
            }
        }
    }
}

/// A stored product, checked with the same rules as a writer's.
fn product_from(item: &Item, operation: &'static str) -> Result<Product, StoreError> {
    let corrupt = |what: &str| StoreError::corrupt(operation, format!("product item: {what}"));
    let sku = text(item, "sku").ok_or_else(|| corrupt("no sku"))?;
    let category = text(item, "category").ok_or_else(|| corrupt("no category"))?;
    let amount = item
        .get("amount")
        .and_then(|v| match v {
            AttributeValue::N(n) => n.parse::<u64>().ok(),
            _ => None,
        })
        .ok_or_else(|| corrupt("no amount"))?;
    Ok(Product {
        sku: Sku::parse(&sku).map_err(|_| corrupt("a bad sku"))?,
        name: text(item, "name").ok_or_else(|| corrupt("no name"))?,
        price: Price {
            amount,
            currency: text(item, "currency").ok_or_else(|| corrupt("no currency"))?,
        },
        category: Category::parse(&category).map_err(|_| corrupt("a bad category"))?,
        updated_at: timestamp(item, "updated_at").ok_or_else(|| corrupt("no updated_at"))?,
        version: number(item, "version").ok_or_else(|| corrupt("no version"))?,
    })
}
