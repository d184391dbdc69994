//! A read-through cache any route can use in a few lines: an L1 in the
//! execution environment ([`L1`]: bounded, a short TTL set per use,
//! concurrent misses for one key coalesced into one load) and, for values
//! that are expensive to compute, an L2 shared by every instance
//! ([`TwoTier`]: a DynamoDB table with TTL, a lease so that one loader
//! computes while the others wait briefly or serve the stale value, and
//! early refresh by XFetch). The source of truth stays elsewhere: a cold L1
//! or a failing L2 costs time, never correctness.
//!
//! ```ignore
//! let products: L1<Option<Product>> = L1::new(L1Settings::seconds(5), clock.clone());
//! let product = products.get_or_load(sku.as_str(), store.get(&sku)).await?;
//! ```

mod table;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use table::{CacheTable, L2Entry};

use crate::aws::StoreError;

/// Milliseconds since the Unix epoch, as the cache reads them: the system
/// clock in the functions, a [`ManualClock`] in tests.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told (deterministic tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `ms`.
    pub fn at(ms: u64) -> Self {
        Self(AtomicU64::new(ms))
    }

    /// Moves it on by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock, shared.
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// The uniform draws of XFetch, from a seedable generator: seeded from the
/// system in the functions, with a fixed seed in tests.
#[derive(Debug)]
pub struct Draws(Mutex<fastrand::Rng>);

impl Draws {
    /// Draws seeded from the system.
    pub fn new() -> Self {
        Self(Mutex::new(fastrand::Rng::new()))
    }

    /// Draws from a fixed seed: the same sequence every run.
    pub fn seeded(seed: u64) -> Self {
        Self(Mutex::new(fastrand::Rng::with_seed(seed)))
    }

    /// A draw in (0, 1].
    fn unit(&self) -> f64 {
        let draw = self.0.lock().unwrap_or_else(PoisonError::into_inner).f64();
        1.0 - draw
    }
}

impl Default for Draws {
    fn default() -> Self {
        Self::new()
    }
}

/// How a value is weighed against the L1's byte budget.
pub trait Weigh {
    /// About how many bytes it holds.
    fn bytes(&self) -> usize;
}

impl Weigh for u64 {
    fn bytes(&self) -> usize {
        8
    }
}

impl<T: Weigh> Weigh for Option<T> {
    fn bytes(&self) -> usize {
        self.as_ref().map_or(0, Weigh::bytes)
    }
}

impl<T: Weigh> Weigh for Arc<T> {
    fn bytes(&self) -> usize {
        T::bytes(self)
    }
}

/// What each entry costs the byte budget beyond its value: so the budget
/// bounds the number of entries too (at most `max_bytes / ENTRY_OVERHEAD`).
pub const ENTRY_OVERHEAD: usize = 256;

/// An L1's bounds: how long an entry serves, and how much it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L1Settings {
    /// How long a loaded value is served before the next load: the
    /// staleness bound of this use.
    pub ttl: Duration,
    /// Bytes of values (plus [`ENTRY_OVERHEAD`] each) it holds at most.
    pub max_bytes: u64,
}

impl L1Settings {
    /// `seconds` of TTL and 4 MiB.
    pub fn seconds(seconds: u64) -> Self {
        Self {
            ttl: Duration::from_secs(seconds.max(1)),
            max_bytes: 4 << 20,
        }
    }
}

/// The in-process tier: a bounded moka cache. Time is cut into windows of
/// one TTL (shifted by a random offset per instance, so that instances do
/// not all reload at once); a key is loaded at most once per window, and
/// concurrent misses for it share that one load (`try_get_with`).
pub struct L1<V> {
    cache: moka::future::Cache<(String, u64), V>,
    ttl_ms: u64,
    offset_ms: u64,
    clock: SharedClock,
}

