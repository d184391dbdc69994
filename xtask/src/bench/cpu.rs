//! Measure 2: the CPU of the hot paths, from `shared/benches/hot_paths.rs`
//! (criterion's medians, and the per-call percentiles it writes when asked).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

/// One hot path.
#[derive(Debug, Clone)]
pub struct HotPath {
    pub name: String,
    /// Criterion's median estimate.
    pub median: Option<Duration>,
    /// Per call, timed one by one.
    pub p50: Duration,
    pub p99: Duration,
    pub p99_9: Duration,
    pub calls: u64,
}

/// Runs the benchmarks (release profile) and reads what they measured.
/// `quick` shortens criterion's warm-up and measurement to one second each.
pub fn measure(root: &Path, target_dir: &Path, quick: bool) -> Result<Vec<HotPath>> {
    let per_call = target_dir.join("criterion/per-call.json");
    let _ = std::fs::remove_file(&per_call);
    let mut command = crate::cargo();
    command
        .args(["bench", "--package", "shared", "--bench", "hot_paths", "--"])
        .current_dir(root)
        .env("HOT_PATHS_PER_CALL", &per_call);
    if quick {
        command.args(["--warm-up-time", "1", "--measurement-time", "1"]);
    }
    crate::tools::run(&mut command)?;
    let text = std::fs::read_to_string(&per_call)
        .with_context(|| format!("reading {}", per_call.display()))?;
    let tails: Value = serde_json::from_str(&text)?;
    let medians = criterion_medians(&target_dir.join("criterion"));
    let nanos = |value: &Value| Duration::from_nanos(value.as_u64().unwrap_or_default());
    let mut paths: Vec<HotPath> = tails
        .as_object()
        .context("per-call.json is not an object")?
        .iter()
        .map(|(name, tail)| HotPath {
            name: name.clone(),
            median: medians.iter().find(|(id, _)| id == name).map(|(_, d)| *d),
            p50: nanos(&tail["p50_ns"]),
            p99: nanos(&tail["p99_ns"]),
            p99_9: nanos(&tail["p99_9_ns"]),
            calls: tail["calls"].as_u64().unwrap_or_default(),
        })
        .collect();
    paths.sort_by_key(|path| std::cmp::Reverse(path.p99));
    Ok(paths)
}

/// Criterion's median estimate of each benchmark under `dir`, by its id.
fn criterion_medians(dir: &Path) -> Vec<(String, Duration)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let read = |path: &Path| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let benchmark = read(&entry.path().join("new/benchmark.json"))?;
            let estimates = read(&entry.path().join("new/estimates.json"))?;
            let nanos = estimates["median"]["point_estimate"].as_f64()?;
            Some((
                benchmark["full_id"].as_str()?.to_string(),
                Duration::from_secs_f64(nanos / 1e9),
            ))
        })
        .collect()
}
