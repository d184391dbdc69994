//! Idempotency keys for any POST route (modelled on Powertools' idempotency
//! utility and the IETF `Idempotency-Key` header draft).
//!
//! A request with an `Idempotency-Key` header gets a record keyed by the
//! route, the caller and the key, holding a fingerprint of the request.
//!
//! - The first attempt writes it `in_progress`, locked until its invocation's
//!   deadline (a crashed attempt blocks retries only until then), runs the
//!   route and stores the answer: `completed`, kept for 24 hours (TTL).
//! - A repeat gets the stored answer, marked `Idempotent-Replayed: true`.
//! - The same key with another request is 422; while an attempt holds the
//!   lock, a repeat is 409 with `Retry-After`.
//! - An answer worth retrying (5xx, 408, 409, 425, 429) is not stored: the
//!   record is released and the next attempt runs the route again.
//!
//! Every attempt of one request shares an [`Attempt::operation_id`]. A
//! route that names what it creates by it (a job id, say) finds the thing
//! an earlier attempt made instead of making a second one, even when that
//! attempt died before it could store its answer.

mod key;
mod store;

use std::future::Future;

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderName, HeaderValue};
use lambda_http::{Body, Request, RequestExt, Response};

use key::{fingerprint, idempotency_key, record_id};
pub use store::{Begin, IdempotencyStore, NewAttempt, Record, RecordState, StoredResponse};

use crate::aws::AwsClients;
use crate::config::{ConfigError, Environment};
use crate::http::{Problem, ProblemCode};
use crate::ids::new_id;
use crate::metrics::{self, Metric};
use crate::time::Timestamp;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The header on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a completed record is kept (default 24 hours).
pub const DEFAULT_TTL_SECONDS: u64 = 24 * 3600;
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// The lock of an attempt whose invocation has no deadline (API Gateway
/// gives up on an integration after 30 seconds).
const FALLBACK_LOCK_SECONDS: u64 = 30;
/// Headers a replay repeats; the rest (rate limits, dates) are the repeat's own.
const REPLAYED_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::ETAG,
    header::CACHE_CONTROL,
];

/// One attempt at a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    operation_id: String,
    keyed: bool,
}

impl Attempt {
    /// The same for every attempt of a request with one key (fresh without a key).
    pub fn operation_id(&self) -> &str {
        &self.operation_id
    }

    /// Whether the client sent a key, so a retry of a failed attempt comes
    /// back as this same operation.
    pub fn is_keyed(&self) -> bool {
        self.keyed
    }
}

/// Idempotency for one route.
#[derive(Debug, Clone)]
pub struct Idempotency {
    store: IdempotencyStore,
    route: &'static str,
    ttl_seconds: u64,
}

impl Idempotency {
    /// For `route` (part of every record's key, e.g. `POST /jobs`), with
    /// records kept in `store` for `ttl_seconds`.
    pub fn new(store: IdempotencyStore, route: &'static str, ttl_seconds: u64) -> Self {
        Self {
            store,
            route,
            ttl_seconds,
        }
    }

