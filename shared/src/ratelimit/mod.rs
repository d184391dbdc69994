//! Rate limits that every instance sees: counters live in DynamoDB, one item
//! per policy, key and fixed window, never in process memory.
//!
//! A route applies a limit in one line and gets either an admission or the
//! 429 (or 503) problem to return:
//!
//! ```ignore
//! let admitted = self.limiter.admit(&self.per_ip, &ip).await?;
//! // ...
//! with_rate_limit(outcome, admitted.quota())
//! ```
//!
//! Windows are fixed (aligned to multiples of their length since the epoch),
//! so a client can spend a full budget at the end of one window and another
//! at the start of the next.

mod counters;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::header::{self, HeaderName, HeaderValue};
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Response};

pub use counters::WindowCounters;

use crate::http::{Problem, ProblemCode};
use crate::time::Timestamp;

/// `RateLimit-Limit`: the budget of the window.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: what is left of it.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until the window ends.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// What a limit does when its counters cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenStoreFails {
    /// Refuse the request with 503 (fail closed): for limits that guard secrets.
    Refuse,
    /// Let the request through unlimited (fail open): for fairness budgets.
    Admit,
}

/// A limit: at most `limit` requests per key in every window of `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Names the policy in counter keys and logs, e.g. `login-ip`.
    pub name: &'static str,
    /// Requests admitted per window.
    pub limit: u32,
    /// The window's length.
    pub window_seconds: u64,
    /// Fail open or closed.
    pub when_store_fails: WhenStoreFails,
}

impl Policy {
    /// The start and end of the window `now` is in.
    fn window(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        let length = self.window_seconds.max(1);
        let start = now.0 - now.0 % length;
        (Timestamp(start), Timestamp(start.saturating_add(length)))
    }

    /// The counter of `key` in the window starting at `start`. The key is
    /// digested, so emails and addresses are not stored in the clear.
    fn counter_id(&self, key: &str, start: Timestamp) -> String {
        let key_digest = URL_SAFE_NO_PAD.encode(digest(&SHA256, key.as_bytes()));
        format!("{}#{key_digest}#{}", self.name, start.0)
    }
}

/// Where a key stands in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The budget of the window.
    pub limit: u32,
    /// Requests still admitted in this window.
    pub remaining: u32,
    /// Seconds until the window ends (at least 1).
    pub reset_seconds: u64,
}

impl Quota {
    /// Of two quotas, the one closer to running out (the one a client must heed).
    pub fn tighter(self, other: Quota) -> Quota {
        if other.remaining < self.remaining {
            other
        } else {
            self
        }
    }

    /// The `RateLimit-*` headers.
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        [
            (RATELIMIT_LIMIT, HeaderValue::from(self.limit)),
            (RATELIMIT_REMAINING, HeaderValue::from(self.remaining)),
            (RATELIMIT_RESET, HeaderValue::from(self.reset_seconds)),
        ]
    }

    fn add_to(&self, headers: &mut HeaderMap) {
        for (name, value) in self.headers() {
            headers.insert(name, value);
        }
    }
}

/// A request a policy let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    quota: Option<Quota>,
    counter_id: Option<String>,
}

impl Admitted {
    /// The quota after this request; `None` when the counters could not be
    /// reached and the policy fails open.
    pub fn quota(&self) -> Option<Quota> {
        self.quota
    }
}

/// Applies policies with counters shared by every instance.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    counters: WindowCounters,
}

impl RateLimiter {
    /// A limiter counting in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            counters: WindowCounters::new(client, table),
        }
    }

    /// Counts one request of `key` against `policy`: the admission, 429 when
    /// the window's budget is spent, 503 when the counters cannot be reached
    /// and the policy fails closed.
    pub async fn admit(&self, policy: &Policy, key: &str) -> Result<Admitted, Problem> {
        self.admit_at(policy, key, Timestamp::now()).await
    }

    /// [`RateLimiter::admit`] at a given time.
    pub async fn admit_at(
        &self,
        policy: &Policy,
        key: &str,
        now: Timestamp,
    ) -> Result<Admitted, Problem> {
        let (start, end) = policy.window(now);
        let counter_id = policy.counter_id(key, start);
        let reset_seconds = end.0.saturating_sub(now.0).max(1);
        match self.counters.hit(&counter_id, policy.limit, end).await {
            Ok(Some(hits)) => Ok(Admitted {
                quota: Some(Quota {
                    limit: policy.limit,
                    remaining: policy.limit.saturating_sub(hits),
                    reset_seconds,
                }),
                counter_id: Some(counter_id),
            }),
            Ok(None) => {
                tracing::info!(policy = policy.name, "rate limit reached");
                Err(too_many_requests(
                    policy,
                    Quota {
                        limit: policy.limit,
                        remaining: 0,
                        reset_seconds,
                    },
                ))
            }
            Err(error) => match policy.when_store_fails {
                WhenStoreFails::Refuse => {
                    tracing::error!(policy = policy.name, %error, "rate limit counters unreachable: refusing (fail closed)");
                    Err(Problem::service_unavailable(1))
                }
                WhenStoreFails::Admit => {
                    tracing::error!(policy = policy.name, %error, "rate limit counters unreachable: admitting unlimited (fail open)");
                    Ok(Admitted {
                        quota: None,
                        counter_id: None,
                    })
                }
            },
        }
    }

    /// Gives back the request `admitted` counted, for policies that only
    /// count failures (count first, so racing requests cannot overshoot;
    /// give back what succeeded). A failure is logged, not returned: the
    /// budget is then one smaller until the window ends.
    pub async fn give_back(&self, admitted: &Admitted) {
        let Some(counter_id) = &admitted.counter_id else {
            return;
        };
        if let Err(error) = self.counters.unhit(counter_id).await {
            tracing::warn!(%error, "a rate limit hit could not be given back");
        }
    }
}

