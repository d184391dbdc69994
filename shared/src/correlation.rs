//! The correlation id of the work in hand: an HTTP request's API Gateway
//! request id, carried on the SQS messages the request sends (message
//! attribute [`ATTRIBUTE`]) and taken up again by the function that
//! receives them, so one id names the request's log and metric lines and
//! the worker's.

use std::future::Future;

/// The SQS message attribute that carries it.
pub const ATTRIBUTE: &str = "correlation_id";

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the work in hand, if one is set.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `work` with `id` as its correlation id.
pub async fn scoped<F: Future>(id: String, work: F) -> F::Output {
    CURRENT.scope(id, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_id_is_the_scopes_own() {
        assert_eq!(current(), None);
        let inside = scoped("r-1".into(), async { current() }).await;
        assert_eq!(inside.as_deref(), Some("r-1"));
        assert_eq!(current(), None);
    }
}
