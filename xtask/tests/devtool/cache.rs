//! `shared::cache` counted through the interceptor that logs every AWS call
//! (`xtask::call_log`), on the test stack's DynamoDB, deterministically: a
//! manual clock, seeded XFetch draws and stated wait limits. "An instance"
//! is a cache of its own (its own L1) over the same tables, as two Lambda
//! environments would be.

use std::sync::Arc;
use std::time::Duration;

use shared::cache::{Draws, L2Settings, ManualClock, SharedClock, join_all};
use shared::cart::items::Sku;
use shared::catalog::listing::{Listings, Sort};
use shared::catalog::product::{Category, RawProduct};
use shared::catalog::store::{CatalogStore, Shelf};
use shared::catalog::{CatalogSettings, Products, listings};
use shared::time::Timestamp;
use xtask::call_log::CallLog;
use xtask::stack::StackInfo;

/// The L1 TTL of these tests, in seconds.
const TTL: u64 = 5;

fn settings(stack: &StackInfo) -> CatalogSettings {
    let mut settings =
        CatalogSettings::from_env(&stack.template_environment("list-products")).unwrap();
    settings.ttl_seconds = TTL;
    settings
}

fn count(calls: &[String], operation: &str) -> usize {
    calls.iter().filter(|c| c.as_str() == operation).count()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        shared::ids::new_id().to_lowercase().replace('_', "-")
    )
}

async fn write(store: &CatalogStore, sku: &str, amount: u64, category: &str) {
    let raw: RawProduct = serde_json::from_value(serde_json::json!({
        "name": format!("Product {sku}"),
        "price": {"amount": amount, "currency": "EUR"},
        "category": category,
    }))
    .unwrap();
    let fields = raw.parse("EUR").unwrap();
    store
        .put(&Sku::parse(sku).unwrap(), &fields, None, Timestamp::now())
        .await
        .unwrap();
}

