//! A cart priced from the catalog at today's prices: each line with its
//! name, unit price and whether the product is still there, and the total
//! of the lines that are.

use std::sync::Arc;

use lambda_http::http::StatusCode;
use serde::Serialize;

use super::Products;
use super::product::{Price, Product};
use crate::aws::StoreError;
use crate::cache::join_all;
use crate::cart::items::{CartItems, CartLine};
use crate::http::{Problem, ProblemCode};

/// One priced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedLine {
    /// What.
    pub sku: String,
    /// How many.
    pub quantity: u16,
    /// The product's name; null once it is gone.
    pub name: Option<String>,
    /// Its price today; null once it is gone.
    pub unit_price: Option<Price>,
    /// Whether the catalog still has it.
    pub available: bool,
}

/// A cart's lines priced, and their total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedLines {
    /// The lines, in the cart's order.
    pub items: Vec<PricedLine>,
    /// The sum of the available lines.
    pub total: Price,
}

/// The lines of `items` priced through `products`, in `currency`.
pub async fn price(
    products: &Products,
    items: &CartItems,
    currency: &str,
) -> Result<PricedLines, Arc<StoreError>> {
    let lookups = items.lines().iter().map(|line| products.get(&line.sku));
    let found = join_all(lookups)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    Ok(price_with(items, &found, currency))
}

/// The lines of `items` priced with `found`, the product of each line (or
/// none), in `currency`: no I/O.
pub fn price_with(items: &CartItems, found: &[Option<Product>], currency: &str) -> PricedLines {
    let mut total: u64 = 0;
    let lines = items
        .lines()
        .iter()
        .zip(found)
        .map(|(line, product)| priced(line, product.as_ref(), &mut total))
        .collect();
    PricedLines {
        items: lines,
        total: Price {
            amount: total,
            currency: currency.to_string(),
        },
    }
}

fn priced(line: &CartLine, product: Option<&Product>, total: &mut u64) -> PricedLine {
    let quantity = line.quantity.get();
    match product {
        Some(product) => {
            *total = total.saturating_add(product.price.amount.saturating_mul(u64::from(quantity)));
            PricedLine {
                sku: line.sku.as_str().to_string(),
                quantity,
                name: Some(product.name.clone()),
                unit_price: Some(product.price.clone()),
                available: true,
            }
        }
        None => PricedLine {
            sku: line.sku.as_str().to_string(),
            quantity,
            name: None,
            unit_price: None,
            available: false,
        },
    }
}

/// 400 `unknown_sku` for the first line of `items` the catalog lacks.
pub async fn check_known(products: &Products, items: &CartItems) -> Result<(), Problem> {
    let lookups = items.lines().iter().map(|line| products.get(&line.sku));
    let found = join_all(lookups).await;
    for (index, product) in found.into_iter().enumerate() {
        if product?.is_none() {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::UnknownSku,
                "The cart names a product the catalog does not have",
                format!("`items[{index}].sku`: no product has this sku"),
            ));
        }
    }
    Ok(())
}
