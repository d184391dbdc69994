//! What a request costs on Lambda at a memory size, arm64, from AWS's
//! published on-demand prices.

use std::time::Duration;

/// Where and when the prices below were read.
pub const PRICES: &str = "AWS Lambda on-demand prices for US East (N. Virginia), \
    https://aws.amazon.com/lambda/pricing/, as read on 2026-11-23 (unchanged since \
    arm64 launched in September 2021): arm64 duration $0.0000133334 per GB-second \
    (first 7.5 billion GB-seconds a month), $0.20 per million requests; HTTP API \
    $1.00 per million requests (first 300 million). Since 1 August 2025 the init \
    phase is billed as duration for every runtime.";

/// arm64 duration, per GB-second.
pub const ARM64_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// Per million requests (either architecture).
pub const PER_MILLION_REQUESTS: f64 = 0.20;
/// API Gateway HTTP API, per million requests.
pub const HTTP_API_PER_MILLION: f64 = 1.00;

/// Duration as billed: whole milliseconds, rounded up, at least one.
pub fn billed_ms(duration: Duration) -> u64 {
    (duration.as_secs_f64() * 1000.0).ceil().max(1.0) as u64
}

/// Duration cost of a million invocations lasting `duration` each at `memory_mb`.
pub fn duration_per_million_at(duration: Duration, memory_mb: u32) -> f64 {
    1e6 * billed_ms(duration) as f64 / 1000.0 * f64::from(memory_mb) / 1024.0 * ARM64_PER_GB_SECOND
}

/// Lambda's cost of a million warm requests lasting `duration` each at `memory_mb`.
pub fn per_million_at(duration: Duration, memory_mb: u32) -> f64 {
    PER_MILLION_REQUESTS + duration_per_million_at(duration, memory_mb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_five_millisecond_requests() {
        let five = Duration::from_micros(4_200);
        assert_eq!(billed_ms(five), 5);
        // 1e6 × 0.005 s × 0.125 GB × $0.0000133334
        assert!((duration_per_million_at(five, 128) - 0.008_333_375).abs() < 1e-9);
        assert!((per_million_at(five, 128) - 0.208_333_375).abs() < 1e-9);
        // Twice the memory, twice the duration's price.
        assert!((duration_per_million_at(five, 256) - 0.016_666_75).abs() < 1e-9);
        assert_eq!(billed_ms(Duration::from_micros(10)), 1);
    }
}
