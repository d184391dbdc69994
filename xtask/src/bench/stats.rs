//! Percentiles of measured samples.

use std::time::Duration;

/// The `p`-th percentile (0–100) of `samples` by nearest rank; `None` when empty.
pub fn percentile<T: Copy + Ord>(samples: &[T], p: f64) -> Option<T> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// The median.
pub fn median<T: Copy + Ord>(samples: &[T]) -> Option<T> {
    percentile(samples, 50.0)
}

/// Milliseconds with one decimal, or a dash.
pub fn ms(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "–".to_string(),
        |d| format!("{:.1}", d.as_secs_f64() * 1000.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u32> = (1..=10).rev().collect();
        assert_eq!(median(&samples), Some(5));
        assert_eq!(percentile(&samples, 90.0), Some(9));
        assert_eq!(percentile(&samples, 99.0), Some(10));
        assert_eq!(percentile(&samples, 0.0), Some(1));
        assert_eq!(median::<u32>(&[]), None);
        assert_eq!(percentile(&[7u32], 99.0), Some(7));
    }

    #[test]
    fn milliseconds() {
        assert_eq!(ms(Some(Duration::from_micros(13_840))), "13.8");
        assert_eq!(ms(None), "–");
    }
}
