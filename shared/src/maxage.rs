//! A value whose source of truth is a store, kept in the execution
//! environment for a bounded time: the parameters-with-max-age utility that
//! Powertools gives Python and TypeScript, for Rust on Lambda.
//!
//! Correct when empty (the first use loads it), bounded in age (older than
//! `max_age`, the next use reloads it), and reloadable on demand when a
//! caller knows it is stale (an unknown `kid`), at most once per
//! `min_refetch` so a flood of forged tokens cannot turn into a flood of
//! store reads. A reload that fails serves the value already held, logged:
//! a store outage then costs freshness, not availability.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// A cached value with a maximum age.
#[derive(Debug)]
pub struct MaxAge<T> {
    max_age: Duration,
    min_refetch: Duration,
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    value: Option<(Arc<T>, Instant)>,
    forced_at: Option<Instant>,
}

impl<T> MaxAge<T> {
    /// An empty cache: the first `get` loads.
    pub fn new(max_age: Duration, min_refetch: Duration) -> Self {
        Self {
            max_age,
            min_refetch,
            state: Mutex::new(State {
                value: None,
                forced_at: None,
            }),
        }
    }

    /// A cache holding `value`, loaded just now (at cold start).
    pub fn holding(value: T, max_age: Duration, min_refetch: Duration) -> Self {
        Self {
            max_age,
            min_refetch,
            state: Mutex::new(State {
                value: Some((Arc::new(value), Instant::now())),
                forced_at: None,
            }),
        }
    }

    /// The value: the one held if younger than the maximum age, else a
    /// fresh one from `load` (the one held if that fails, when there is one).
    pub async fn get<F, Fut, E>(&self, load: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let mut state = self.state.lock().await;
        if let Some((value, at)) = &state.value
            && at.elapsed() < self.max_age
        {
            return Ok(Arc::clone(value));
        }
        Self::reload(&mut state, load).await
    }

    /// A fresh value from `load` now, unless one was forced less than
    /// `min_refetch` ago: then `None`, and the caller keeps what it has.
    pub async fn refresh<F, Fut, E>(&self, load: F) -> Result<Option<Arc<T>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let mut state = self.state.lock().await;
        if state
            .forced_at
            .is_some_and(|at| at.elapsed() < self.min_refetch)
        {
            return Ok(None);
        }
        state.forced_at = Some(Instant::now());
        Self::reload(&mut state, load).await.map(Some)
    }

    async fn reload<F, Fut, E>(state: &mut State<T>, load: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        match load().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                state.value = Some((Arc::clone(&fresh), Instant::now()));
                Ok(fresh)
            }
            Err(error) => match &state.value {
                Some((stale, _)) => {
                    tracing::warn!(%error, "reloading a cached value failed: serving the one held");
                    Ok(Arc::clone(stale))
                }
                None => Err(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A loader that counts its calls and answers with the count, or fails.
    struct Source {
        loads: AtomicU32,
        fail: std::sync::atomic::AtomicBool,
    }

    impl Source {
        fn new() -> Self {
            Self {
                loads: AtomicU32::new(0),
                fail: std::sync::atomic::AtomicBool::new(false),
            }
        }

        async fn load(&self) -> Result<u32, String> {
            let n = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
            if self.fail.load(Ordering::SeqCst) {
                return Err("store down".into());
            }
            Ok(n)
        }
    }

    // Real time, short: the workspace's one tokio build has no test clock.
    const AGE: Duration = Duration::from_millis(300);
    const REFETCH: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn a_value_is_loaded_once_per_max_age() {
        let source = Source::new();
        let cache = MaxAge::new(AGE, REFETCH);
        assert_eq!(*cache.get(|| source.load()).await.unwrap(), 1);
        assert_eq!(*cache.get(|| source.load()).await.unwrap(), 1);
        tokio::time::sleep(AGE).await;
        assert_eq!(*cache.get(|| source.load()).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn forced_reloads_are_rate_limited() {
        let source = Source::new();
        let cache = MaxAge::holding(0, AGE, REFETCH);
        assert_eq!(
            cache.refresh(|| source.load()).await.unwrap().as_deref(),
            Some(&1)
        );
        for _ in 0..100 {
            assert_eq!(cache.refresh(|| source.load()).await.unwrap(), None);
        }
        tokio::time::sleep(REFETCH).await;
        assert_eq!(
            cache.refresh(|| source.load()).await.unwrap().as_deref(),
            Some(&2)
        );
        assert_eq!(source.loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_reload_serves_the_value_held_and_an_empty_cache_fails() {
        let source = Source::new();
        source.fail.store(true, Ordering::SeqCst);
        let empty: MaxAge<u32> = MaxAge::new(AGE, REFETCH);
        assert!(empty.get(|| source.load()).await.is_err());
        let held = MaxAge::holding(7, AGE, REFETCH);
        tokio::time::sleep(AGE).await;
        assert_eq!(*held.get(|| source.load()).await.unwrap(), 7);
        source.fail.store(false, Ordering::SeqCst);
        assert_eq!(
            *held.get(|| source.load()).await.unwrap(),
            3,
            "the next use reloads"
        );
    }
}
