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

mod clock;
mod l1;
mod table;
mod two_tier;

use std::sync::Arc;

pub use clock::{Clock, Draws, ManualClock, SharedClock, SystemClock, system_clock};
pub use l1::{L1, L1Settings};
pub use table::{CacheTable, L2Entry};
pub use two_tier::{L2Settings, Loads, TwoTier, xfetch_due};

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

/// Runs futures together on the current task and answers their outputs in
/// order (concurrent lookups, e.g. one per cart line; a hit needs no I/O).
pub use futures_util::future::join_all;
