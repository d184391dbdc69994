//! One frame to many connections: posted concurrently, at most
//! [`CONCURRENT_POSTS`] at a time, so one gone or slow connection never
//! holds up the others. A connection found gone (410) loses its own records
//! and nothing else.

use futures_util::StreamExt;

use super::gateway::{Delivery, ManagementApi};
use super::store::{ConnectionId, ConnectionStore};

/// Posts in flight at once from one invocation.
pub const CONCURRENT_POSTS: usize = 32;

/// What a fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fanout {
    /// Connections that got the frame.
    pub delivered: usize,
    /// Connections found gone, whose records were removed.
    pub gone: usize,
    /// Posts that failed otherwise (logged).
    pub failed: usize,
}

/// Posts `text` to every connection of `to`.
pub async fn deliver(
    gateway: &ManagementApi,
    store: &ConnectionStore,
    to: &[ConnectionId],
    text: &str,
) -> Fanout {
    // Owned ids and boxed futures: a stream of futures borrowing from the
    // iterator is not provably `Send` to the compiler here.
    let outcomes = futures_util::stream::iter(to.iter().cloned())
        .map(|id| -> futures_util::future::BoxFuture<'_, Result<Delivery, ()>> { Box::pin(async move {
            match gateway.post(&id, text).await {
                Ok(Delivery::Sent) => Ok(Delivery::Sent),
                Ok(Delivery::Gone) => {
                    if let Err(error) = store.remove(&id).await {
                        // Its records expire with it (2 hours) if not removed now.
                        tracing::warn!(%error, connection_id = id.as_str(), "a gone connection's records stay until their expiry");
                    }
                    Ok(Delivery::Gone)
                }
                Err(error) => {
                    tracing::warn!(%error, connection_id = id.as_str(), "a post failed");
                    Err(())
                }
            }
        })})
        .buffer_unordered(CONCURRENT_POSTS)
        .collect::<Vec<_>>()
        .await;
    let mut fanout = Fanout::default();
    for outcome in outcomes {
        match outcome {
            Ok(Delivery::Sent) => fanout.delivered += 1,
            Ok(Delivery::Gone) => fanout.gone += 1,
            Err(()) => fanout.failed += 1,
        }
    }
    fanout
}

/// Closes every connection of `ids` (each `$disconnect` then removes its
/// records; removed here too, since `$disconnect` is best effort).
pub async fn close_all(
    gateway: &ManagementApi,
    store: &ConnectionStore,
    ids: &[ConnectionId],
) -> Result<(), crate::aws::StoreError> {
    let outcomes = futures_util::stream::iter(ids.iter().cloned())
        .map(
            |id| -> futures_util::future::BoxFuture<'_, Result<(), crate::aws::StoreError>> {
                Box::pin(async move {
                    gateway.close(&id).await?;
                    store.remove(&id).await.map(|_| ())
                })
            },
        )
        .buffer_unordered(CONCURRENT_POSTS)
        .collect::<Vec<_>>()
        .await;
    outcomes.into_iter().collect()
}
