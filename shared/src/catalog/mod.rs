//! The product catalog: the catalog table is the source of truth
//! (`store`), products and listing versions are read through an L1 of a
//! few seconds (`CATALOG_CACHE_TTL_SECONDS`, the service's staleness
//! bound), and sorted listings through both tiers of `shared::cache`
//! (`listing`). Carts are priced from here (`prices`).

pub mod listing;
pub mod prices;
pub mod product;
pub mod routes;
pub mod store;

use std::sync::Arc;

use crate::aws::{AwsClients, StoreError};
use crate::cache::{CacheTable, Draws, L1, L1Settings, L2Settings, SharedClock, TwoTier};
use crate::cart::items::Sku;
use crate::config::{ConfigError, Environment};
use product::Product;
use store::CatalogStore;

/// The default L1 TTL of catalog reads, in seconds: how stale a product, a
/// price or a listing may be after a write, on every instance.
pub const DEFAULT_CACHE_TTL_SECONDS: u64 = 5;

/// How the catalog is configured (from its functions' environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSettings {
    /// The catalog table.
    pub table: String,
    /// The catalog's one currency (ISO 4217).
    pub currency: String,
    /// The L1 TTL of every catalog read, in seconds.
    pub ttl_seconds: u64,
}

impl CatalogSettings {
    /// `CATALOG_TABLE`, `CATALOG_CURRENCY` (EUR) and `CATALOG_CACHE_TTL_SECONDS` (5).
    pub fn from_env(env: &Environment) -> Result<Self, ConfigError> {
        let currency = env.get("CATALOG_CURRENCY").unwrap_or("EUR").to_string();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError::Invalid {
                name: "CATALOG_CURRENCY",
                reason: "must be an ISO 4217 code (three capital letters)".into(),
            });
        }
        let ttl_seconds = env.parse_or("CATALOG_CACHE_TTL_SECONDS", DEFAULT_CACHE_TTL_SECONDS)?;
        if !(1..=60).contains(&ttl_seconds) {
            return Err(ConfigError::Invalid {
                name: "CATALOG_CACHE_TTL_SECONDS",
                reason: "must be 1 to 60".into(),
            });
        }
        Ok(Self {
            table: env.require("CATALOG_TABLE")?.to_string(),
            currency,
            ttl_seconds,
        })
    }

    /// The store over the table.
    pub fn store(&self, aws: &AwsClients) -> CatalogStore {
        CatalogStore::new(aws.dynamodb().clone(), &self.table)
    }
}

/// Products by sku through an L1: one store read per sku per TTL window
/// on an instance, however many requests ask (an absent product is kept
/// as absent for as long).
pub struct Products {
    store: CatalogStore,
    l1: L1<Option<Product>>,
}

impl Products {
    /// Products of `store` through an L1 of `ttl_seconds`, reading `clock`.
    pub fn new(store: CatalogStore, ttl_seconds: u64, clock: SharedClock) -> Self {
        Self {
            store,
            l1: L1::new(L1Settings::seconds(ttl_seconds), clock),
        }
    }

    /// The product `sku`, as of at most one TTL ago.
    pub async fn get(&self, sku: &Sku) -> Result<Option<Product>, Arc<StoreError>> {
        self.l1.get_or_load(sku.as_str(), self.store.get(sku)).await
    }

    /// The store it reads.
    pub fn store(&self) -> &CatalogStore {
        &self.store
    }
}

/// The listings of `settings`' catalog over the cache table `cache_table`.
pub fn listings(
    settings: &CatalogSettings,
    aws: &AwsClients,
    cache_table: &str,
    l2: L2Settings,
    clock: SharedClock,
    draws: Draws,
) -> listing::Listings {
    let l1 = L1Settings::seconds(settings.ttl_seconds);
    listing::Listings::new(
        settings.store(aws),
        L1::new(l1, clock.clone()),
        TwoTier::new(
            l1,
            CacheTable::new(aws.dynamodb().clone(), cache_table),
            l2,
            clock,
            draws,
        ),
    )
}