impl<V: Weigh + Clone + Send + Sync + 'static> L1<V> {
    /// An empty L1 with these bounds, reading `clock`.
    pub fn new(settings: L1Settings, clock: SharedClock) -> Self {
        let ttl_ms = u64::try_from(settings.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let cache = moka::future::Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(|_key: &(String, u64), value: &V| {
                u32::try_from(value.bytes() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
            })
            // A window's entries are useless once it has passed.
            .time_to_live(settings.ttl.saturating_mul(2))
            .build();
        Self {
            cache,
            ttl_ms,
            offset_ms: fastrand::u64(0..ttl_ms),
            clock,
        }
    }

    fn window(&self) -> u64 {
        (self.clock.now_ms().saturating_add(self.offset_ms)) / self.ttl_ms
    }

    /// The value of `key` in this window, or `load`'s (run once for all the
    /// concurrent misses of the key; a failed load is not kept).
    pub async fn get_or_load<E, F>(&self, key: &str, load: F) -> Result<V, Arc<E>>
    where
        F: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        // Boxed: moka's coalescing futures nest deep, and inlined into a
        // function's one state machine they pass the compiler's layout limit.
        Box::pin(
            self.cache
                .try_get_with((key.to_string(), self.window()), load),
        )
        .await
    }

    /// The value of `key` in this window, if one was loaded.
    pub async fn peek(&self, key: &str) -> Option<V> {
        self.cache.get(&(key.to_string(), self.window())).await
    }

    /// Forgets every value (tests).
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }
}

/// How a [`TwoTier`] uses its L2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L2Settings {
    /// How long a stored value is fresh.
    pub fresh: Duration,
    /// How long after that it may still be served while another instance
    /// loads it (then the item's TTL removes it).
    pub stale: Duration,
    /// How long a loader's lease keeps the others from loading.
    pub lease: Duration,
    /// How long the others wait for the leaseholder's value, polling every
    /// `poll` (then they load it themselves: correct, if slower).
    pub wait: Duration,
    /// See `wait`.
    pub poll: Duration,
    /// XFetch's beta (1.0 in the paper): higher refreshes earlier.
    pub beta: f64,
}

impl Default for L2Settings {
    fn default() -> Self {
        Self {
            fresh: Duration::from_secs(300),
            stale: Duration::from_secs(60),
            lease: Duration::from_secs(3),
            wait: Duration::from_millis(1500),
            poll: Duration::from_millis(50),
            beta: 1.0,
        }
    }
}

/// What a [`TwoTier`] load did, counted for tests and logs.
#[derive(Debug, Default)]
pub struct Loads {
    /// Values computed from the source.
    pub computed: AtomicU64,
    /// Values served from the L2.
    pub l2_hits: AtomicU64,
    /// Values served stale while another loader held the lease.
    pub stale_served: AtomicU64,
    /// L2 calls that failed (the source answered instead).
    pub l2_failures: AtomicU64,
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// An L1 over an L2 shared by every instance, for values expensive to
/// compute. A key's value is computed by one loader at a time across
/// instances (a lease taken by a conditional write), refreshed early by
/// XFetch (Vattani, Chierichetti, Lowenstein, VLDB 2015): a reader
/// recomputes before expiry with a probability that rises as expiry nears
/// and with the time the last computation took.
pub struct TwoTier<V> {
    l1: L1<V>,
    l2: CacheTable,
    settings: L2Settings,
    clock: SharedClock,
    draws: Draws,
    loads: Loads,
}

impl<V> TwoTier<V>
where
    V: Weigh + Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// The two tiers: `l1` bounds, the `l2` table and its settings, a clock and draws.
    pub fn new(
        l1: L1Settings,
        l2: CacheTable,
        settings: L2Settings,
        clock: SharedClock,
        draws: Draws,
    ) -> Self {
        Self {
            l1: L1::new(l1, clock.clone()),
            l2,
            settings,
            clock,
            draws,
            loads: Loads::default(),
        }
    }

    /// What its loads did so far.
    pub fn loads(&self) -> &Loads {
        &self.loads
    }

    /// The L1 (tests clear it to play a cold instance).
    pub fn l1(&self) -> &L1<V> {
        &self.l1
    }

