//! The in-process tier.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{ENTRY_OVERHEAD, SharedClock, Weigh};

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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::cache::{ManualClock, join_all};

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
}