/// 429 `rate_limited` with `Retry-After` and the `RateLimit-*` headers.
pub fn too_many_requests(policy: &Policy, quota: Quota) -> Problem {
    let mut problem = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        ProblemCode::RateLimited,
        "Too many requests",
        format!(
            "the limit of {} requests per {} seconds is reached; retry after {} seconds",
            policy.limit, policy.window_seconds, quota.reset_seconds
        ),
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from(quota.reset_seconds));
    for (name, value) in quota.headers() {
        problem = problem.with_header(name, value);
    }
    problem
}

/// Puts the `RateLimit-*` headers of `quota` on a route's answer, success or problem.
pub fn with_rate_limit(
    outcome: Result<Response<Body>, Problem>,
    quota: Option<Quota>,
) -> Result<Response<Body>, Problem> {
    let Some(quota) = quota else {
        return outcome;
    };
    match outcome {
        Ok(mut response) => {
            quota.add_to(response.headers_mut());
            Ok(response)
        }
        // A 429 already carries its own policy's headers.
        Err(problem) if problem.status() == StatusCode::TOO_MANY_REQUESTS => Err(problem),
        Err(problem) => Err(quota
            .headers()
            .into_iter()
            .fold(problem, |problem, (name, value)| {
                problem.with_header(name, value)
            })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        name: "test",
        limit: 5,
        window_seconds: 60,
        when_store_fails: WhenStoreFails::Refuse,
    };

    #[test]
    fn windows_are_aligned_and_contain_now() {
        let (start, end) = POLICY.window(Timestamp(1_000_059));
        assert_eq!(start, Timestamp(1_000_020));
        assert_eq!(end, Timestamp(1_000_080));
        let (start, _) = POLICY.window(Timestamp(1_000_080));
        assert_eq!(
            start,
            Timestamp(1_000_080),
            "a window's end starts the next"
        );
    }

    #[test]
    fn counters_are_per_policy_key_and_window_without_the_key_in_clear() {
        let a = POLICY.counter_id("a@example.com", Timestamp(60));
        assert!(!a.contains("example.com"));
        assert_ne!(a, POLICY.counter_id("b@example.com", Timestamp(60)));
        assert_ne!(a, POLICY.counter_id("a@example.com", Timestamp(120)));
        let other = Policy {
            name: "other",
            ..POLICY
        };
        assert_ne!(a, other.counter_id("a@example.com", Timestamp(60)));
    }

    #[test]
    fn a_refusal_says_when_to_retry() {
        let quota = Quota {
            limit: 5,
            remaining: 0,
            reset_seconds: 42,
        };
        let response = too_many_requests(&POLICY, quota).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let headers = response.headers();
        assert_eq!(headers[header::RETRY_AFTER], "42");
        assert_eq!(headers[RATELIMIT_LIMIT], "5");
        assert_eq!(headers[RATELIMIT_REMAINING], "0");
        assert_eq!(headers[RATELIMIT_RESET], "42");
    }

    #[test]
    fn answers_of_every_kind_carry_the_quota() {
        let quota = Quota {
            limit: 300,
            remaining: 299,
            reset_seconds: 10,
        };
        let ok = with_rate_limit(Ok(Response::new(Body::Empty)), Some(quota)).unwrap();
        assert_eq!(ok.headers()[RATELIMIT_REMAINING], "299");
        let problem = with_rate_limit(Err(Problem::not_found("gone")), Some(quota))
            .unwrap_err()
            .into_response();
        assert_eq!(problem.headers()[RATELIMIT_LIMIT], "300");
        let open = with_rate_limit(Ok(Response::new(Body::Empty)), None).unwrap();
        assert!(open.headers().get(RATELIMIT_LIMIT).is_none());
    }

    #[test]
    fn the_tighter_quota_is_the_one_with_less_left() {
        let loose = Quota {
            limit: 20,
            remaining: 19,
            reset_seconds: 60,
        };
        let tight = Quota {
            limit: 5,
            remaining: 2,
            reset_seconds: 900,
        };
        assert_eq!(loose.tighter(tight), tight);
        assert_eq!(tight.tighter(loose), tight);
    }
}