    /// The value of `key`: from L1, else L2, else `compute` (once across
    /// instances while the lease holds). `compute` fails only when the
    /// source does.
    pub async fn get_or_load<E, F, Fut>(&self, key: &str, compute: F) -> Result<V, Arc<E>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        self.l1
            .get_or_load(key, self.through_l2(key, &compute))
            .await
    }

    /// Puts `value` in the L2 under `key`, fresh for the usual time (a
    /// loader keeping what it computed beside the value asked for); a
    /// failing L2 is logged and ignored.
    pub async fn store(&self, key: &str, value: &V) {
        let now = self.clock.now_ms();
        let fresh_until = now.saturating_add(ms(self.settings.fresh));
        let expires_at = fresh_until.saturating_add(ms(self.settings.stale));
        if let Err(error) = self.l2.put(key, value, fresh_until, 1, expires_at).await {
            self.l2_failed("write", &error);
        }
    }

    /// The value of `key` if either tier holds it, without computing it.
    pub async fn peek(&self, key: &str) -> Option<V> {
        if let Some(value) = self.l1.peek(key).await {
            return Some(value);
        }
        let now = self.clock.now_ms();
        match self.l2.get(key, now).await {
            Ok(Some(entry)) => entry.decode().ok(),
            _ => None,
        }
    }

    async fn through_l2<E, F, Fut>(&self, key: &str, compute: &F) -> Result<V, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let now = self.clock.now_ms();
        let held = match self.l2.get(key, now).await {
            Ok(entry) => entry.and_then(|entry| {
                let value = entry.decode::<V>().ok()?;
                Some((entry, value))
            }),
            Err(error) => {
                self.l2_failed("read", &error);
                // The L2 is away: the source answers, and nothing is written.
                return self.compute(key, compute, false).await;
            }
        };
        match held {
            Some((entry, value)) if !entry.is_stale(now) => {
                if self.refresh_early(&entry, now) && self.lease(key, now).await {
                    return self.compute(key, compute, true).await;
                }
                self.loads.l2_hits.fetch_add(1, Ordering::Relaxed);
                Ok(value)
            }
            stale => {
                if self.lease(key, now).await {
                    return self.compute(key, compute, true).await;
                }
                if let Some((_, value)) = stale {
                    // Another instance is computing it: the stale value now.
                    self.loads.stale_served.fetch_add(1, Ordering::Relaxed);
                    return Ok(value);
                }
                if let Some(value) = self.wait_for(key).await {
                    self.loads.l2_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(value);
                }
                self.compute(key, compute, true).await
            }
        }
    }

    /// XFetch: recompute now if `now - delta * beta * ln(draw) >= expiry`.
    fn refresh_early(&self, entry: &L2Entry, now: u64) -> bool {
        xfetch_due(
            now,
            entry.delta_ms,
            entry.fresh_until_ms,
            self.settings.beta,
            self.draws.unit(),
        )
    }

    /// Whether this loader took the lease; a failing L2 counts as taken
    /// (nobody else could be told, and the source answers).
    async fn lease(&self, key: &str, now: u64) -> bool {
        match self.l2.take_lease(key, now, ms(self.settings.lease)).await {
            Ok(taken) => taken,
            Err(error) => {
                self.l2_failed("lease", &error);
                true
            }
        }
    }

    /// The leaseholder's value, if it lands within the wait limit.
    async fn wait_for(&self, key: &str) -> Option<V> {
        let polls = ms(self.settings.wait) / ms(self.settings.poll).max(1);
        for _ in 0..polls {
            tokio::time::sleep(self.settings.poll).await;
            let now = self.clock.now_ms();
            match self.l2.get(key, now).await {
                Ok(Some(entry)) if !entry.is_stale(now) => {
                    if let Ok(value) = entry.decode::<V>() {
                        return Some(value);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    self.l2_failed("read", &error);
                    return None;
                }
            }
        }
        None
    }

    async fn compute<E, F, Fut>(&self, key: &str, compute: &F, store: bool) -> Result<V, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let started = self.clock.now_ms();
        let value = compute().await?;
        self.loads.computed.fetch_add(1, Ordering::Relaxed);
        if store {
            let now = self.clock.now_ms();
            let delta = now.saturating_sub(started).max(1);
            let fresh_until = now.saturating_add(ms(self.settings.fresh));
            let expires_at = fresh_until.saturating_add(ms(self.settings.stale));
            if let Err(error) = self
                .l2
                .put(key, &value, fresh_until, delta, expires_at)
                .await
            {
                // The answer stands; the next loader computes again.
                self.l2_failed("write", &error);
            }
        }
        Ok(value)
    }

    fn l2_failed(&self, what: &str, error: &StoreError) {
        self.loads.l2_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%error, what, "the cache table failed; the source answers");
    }
}

