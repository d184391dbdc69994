//! The AWS calls made through a set of clients, counted on the wire side of
//! the SDK: an interceptor on every client sees each attempt (a retry is a
//! call too) just before it is sent, and records `Service.Operation`, when
//! it went out and when its answer came back; from those times,
//! [`round_trips`] counts how many waves of calls a request waited for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// The items one call reads or writes in one DynamoDB table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableItems {
    /// The table's (physical) name.
    pub table: String,
    /// How many items (a query counts one).
    pub items: usize,
    /// In a transaction (twice the capacity units).
    pub transactional: bool,
}

/// One attempt of one call.
#[derive(Debug, Clone)]
pub struct Call {
    /// `Service.Operation`.
    pub operation: String,
    /// The DynamoDB tables it touches, from its request.
    pub tables: Vec<TableItems>,
    /// When its operation started (the first poll of its future: the calls
    /// of one `tokio::join!` all start before any of them can end).
    pub sent: Instant,
    /// When its attempt ended (answered, or failed).
    pub ended: Option<Instant>,
    id: u64,
}

/// The calls made through clients that carry it (`StackInfo::aws_clients_logged`), in order.
#[derive(Clone, Debug, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<Call>>>,
    next: Arc<AtomicU64>,
}

/// The attempt an operation's config bag belongs to.
#[derive(Debug, Clone, Copy)]
struct Attempt(u64);

impl Storable for Attempt {
    type Storer = StoreReplace<Self>;
}

/// When an operation started.
#[derive(Debug, Clone, Copy)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl CallLog {
    /// The operations called so far, and a fresh start.
    pub fn take(&self) -> Vec<String> {
        self.take_calls()
            .into_iter()
            .map(|call| call.operation)
            .collect()
    }

    /// The calls so far with their times, and a fresh start.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.calls.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        config
            .interceptor_state()
            .store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let body = context.request().body().bytes().unwrap_or_default();
        let sent = config
            .load::<Started>()
            .map_or_else(Instant::now, |started| started.0);
        let call = Call {
            tables: dynamodb_tables(body),
            operation: operation(config),
            sent,
            ended: None,
            id,
        };
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(call);
        config.interceptor_state().store_put(Attempt(id));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ended = Instant::now();
        if let Some(Attempt(id)) = config.load::<Attempt>().copied() {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(call) = calls.iter_mut().find(|call| call.id == id) {
                call.ended = Some(ended);
            }
        }
        Ok(())
    }
}

/// `Service.Operation` of the call an interceptor sees (`unknown` if unnamed).
pub fn operation(config: &ConfigBag) -> String {
    config.load::<Metadata>().map_or_else(
        || "unknown".to_string(),
        |metadata| format!("{}.{}", metadata.service(), metadata.name()),
    )
}

/// The tables and item counts of a DynamoDB request body (none for
/// another service's).
pub fn dynamodb_tables(body: &[u8]) -> Vec<TableItems> {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let one = |table: &str, transactional| TableItems {
        table: table.to_string(),
        items: 1,
        transactional,
    };
    if let Some(table) = request["TableName"].as_str() {
        return vec![one(table, false)];
    }
    if let Some(batch) = request["RequestItems"].as_object() {
        return batch
            .iter()
            .map(|(table, requests)| TableItems {
                table: table.clone(),
                // BatchGetItem: {"Keys": [...]}; BatchWriteItem: [...].
                items: requests["Keys"]
                    .as_array()
                    .or_else(|| requests.as_array())
                    .map_or(0, Vec::len),
                transactional: false,
            })
            .collect();
    }
    request["TransactItems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item.as_object()?.values().next()?["TableName"].as_str())
        .map(|table| one(table, true))
        .collect()
}

/// The round trips of `calls`: the longest chain of calls each sent after
/// the one before it ended. Calls made at once (`tokio::join!`) are all
/// sent before any of them can end, so they are one round trip; a call that
/// waits for another's answer starts a new one. A call that never ended
/// holds back no call after it.
pub fn round_trips(calls: &[Call]) -> usize {
    let mut by_sending: Vec<&Call> = calls.iter().collect();
    by_sending.sort_by_key(|call| call.sent);
    let mut chain = vec![0usize; by_sending.len()];
    for (i, call) in by_sending.iter().enumerate() {
        let before = by_sending[..i]
            .iter()
            .zip(&chain)
            .filter(|(earlier, _)| earlier.ended.is_some_and(|ended| ended <= call.sent))
            .map(|(_, length)| *length)
            .max()
            .unwrap_or(0);
        chain[i] = before + 1;
    }
    chain.into_iter().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn call(sent_ms: u64, ended_ms: Option<u64>) -> Call {
        let zero = Instant::now();
        Call {
            operation: "DynamoDB.GetItem".into(),
            tables: Vec::new(),
            sent: zero + Duration::from_millis(sent_ms),
            ended: ended_ms.map(|ms| zero + Duration::from_millis(ms)),
            id: sent_ms,
        }
    }

    #[test]
    fn the_tables_and_items_of_each_kind_of_request() {
        let tables = |body: serde_json::Value| dynamodb_tables(body.to_string().as_bytes());
        let item = |table: &str, items, transactional| TableItems {
            table: table.into(),
            items,
            transactional,
        };
        assert_eq!(
            tables(serde_json::json!({"TableName": "users", "Key": {}})),
            [item("users", 1, false)]
        );
        let batch = tables(serde_json::json!({"RequestItems": {
            "sessions": {"Keys": [{}]}, "revoked": {"Keys": [{}, {}]}}}));
        assert!(
            batch.contains(&item("sessions", 1, false))
                && batch.contains(&item("revoked", 2, false))
        );
        assert_eq!(
            tables(
                serde_json::json!({"RequestItems": {"sessions": [{"DeleteRequest": {}}, {"DeleteRequest": {}}]}})
            ),
            [item("sessions", 2, false)]
        );
        assert_eq!(
            tables(serde_json::json!({"TransactItems": [
                {"Put": {"TableName": "revoked"}}, {"Delete": {"TableName": "sessions"}}]})),
            [item("revoked", 1, true), item("sessions", 1, true)]
        );
        assert!(tables(serde_json::json!({"QueueUrl": "q"})).is_empty());
        assert!(dynamodb_tables(b"Action=SendMessage").is_empty());
    }

    #[test]
    fn calls_made_at_once_are_one_round_trip_and_a_call_that_waits_is_another() {
        assert_eq!(round_trips(&[]), 0);
        assert_eq!(round_trips(&[call(0, Some(5))]), 1);
        // Three at once, however their answers are ordered.
        let wave = [call(0, Some(9)), call(1, Some(4)), call(2, Some(7))];
        assert_eq!(round_trips(&wave), 1);
        // One after the other.
        assert_eq!(round_trips(&[call(0, Some(5)), call(5, Some(8))]), 2);
        // A wave of two, then one that waited for the quicker of them only,
        // then one after all: three.
        let chain = [
            call(0, Some(3)),
            call(0, Some(10)),
            call(4, Some(6)),
            call(11, Some(12)),
        ];
        assert_eq!(round_trips(&chain), 3);
        // A call without an end holds back nothing sent after it.
        assert_eq!(round_trips(&[call(0, None), call(5, Some(6))]), 1);
    }
}
