//! What a product is: types that parse, so an invalid one never reaches
//! the store.

use serde::{Deserialize, Serialize};

use crate::cache::Weigh;
use crate::cart::items::Sku;
use crate::time::Timestamp;

/// Longest product name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 64;
/// Highest price, in minor units.
pub const MAX_AMOUNT: u64 = 100_000_000;

/// A category: 1 to 64 characters of `a-z 0-9 -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Category(String);

impl Category {
    /// The category, or why `raw` is not one.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_CATEGORY_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(raw.to_string()))
        } else {
            Err(format!(
                "must be 1 to {MAX_CATEGORY_CHARS} characters of a-z, 0-9 and '-'"
            ))
        }
    }

    /// The category as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A price in minor units of the catalog's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// Minor units (cents for EUR).
    pub amount: u64,
    /// ISO 4217, the catalog's one currency.
    pub currency: String,
}

/// A product of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Its sku (the cart's sku rules).
    pub sku: Sku,
    /// Its display name.
    pub name: String,
    /// Its price today.
    pub price: Price,
    /// Its category.
    pub category: Category,
    /// When it was last written.
    pub updated_at: Timestamp,
    /// Bumped by every write: its ETag.
    pub version: u64,
}

impl Weigh for Product {
    fn bytes(&self) -> usize {
        self.sku.as_str().len() + self.name.len() + self.category.as_str().len() + 64
    }
}

/// A product as `GET /products` and `GET /products/{sku}` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductView {
    /// Its sku.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its price.
    pub price: Price,
    /// Its category.
    pub category: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Product> for ProductView {
    fn from(product: &Product) -> Self {
        Self {
            sku: product.sku.as_str().to_string(),
            name: product.name.clone(),
            price: product.price.clone(),
            category: product.category.as_str().to_string(),
            updated_at: product.updated_at.rfc3339(),
        }
    }
}

/// A product as a writer sends it, before it is checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProduct {
    name: String,
    price: RawPrice,
    category: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    amount: u64,
    currency: String,
}

/// What a write sets: checked fields, without sku, time or version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFields {
    /// Its name.
    pub name: String,
    /// Its price.
    pub price: Price,
    /// Its category.
    pub category: Category,
}

impl RawProduct {
    /// The checked fields, or the field at fault and why; `currency` is
    /// the catalog's one currency.
    pub fn parse(self, currency: &str) -> Result<ProductFields, (String, String)> {
        let name = self.name.trim().to_string();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err((
                "name".into(),
                format!("must be 1 to {MAX_NAME_CHARS} characters, without control characters"),
            ));
        }
        if self.price.amount > MAX_AMOUNT {
            return Err((
                "price.amount".into(),
                format!("must be a whole number of minor units from 0 to {MAX_AMOUNT}"),
            ));
        }
        if self.price.currency != currency {
            return Err((
                "price.currency".into(),
                format!("must be {currency}, the catalog's currency"),
            ));
        }
        let category = Category::parse(&self.category).map_err(|why| ("category".into(), why))?;
        Ok(ProductFields {
            name,
            price: Price {
                amount: self.price.amount,
                currency: self.price.currency,
            },
            category,
        })
    }
}

/// A sample catalog's product, as the seed file lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProduct {
    /// Its sku.
    pub sku: String,
    /// The rest, as `PUT /products/{sku}` takes it.
    #[serde(flatten)]
    pub fields: RawProduct,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, amount: u64, currency: &str, category: &str) -> RawProduct {
        RawProduct {
            name: name.into(),
            price: RawPrice {
                amount,
                currency: currency.into(),
            },
            category: category.into(),
        }
    }

    #[test]
    fn a_good_product_parses() {
        let fields = raw(" Mug ", 1299, "EUR", "kitchen").parse("EUR").unwrap();
        assert_eq!(fields.name, "Mug");
        assert_eq!(fields.price.amount, 1299);
        assert_eq!(fields.category.as_str(), "kitchen");
    }

    #[test]
    fn each_bad_field_is_named() {
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        for (product, field) in [
            (raw("", 1, "EUR", "a"), "name"),
            (raw(&long, 1, "EUR", "a"), "name"),
            (raw("a\u{7}b", 1, "EUR", "a"), "name"),
            (raw("a", MAX_AMOUNT + 1, "EUR", "a"), "price.amount"),
            (raw("a", 1, "USD", "a"), "price.currency"),
            (raw("a", 1, "EUR", "Kitchen"), "category"),
            (raw("a", 1, "EUR", ""), "category"),
            (raw("a", 1, "EUR", "a/b"), "category"),
        ] {
            assert_eq!(product.parse("EUR").unwrap_err().0, field);
        }
    }
}