/// The limits are stated: waiters wait 5 s for a computation that takes
/// milliseconds on the local store, and an L2 call may take 5 s (the
/// functions give it 0.5 s), so only a broken lease makes two.
fn l2_settings() -> L2Settings {
    L2Settings {
        wait: Duration::from_secs(5),
        poll: Duration::from_millis(20),
        call_timeout: Duration::from_secs(5),
        ..L2Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_requests_for_one_cold_listing_over_two_instances_compute_it_once() {
    let stack = StackInfo::from_env().unwrap();
    let log = CallLog::default();
    let aws = stack.aws_clients_logged(&log).await;
    let settings = settings(&stack);
    let cache_table = stack
        .template_environment("list-products")
        .require("CACHE_TABLE")
        .unwrap()
        .to_string();
    let category = unique("cold");
    let store = settings.store(&aws);
    for i in 0..30 {
        write(
            &store,
            &format!("COLD-{i:02}-{}", category.len()),
            100 + i,
            &category,
        )
        .await;
    }
    let clock: SharedClock = Arc::new(ManualClock::at(1_800_000_000_000));
    let instance = |seed| {
        Arc::new(listings(
            &settings,
            &aws,
            &cache_table,
            l2_settings(),
            clock.clone(),
            Draws::seeded(seed),
        ))
    };
    let (a, b) = (instance(1), instance(2));
    let shelf = Shelf::Category(Category::parse(&category).unwrap());
    log.take();

    let page = |listings: Arc<Listings>| {
        let shelf = shelf.clone();
        async move { listings.page(&shelf, Sort::Price, 20, None).await }
    };
    let mut requests = Vec::new();
    for i in 0..200 {
        requests.push(page(if i % 2 == 0 { a.clone() } else { b.clone() }));
    }
    let pages = join_all(requests).await;
    let calls = log.take();
    for page in &pages {
        let page = page.as_ref().unwrap();
        assert_eq!(page.products.len(), 20);
        assert_eq!(page.products[0].price.amount, 100);
    }
    assert_eq!(
        count(&calls, "DynamoDB.Query"),
        1,
        "the listing was read from the source once: {calls:?}"
    );
    let computed = a
        .chunks()
        .loads()
        .computed
        .load(std::sync::atomic::Ordering::SeqCst)
        + b.chunks()
            .loads()
            .computed
            .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(computed, 1);
    // One version read and one L2 read per instance; one lease won, one lost.
    assert!(count(&calls, "DynamoDB.PutItem") <= 3, "{calls:?}");
}

#[tokio::test]
async fn a_thousand_requests_for_one_product_make_one_store_read_per_ttl_window() {
    let stack = StackInfo::from_env().unwrap();
    let log = CallLog::default();
    let aws = stack.aws_clients_logged(&log).await;
    let settings = settings(&stack);
    let clock = Arc::new(ManualClock::at(1_800_000_000_000));
    let products = Products::new(settings.store(&aws), TTL, clock.clone());
    let sku = Sku::parse("MUG-01").unwrap();
    log.take();
    for window in 1..=3 {
        let answers = join_all((0..1000).map(|_| products.get(&sku))).await;
        assert!(answers.iter().all(|a| a.as_ref().unwrap().is_some()));
        assert_eq!(
            count(&log.take(), "DynamoDB.GetItem"),
            1,
            "one read in window {window}"
        );
        clock.advance(TTL * 1000);
    }
}

#[tokio::test]
async fn after_a_price_change_every_instance_serves_the_new_price_within_the_ttl() {
    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let settings = settings(&stack);
    let store = settings.store(&aws);
    let category = unique("reprice");
    let sku = unique("REPRICE").to_uppercase();
    write(&store, &sku, 1000, &category).await;
    let clock = Arc::new(ManualClock::at(1_800_000_000_000));
    let instances: Vec<Products> = (0..3)
        .map(|_| Products::new(settings.store(&aws), TTL, clock.clone()))
        .collect();
    let sku = Sku::parse(&sku).unwrap();
    let price = |p: Option<shared::catalog::product::Product>| p.unwrap().price.amount;
    for instance in &instances {
        assert_eq!(price(instance.get(&sku).await.unwrap()), 1000);
    }
    write(&store, sku.as_str(), 1500, &category).await;
    // Within the window each may still serve the old price ...
    // ... and one TTL later every one serves the new one.
    clock.advance(TTL * 1000);
    for instance in &instances {
        assert_eq!(price(instance.get(&sku).await.unwrap()), 1500);
    }
}

#[tokio::test]
async fn xfetch_refreshes_a_slow_value_early_and_a_held_lease_serves_the_stale_one() {
    use shared::cache::{CacheTable, Clock, L1Settings, TwoTier};
    use std::sync::atomic::{AtomicU64, Ordering};

    let stack = StackInfo::from_env().unwrap();
    let aws = stack.aws_clients().await;
    let table = stack
        .template_environment("list-products")
        .require("CACHE_TABLE")
        .unwrap()
        .to_string();
    let clock = Arc::new(ManualClock::at(1_800_000_000_000));
    let settings = l2_settings();
    let tiers: TwoTier<u64> = TwoTier::new(
        L1Settings::seconds(TTL),
        CacheTable::new(aws.dynamodb().clone(), &table),
        settings,
        clock.clone(),
        Draws::seeded(42),
    );
    let key = unique("xfetch");
    let computations = AtomicU64::new(0);
    // A computation that takes 2 s of the manual clock: XFetch's delta.
    let compute = || async {
        clock.advance(2_000);
        Ok::<u64, std::convert::Infallible>(computations.fetch_add(1, Ordering::SeqCst) + 1)
    };
    let fresh_ms = u64::try_from(settings.fresh.as_millis()).unwrap();
    assert_eq!(tiers.get_or_load(&key, compute).await.unwrap(), 1);
    let fresh_until = 1_800_000_000_000 + 2_000 + fresh_ms;

    // A minute on, a cold instance (the L1 cleared) reads it from the L2.
    clock.advance(60_000);
    tiers.l1().clear();
    assert_eq!(tiers.get_or_load(&key, compute).await.unwrap(), 1);
    assert_eq!(
        computations.load(Ordering::SeqCst),
        1,
        "far from expiry: kept"
    );

    // 1 ms before it expires, a value that took 2 s is refreshed now:
    // 2000 * -ln(draw) >= 1 for every draw up to 0.9995.
    clock.advance(fresh_until - 1 - clock.now_ms());
    tiers.l1().clear();
    assert_eq!(
        tiers.get_or_load(&key, compute).await.unwrap(),
        2,
        "refreshed early"
    );

    // Past its freshness (the refresh, done at fresh_until + 1999, was
    // fresh for `fresh` more), while another instance holds the lease, the
    // stale value is served and nothing is computed.
    clock.advance(fresh_ms + 3_000);
    let table = CacheTable::new(aws.dynamodb().clone(), &table);
    assert!(
        table
            .take_lease(&key, clock.now_ms(), 10_000)
            .await
            .unwrap()
    );
    tiers.l1().clear();
    assert_eq!(tiers.get_or_load(&key, compute).await.unwrap(), 2, "stale");
    assert_eq!(computations.load(Ordering::SeqCst), 2);
    assert_eq!(tiers.loads().stale_served.load(Ordering::SeqCst), 1);
}
