//! Time as the service stores and shows it: whole seconds since the Unix
//! epoch in DynamoDB (the unit of TTL attributes), RFC 3339 UTC in the API.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};

/// Seconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    }

    /// This time plus `seconds`.
    pub fn plus(self, seconds: u64) -> Self {
        Self(self.0.saturating_add(seconds))
    }

    /// Whether this expiry has passed at `now` (an expiry equal to now has passed).
    pub fn has_passed(self, now: Timestamp) -> bool {
        self.0 <= now.0
    }

    /// RFC 3339 in UTC, e.g. `2026-11-22T12:00:00Z`.
    pub fn rfc3339(self) -> String {
        let seconds = i64::try_from(self.0).unwrap_or(i64::MAX);
        DateTime::from_secs(seconds)
            .fmt(DateTimeFormat::DateTime)
            .unwrap_or_default()
    }

    /// The end of an invocation whose Lambda deadline is `deadline_ms`
    /// (milliseconds since the epoch, from the runtime), rounded up to a
    /// whole second; `fallback_seconds` from now when the runtime gave none
    /// or one already past (a handler called directly, as in tests).
    pub fn invocation_deadline(
        deadline_ms: Option<u64>,
        now: Timestamp,
        fallback_seconds: u64,
    ) -> Self {
        match deadline_ms.map(|ms| Self(ms.div_ceil(1000))) {
            Some(deadline) if !deadline.has_passed(now) => deadline,
            _ => now.plus(fallback_seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(1_795_348_800).rfc3339(), "2026-11-22T12:00:00Z");
    }

    #[test]
    fn an_expiry_at_now_has_passed() {
        let now = Timestamp(100);
        assert!(Timestamp(100).has_passed(now));
        assert!(Timestamp(99).has_passed(now));
        assert!(!Timestamp(101).has_passed(now));
    }

    #[test]
    fn an_invocation_ends_at_its_deadline_or_after_the_fallback() {
        let now = Timestamp(1_000);
        assert_eq!(
            Timestamp::invocation_deadline(Some(1_010_001), now, 30),
            Timestamp(1_011)
        );
        assert_eq!(
            Timestamp::invocation_deadline(Some(0), now, 30),
            Timestamp(1_030)
        );
        assert_eq!(
            Timestamp::invocation_deadline(None, now, 30),
            Timestamp(1_030)
        );
    }
}