    /// From `IDEMPOTENCY_TABLE` and `IDEMPOTENCY_TTL_SECONDS` (default 24 h).
    pub fn from_env(
        env: &Environment,
        aws: &AwsClients,
        route: &'static str,
    ) -> Result<Self, ConfigError> {
        let store =
            IdempotencyStore::new(aws.dynamodb().clone(), env.require("IDEMPOTENCY_TABLE")?);
        let ttl = env.parse_or("IDEMPOTENCY_TTL_SECONDS", DEFAULT_TTL_SECONDS)?;
        if ttl == 0 {
            return Err(ConfigError::Invalid {
                name: "IDEMPOTENCY_TTL_SECONDS",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self::new(store, route, ttl))
    }

    /// Runs `route` for `owner`'s request at most once per key: see the module.
    pub async fn run<F, Fut>(
        &self,
        owner: &str,
        request: &Request,
        route: F,
    ) -> Result<Response<Body>, Problem>
    where
        F: FnOnce(Attempt) -> Fut,
        Fut: Future<Output = Result<Response<Body>, Problem>>,
    {
        let Some(key) = idempotency_key(request.headers())? else {
            return route(Attempt {
                operation_id: new_id(),
                keyed: false,
            })
            .await;
        };
        let now = Timestamp::now();
        let id = record_id(self.route, owner, key);
        let fingerprint = fingerprint(request);
        let lock_token = new_id();
        let deadline = request.lambda_context_ref().map(|c| c.deadline);
        let lock_until = Timestamp::invocation_deadline(deadline, now, FALLBACK_LOCK_SECONDS);
        let fresh = NewAttempt {
            id: &id,
            fingerprint: &fingerprint,
            operation_id: &new_id(),
            lock_token: &lock_token,
            lock_until,
            expires_at: now.plus(self.ttl_seconds),
        };
        let operation_id = match self.store.begin(&fresh, now).await? {
            Begin::Started => fresh.operation_id.to_string(),
            Begin::Found(record) => {
                if record.fingerprint != fingerprint {
                    return Err(key_reused());
                }
                match &record.state {
                    RecordState::Completed(stored) => {
                        metrics::count(Metric::IdempotentReplays);
                        return Ok(replay(stored));
                    }
                    RecordState::InProgress { lock_until } if !lock_until.has_passed(now) => {
                        return Err(in_progress(lock_until.0.saturating_sub(now.0)));
                    }
                    _ => {}
                }
                if !self
                    .store
                    .take_over(&id, &record, &lock_token, lock_until)
                    .await?
                {
                    return Err(in_progress(1));
                }
                tracing::info!("idempotency key: retrying an attempt that did not finish");
                record.operation_id
            }
        };

        let outcome = route(Attempt {
            operation_id,
            keyed: true,
        })
        .await;
        let status = match &outcome {
            Ok(response) => response.status(),
            Err(problem) => problem.status(),
        };
        if worth_retrying(status) {
            if let Err(error) = self.store.release(&id, &lock_token).await {
                // The lock lapses at the deadline all the same.
                tracing::warn!(%error, "idempotency record not released");
            }
            return outcome;
        }
        let stored = match &outcome {
            Ok(response) => capture(response),
            Err(problem) => capture(&problem.clone().into_response()),
        };
        match self
            .store
            .complete(
                &id,
                &lock_token,
                &stored,
                Timestamp::now().plus(self.ttl_seconds),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!("idempotency lock lapsed before the answer was stored"),
            // The work is done; a retry after the lock lapses runs the route
            // again with the same operation id, which finds that work.
            Err(error) => tracing::error!(%error, "idempotency answer not stored"),
        }
        outcome
    }
}

/// Answers a retry should not get again: server failures, and the 4xx that
/// say "not now" rather than "not this".
fn worth_retrying(status: StatusCode) -> bool {
    status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT
                | StatusCode::CONFLICT
                | StatusCode::TOO_EARLY
                | StatusCode::TOO_MANY_REQUESTS
        )
}

fn capture(response: &Response<Body>) -> StoredResponse {
    StoredResponse {
        status: response.status().as_u16(),
        headers: REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                let value = response.headers().get(name)?.to_str().ok()?;
                Some((name.as_str().to_string(), value.to_string()))
            })
            .collect(),
        body: response.body().as_ref().to_vec(),
    }
}

fn replay(stored: &StoredResponse) -> Response<Body> {
    let body = match String::from_utf8(stored.body.clone()) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(bytes) => Body::Binary(bytes.into_bytes()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

fn key_reused() -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ProblemCode::IdempotencyKeyReused,
        "The Idempotency-Key was used for another request",
        "this key was first sent with a different request; use a new key for a new request",
    )
}

fn in_progress(retry_after_seconds: u64) -> Problem {
    let seconds = u32::try_from(retry_after_seconds.clamp(1, 30)).unwrap_or(1);
    Problem::new(
        StatusCode::CONFLICT,
        ProblemCode::IdempotencyKeyInUse,
        "A request with this Idempotency-Key is still running",
        "the first request with this key has not finished; retry after the time in Retry-After",
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_answers_are_kept() {
        for status in [200, 201, 202, 204, 400, 404, 412, 422] {
            assert!(
                !worth_retrying(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [408, 409, 425, 429, 500, 503] {
            assert!(
                worth_retrying(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }

    #[test]
    fn a_replay_is_the_stored_answer_marked_replayed() {
        let stored = StoredResponse {
            status: 202,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("location".into(), "/jobs/x".into()),
            ],
            body: br#"{"job_id":"x"}"#.to_vec(),
        };
        let response = replay(&stored);
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.headers()[header::LOCATION], "/jobs/x");
        assert_eq!(response.headers()[REPLAYED], "true");
        assert_eq!(response.body().as_ref(), stored.body.as_slice());
        assert_eq!(capture(&response).headers.len(), 2);
    }
}
