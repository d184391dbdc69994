//! The capacity model of `BENCHMARKS.md`: 10,000 requests a second in a
//! stated mix, 10 million users, worked out from what the bench measured
//! (each route's DynamoDB items per request, from the call log, and its warm
//! duration under the model) against DynamoDB's per-partition limits,
//! Lambda's default concurrency, and list prices.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::OnStack;
use super::cost;
use super::stats::median;
use shared::accounts::keystore::{WITHDRAWN_SHARDS, withdrawn_shard};

/// Requests a second in the model.
pub const REQUESTS_PER_SECOND: f64 = 10_000.0;

/// Registered users in the model.
pub const USERS: f64 = 10_000_000.0;

/// The route mix, per mille of requests, by the route's function: reads
/// dominate, as a client browses the catalog, polls its jobs and uploads and
/// refreshes its token every 15 minutes.
pub const MIX: [(&str, u32); 22] = [
    ("me", 165),
    ("get-cart", 165),
    ("get-product", 50),
    ("list-products", 19),
    ("put-product", 1),
    ("put-cart", 80),
    ("get-job", 140),
    ("list-jobs", 40),
    ("create-job", 10),
    ("get-upload", 60),
    ("list-uploads", 40),
    ("create-upload", 30),
    ("delete-upload", 10),
    ("refresh", 120),
    ("login", 20),
    ("register", 5),
    ("logout", 10),
    ("logout-all", 2),
    ("list-sessions", 10),
    ("delete-session", 3),
    ("jwks", 10),
    ("health", 10),
];

/// DynamoDB's limits of one partition, per second.
const PARTITION_READS: f64 = 3_000.0;
const PARTITION_WRITES: f64 = 1_000.0;

/// Lambda's default concurrency limit of an account and region.
const DEFAULT_CONCURRENCY: f64 = 1_000.0;

/// DynamoDB on-demand, US East (N. Virginia), as read on 2026-12-01.
const PER_MILLION_READ_UNITS: f64 = 0.125;
const PER_MILLION_WRITE_UNITS: f64 = 0.625;
const PER_GB_MONTH: f64 = 0.25;
/// API Gateway HTTP API past the first 300 million a month.
const HTTP_API_PER_MILLION_AFTER: f64 = 0.90;
const SECONDS_A_MONTH: f64 = 30.0 * 24.0 * 3600.0;

fn rps(per_mille: u32) -> f64 {
    REQUESTS_PER_SECOND * f64::from(per_mille) / 1000.0
}

/// Item reads and writes a second, and their capacity units, per table.
#[derive(Debug, Default, Clone, Copy)]
struct Load {
    reads: f64,
    writes: f64,
    read_units: f64,
    write_units: f64,
}

/// `SESSIONS_TABLE` to `sessions`.
fn table_name(variable: &str) -> String {
    variable
        .trim_end_matches("_TABLE")
        .to_lowercase()
        .replace('_', " ")
}

/// The routes whose reads go through `shared::cache`: the call log sees
/// their cold path, so their rows in the table are what they would cost
/// uncached (the hot-key table says what the cache leaves).
const CACHED: [&str; 2] = ["get-product", "list-products"];

/// `shared::catalog`'s default L1 time to live, seconds.
const CATALOG_TTL_SECONDS: f64 = 5.0;

