//! The L1 over the L2 shared by every instance: lease, early refresh, and
//! the source when the L2 fails.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CacheTable, Draws, L1, L1Settings, L2Entry, SharedClock, Weigh};
use crate::aws::StoreError;

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
    /// How long one L2 call may take before the source answers instead (a
    /// hanging cache table must not cost the SDK's whole 8 s).
    pub call_timeout: Duration,
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
            call_timeout: Duration::from_millis(500),
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
        if let Err(error) = self
            .bounded(self.l2.put(key, value, fresh_until, 1, expires_at))
            .await
        {
            self.l2_failed("write", &error);
        }
    }

    /// The value of `key` if either tier holds it, without computing it.
    pub async fn peek(&self, key: &str) -> Option<V> {
        if let Some(value) = self.l1.peek(key).await {
            return Some(value);
        }
        let now = self.clock.now_ms();
        match self.bounded(self.l2.get(key, now)).await {
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
        let held = match self.bounded(self.l2.get(key, now)).await {
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
        match self
            .bounded(self.l2.take_lease(key, now, ms(self.settings.lease)))
            .await
        {
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
            match self.bounded(self.l2.get(key, now)).await {
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
                .bounded(self.l2.put(key, &value, fresh_until, delta, expires_at))
                .await
            {
                // The answer stands; the next loader computes again.
                self.l2_failed("write", &error);
            }
        }
        Ok(value)
    }

    /// `call`, or a failure once it has taken `call_timeout`.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.settings.call_timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::corrupt(
                    "DynamoDB (cache table)",
                    "timed out: the source answers",
                ))
            })
    }

    fn l2_failed(&self, what: &str, error: &StoreError) {
        self.loads.l2_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%error, what, "the cache table failed; the source answers");
    }
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
}