/// Runs `futures` together on the current task and answers their outputs
/// in order (concurrent lookups, e.g. one per cart line; a hit needs no I/O).
pub async fn join_all<T>(futures: Vec<impl Future<Output = T>>) -> Vec<T> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<T>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, future) in results.iter_mut().zip(pinned.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *slot = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

/// XFetch's rule: recompute at `now` a value that took `delta_ms` to
/// compute and is fresh until `expiry_ms`, given a draw in (0, 1].
pub fn xfetch_due(now: u64, delta_ms: u64, expiry_ms: u64, beta: f64, draw: f64) -> bool {
    let draw = draw.clamp(f64::MIN_POSITIVE, 1.0);
    // -ln(draw) >= 0: the gap grows with delta and with bad luck.
    #[allow(clippy::cast_precision_loss)]
    let early = (delta_ms as f64) * beta * -draw.ln();
    #[allow(clippy::cast_precision_loss)]
    let due = (now as f64) + early >= expiry_ms as f64;
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Text(String);

    impl Weigh for Text {
        fn bytes(&self) -> usize {
            self.0.len()
        }
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_load_and_a_new_window_loads_again() {
        let clock = Arc::new(ManualClock::at(1_000_000));
        let l1: L1<Text> = L1::new(L1Settings::seconds(5), clock.clone());
        let loads = AtomicU64::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, std::convert::Infallible>(Text("v".into()))
        };
        let all = futures_join(&l1, 50, &load).await;
        assert_eq!(all, 50);
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for 50 misses");
        clock.advance(5_000);
        futures_join(&l1, 50, &load).await;
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "one more in the next window"
        );
    }

    async fn futures_join<F, Fut>(l1: &L1<Text>, n: usize, load: &F) -> usize
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Text, std::convert::Infallible>>,
    {
        let mut set = Vec::new();
        for _ in 0..n {
            set.push(l1.get_or_load("k", load()));
        }
        let mut ok = 0;
        for result in join_all(set).await {
            if result.is_ok() {
                ok += 1;
            }
        }
        ok
    }

    #[test]
    fn xfetch_recomputes_earlier_for_slow_values_and_near_expiry() {
        // Far from expiry: never, whatever the draw (within reason).
        assert!(!xfetch_due(0, 100, 1_000_000, 1.0, 0.5));
        // At or past expiry: always.
        assert!(xfetch_due(1_000_000, 100, 1_000_000, 1.0, 1.0));
        // 100 ms before expiry, a value that took 200 ms: a draw of 0.5
        // gives 200 * ln 2 = 139 ms early, so yes; a draw of 0.9 gives 21 ms, no.
        assert!(xfetch_due(999_900, 200, 1_000_000, 1.0, 0.5));
        assert!(!xfetch_due(999_900, 200, 1_000_000, 1.0, 0.9));
    }

    #[test]
    fn seeded_draws_repeat_and_stay_in_range() {
        let (a, b) = (Draws::seeded(7), Draws::seeded(7));
        for _ in 0..100 {
            let (x, y) = (a.unit(), b.unit());
            assert_eq!(x.to_bits(), y.to_bits());
            assert!(x > 0.0 && x <= 1.0);
        }
    }
}