/// Writes the section.
pub fn render(out: &mut String, on: &OnStack) {
    let _ = writeln!(out, "## 9. Capacity\n");
    let _ = writeln!(
        out,
        "What {:.0} requests a second and {:.0} million users take, from this run's \
         measures: each route's DynamoDB items per request (section 4's call log reads \
         them off every request it sends) times its share of the mix, each function's \
         warm duration (section 5) for its concurrency. A read is counted as one read \
         unit (strongly consistent, items under 4 KB), a write as one write unit, twice \
         either in a transaction; a query as one read. The catalog's reads go through \
         `shared::cache` and are counted here as if every request missed it (an upper \
         bound: the hot-key table says what the cache leaves). The mix \
         (`xtask/src/bench/capacity.rs`), per mille of requests:\n",
        REQUESTS_PER_SECOND,
        USERS / 1e6
    );
    let _ = writeln!(
        out,
        "{}\n",
        MIX.iter()
            .map(|(binary, share)| format!("{binary} {share}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut tables: BTreeMap<String, Load> = BTreeMap::new();
    let mut authenticated = 0.0;
    for (binary, share) in MIX {
        let Some(route) = on.calls.iter().find(|r| r.binary == binary) else {
            continue;
        };
        let rate = rps(share);
        if route.budget.authenticated() {
            authenticated += rate;
        }
        for touched in &route.items {
            let load = tables.entry(table_name(&touched.table)).or_default();
            let items = rate * touched.items as f64;
            let units = items * if touched.transactional { 2.0 } else { 1.0 };
            if touched.write {
                load.writes += items;
                load.write_units += units;
            } else {
                load.reads += items;
                load.read_units += units;
            }
        }
    }
    let _ = writeln!(
        out,
        "| table | item reads/s | item writes/s | read units/s | write units/s |\n|---|---:|---:|---:|---:|"
    );
    for (table, load) in &tables {
        let _ = writeln!(
            out,
            "| {table} | {:.0} | {:.0} | {:.0} | {:.0} |",
            load.reads, load.writes, load.read_units, load.write_units
        );
    }
    let _ = writeln!(out);

    // The hottest key of each table.
    let per_user_budget = 300.0 / 60.0;
    let shard_reads = authenticated / f64::from(WITHDRAWN_SHARDS);
    // A function's warm run, and the environments its share of the mix keeps busy.
    let steady_of = |binary: &str| {
        on.steady
            .iter()
            .find(|s| s.language == "Rust" && s.name == binary)
    };
    let busy = |binary: &str, share: u32| {
        let warm = median(&steady_of(binary)?.warm)?;
        Some(rps(share) * warm.as_secs_f64())
    };
    let concurrency: f64 = MIX
        .iter()
        .filter_map(|(binary, share)| busy(binary, *share))
        .sum();
    let key_reads = concurrency / 300.0;
    let product_instances: f64 = CACHED
        .iter()
        .filter_map(|binary| busy(binary, MIX.iter().find(|(b, _)| b == binary)?.1))
        .sum::<f64>()
        .max(1.0);
    let round_trips: f64 = MIX
        .iter()
        .filter_map(|(binary, share)| {
            let route = on.calls.iter().find(|r| r.binary == *binary)?;
            Some(f64::from(*share) / 1000.0 * route.round_trips as f64)
        })
        .sum();
    let _ = writeln!(
        out,
        "The hottest partition key of each table, against a partition's {PARTITION_READS:.0} \
         reads and {PARTITION_WRITES:.0} writes a second:\n"
    );
    let _ = writeln!(
        out,
        "| table | hottest key | what drives it | at this load |\n|---|---|---|---|"
    );
    let rows = [
        (
            "revoked tokens",
            "`kid#<signing kid>#<shard>`",
            format!(
                "every authenticated request reads its token's key's withdrawal entry; \
                 nearly every token has the one signing key. Under one key that is {authenticated:.0} \
                 reads/s, {:.1}× a partition: so the entry is written under {WITHDRAWN_SHARDS} \
                 keys and each check reads the one its `jti` picks (`shared::accounts::keystore::withdrawn_shard`; \
                 its spread over 16,000 random ids is tested)",
                authenticated / PARTITION_READS
            ),
            format!("{shard_reads:.0} reads/s per shard"),
        ),
        (
            "rate limits",
            "`user#<user>#<window>`, `ip#<ip>#<window>`",
            "one user's or one address's requests; admitted ones are held to the budget \
             (300 a minute a user), refused ones still cost a conditional write"
                .to_string(),
            format!(
                "{per_user_budget:.0} writes/s for a user at the budget; see below for a flood"
            ),
        ),
        (
            "sessions",
            "`<user>#<session>`",
            "one client's requests (each reads its session's standing)".to_string(),
            format!("{per_user_budget:.0} reads/s at the user budget"),
        ),
        (
            "token keys",
            "the published keys (one item)",
            "each new execution environment, and each one every 300 s \
             (`TOKEN_KEYS_MAX_AGE_SECONDS`)"
                .to_string(),
            format!("{key_reads:.1} reads/s for {concurrency:.0} environments"),
        ),
        (
            "catalog, cache",
            "a hot product's item; a category's listing version",
            format!(
                "every request for one product, or one category, lands on one key: {:.0} a second \
                 at this mix for a product everyone wants. The L1 makes it at most one read per \
                 execution environment per {CATALOG_TTL_SECONDS:.0} s window (a listing's version \
                 likewise, its chunks coming from the cache table)",
                rps(50)
            ),
            format!(
                "{:.1} reads/s for {product_instances:.0} catalog environments",
                product_instances / CATALOG_TTL_SECONDS
            ),
        ),
        (
            "users, carts, uploads, jobs, idempotency",
            "per user (and id)",
            "one user's own requests".to_string(),
            format!("under {per_user_budget:.0} a second each"),
        ),
    ];
    for (table, key, why, rate) in rows {
        let _ = writeln!(out, "| {table} | {key} | {why} | {rate} |");
    }
    let checks = 16_000;
    let mut per_shard = vec![0u32; WITHDRAWN_SHARDS as usize];
    for _ in 0..checks {
        per_shard[withdrawn_shard(&shared::ids::new_id()) as usize] += 1;
    }
    let _ = writeln!(
        out,
        "\nThe spread, for {checks} token ids made as the service makes them: each shard \
         read by {} to {} checks (an even share is {}).",
        per_shard.iter().min().unwrap_or(&0),
        per_shard.iter().max().unwrap_or(&0),
        checks / WITHDRAWN_SHARDS
    );
    let _ = writeln!(
        out,
        "\nThe rate-limit counters are not spread, so they keep their promise of no \
         overshoot (a conditional write admits exactly the limit). What a single key \
         can take bounds a flood instead: one token or address sending more than \
         {PARTITION_WRITES:.0} requests a second throttles its own counter, and then \
         the per-user budget admits (it fails open: fairness, not secrets) while \
         login's and register's refuse (they fail closed); the session read behind \
         such a flood throttles at {PARTITION_READS:.0} a second and answers 503. Adaptive \
         capacity isolates a hot key on a partition of its own, so other users' keys \
         are not held back. The bound on a flood belongs in front of the functions: \
         API Gateway's route throttling and a WAF rate-based rule per address.\n"
    );
    let _ = writeln!(
        out,
        "**Lambda concurrency**: the sum over the mix of requests a second times warm \
         p50 is {concurrency:.0} concurrent executions, against the default account limit \
         of {DEFAULT_CONCURRENCY:.0} ({:.0}%; the warm durations are local ones, against \
         emulators on loopback: on AWS each store round trip adds a few milliseconds, \
         {:.0} more at 5 ms for each of the {round_trips:.2} round trips of the average \
         request). **SQS**: `POST /jobs` \
         at {:.0} a second sends as many messages, and uploads as many S3 events as \
         `POST /uploads` is followed by an upload (at most {:.0} a second): a standard \
         queue takes nearly unlimited throughput. **WebSocket fan-out**: the service has \
         no WebSocket API yet.\n",
        100.0 * concurrency / DEFAULT_CONCURRENCY,
        REQUESTS_PER_SECOND * 0.005 * round_trips,
        rps(10),
        rps(30)
    );
    // A month at this load.
    let requests = REQUESTS_PER_SECOND * SECONDS_A_MONTH;
    let lambda: f64 = MIX
        .iter()
        .filter_map(|(binary, share)| {
            let steady = steady_of(binary)?;
            let warm = median(&steady.warm)?;
            let count = rps(*share) * SECONDS_A_MONTH;
            Some(count / 1e6 * cost::per_million_at(warm, steady.memory_mb))
        })
        .sum();
    let api = 300.0 * cost::HTTP_API_PER_MILLION
        + (requests / 1e6 - 300.0).max(0.0) * HTTP_API_PER_MILLION_AFTER;
    let read_units: f64 = tables.values().map(|l| l.read_units).sum();
    let write_units: f64 = tables.values().map(|l| l.write_units).sum();
    let dynamodb = SECONDS_A_MONTH
        * (read_units / 1e6 * PER_MILLION_READ_UNITS + write_units / 1e6 * PER_MILLION_WRITE_UNITS);
    // About a kilobyte a user (profile, credentials, cart), and its sessions.
    let storage = USERS * 2.0 * 1024.0 / 1e9 * PER_GB_MONTH;
    let _ = writeln!(
        out,
        "**A month** ({:.1} billion requests), at list prices: Lambda ${lambda:.0} (requests \
         and the warm durations of section 5 at each function's memory size), API Gateway \
         HTTP API ${api:.0}, DynamoDB on-demand ${dynamodb:.0} ({read_units:.0} read and \
         {write_units:.0} write units a second, at ${PER_MILLION_READ_UNITS} and \
         ${PER_MILLION_WRITE_UNITS} a million) and its storage ${storage:.0} (about 2 KB \
         a user at ${PER_GB_MONTH} a GB-month); ${:.0} in all, or ${:.2} a million \
         requests. The consumers (job worker, upload confirmation) and CloudWatch are \
         left out.\n",
        requests / 1e9,
        lambda + api + dynamodb + storage,
        (lambda + api + dynamodb + storage) / (requests / 1e6)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_every_request() {
        assert_eq!(MIX.iter().map(|(_, share)| share).sum::<u32>(), 1000);
        assert_eq!(table_name("REVOKED_TOKENS_TABLE"), "revoked tokens");
    }
}
