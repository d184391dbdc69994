//! `shared::cache` on against off, side by side in one run: a hot product
//! read by many requests on one instance, and a cold listing asked for by
//! many requests at once over two instances. Each request runs in-process
//! against the stack's DynamoDB through clients that log their calls
//! ([`CallLog`]), so the store reads and the source's computations are
//! counted, not estimated; each request's latency is measured around it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use shared::cache::{Draws, L2Settings, join_all, system_clock};
use shared::cart::items::Sku;
use shared::catalog::listing::Sort;
use shared::catalog::product::{Category, RawProduct};
use shared::catalog::store::Shelf;
use shared::catalog::{CatalogSettings, Products, listings};
use shared::time::Timestamp;

use crate::call_log::CallLog;
use crate::stack::StackInfo;

/// One measure, with the cache on or off.
#[derive(Debug, Clone)]
pub struct Figure {
    /// `hot product` or `cold listing`.
    pub measure: &'static str,
    /// Whether `shared::cache` was in the way.
    pub cached: bool,
    /// Requests made.
    pub requests: usize,
    /// Instances they were spread over.
    pub instances: usize,
    /// DynamoDB calls they made, in all.
    pub store_calls: usize,
    /// Times the source computed the value (a product read, a whole listing
    /// read and sorted).
    pub computed: usize,
    /// Each request's latency.
    pub latencies: Vec<Duration>,
}

fn count(calls: &[String], operation: &str) -> usize {
    calls.iter().filter(|c| c.as_str() == operation).count()
}

/// Both measures, cache on and off: `hot` requests for one product (in
/// waves of 50 at once) and `cold` at once for one listing never read.
pub async fn on_and_off(stack: &StackInfo, hot: usize, cold: usize) -> Result<Vec<Figure>> {
    let log = CallLog::default();
    let aws = stack.aws_clients_logged(&log).await;
    let env = stack.template_environment("list-products");
    let settings = CatalogSettings::from_env(&env)?;
    let cache_table = env.require("CACHE_TABLE")?.to_string();
    let store = settings.store(&aws);
    let mut figures = Vec::new();

    // A hot product: one instance, through its L1 or straight to the store.
    let sku = Sku::parse("MUG-01").map_err(anyhow::Error::msg)?;
    let products = Products::new(settings.store(&aws), settings.ttl_seconds, system_clock());
    for cached in [true, false] {
        log.take();
        let mut latencies = Vec::new();
        for wave in 0..hot.div_ceil(50) {
            let size = (hot - wave * 50).min(50);
            let requests = (0..size).map(|_| async {
                let started = Instant::now();
                let found = if cached {
                    products.get(&sku).await.map_err(|e| anyhow::anyhow!("{e}"))
                } else {
                    store.get(&sku).await.map_err(anyhow::Error::from)
                };
                (started.elapsed(), found)
            });
            for (took, found) in join_all(requests).await {
                found?.context("MUG-01 is not in the sample catalog")?;
                latencies.push(took);
            }
        }
        let calls = log.take();
        figures.push(Figure {
            measure: "hot product",
            cached,
            requests: hot,
            instances: 1,
            store_calls: calls.len(),
            computed: count(&calls, "DynamoDB.GetItem"),
            latencies,
        });
    }

    // A cold listing: a category of its own, 300 products (two chunks).
    for cached in [true, false] {
        let category = format!(
            "bench-{}",
            shared::ids::new_id().to_lowercase().replace('_', "-")
        );
        for i in 0..300u64 {
            let raw: RawProduct = serde_json::from_value(serde_json::json!({
                "name": format!("Bench product {i:03}"),
                "price": {"amount": 100 + (i * 37) % 900, "currency": settings.currency},
                "category": category,
            }))?;
            let fields = raw
                .parse(&settings.currency)
                .map_err(|(field, why)| anyhow::anyhow!("{field} {why}"))?;
            let sku = Sku::parse(&format!("BENCH-{i:03}-{}", &category[6..12].to_uppercase()))
                .map_err(anyhow::Error::msg)?;
            store.put(&sku, &fields, None, Timestamp::now()).await?;
        }
        let shelf = Shelf::Category(Category::parse(&category).map_err(anyhow::Error::msg)?);
        let instances: Vec<_> = (0..2)
            .map(|_| {
                Arc::new(listings(
                    &settings,
                    &aws,
                    &cache_table,
                    L2Settings::default(),
                    system_clock(),
                    Draws::new(),
                ))
            })
            .collect();
        log.take();
        let requests = (0..cold).map(|i| {
            let (listings, shelf, store) = (instances[i % 2].clone(), shelf.clone(), &store);
            async move {
                let started = Instant::now();
                let outcome = if cached {
                    listings
                        .page(&shelf, Sort::Price, 20, None)
                        .await
                        .map(|page| page.products.len())
                        .map_err(|e| anyhow::anyhow!("{e}"))
                } else {
                    // What a route without the cache does: the whole
                    // category from the source, sorted, one page cut.
                    store
                        .listing(&shelf)
                        .await
                        .map(|mut all| {
                            all.sort_by_key(|p| (p.price.amount, p.name.clone()));
                            all.len().min(20)
                        })
                        .map_err(anyhow::Error::from)
                };
                (started.elapsed(), outcome)
            }
        });
        let mut latencies = Vec::new();
        for (took, outcome) in join_all(requests).await {
            anyhow::ensure!(outcome? == 20, "a page of the cold listing was short");
            latencies.push(took);
        }
        let calls = log.take();
        // Cached: the loads the cache ran; uncached, every request computes.
        let computed = if cached {
            instances
                .iter()
                .map(|l| l.chunks().loads().computed.load(Ordering::SeqCst))
                .sum::<u64>()
                .try_into()
                .unwrap_or(usize::MAX)
        } else {
            cold
        };
        figures.push(Figure {
            measure: "cold listing",
            cached,
            requests: cold,
            instances: 2,
            store_calls: calls.len(),
            computed,
            latencies,
        });
    }
    Ok(figures)
}
