//! The CPU a request costs without its I/O: verifying an access token, the
//! request edge of an authenticated `PUT /cart` (event to request, bearer
//! token, If-Match, JSON body, validation, response: the route's own code),
//! hashing a refresh token, and presigning an upload. `cargo bench -p
//! shared` measures them; `cargo xtask test` runs each once as a test;
//! `cargo xtask bench` also asks for each path's per-call percentiles.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use criterion::Criterion;
use lambda_http::http::StatusCode;
use shared::accounts::account_key::AccountKeys;
use shared::accounts::auth::bearer_token;
use shared::accounts::keys::{PublicKeys, SigningKey};
use shared::accounts::refresh_token::RefreshToken;
use shared::accounts::tokens::{AccessTokenIssuer, AccessTokenVerifier, TokenSettings};
use shared::cart::items::Sku;
use shared::cart::routes::{cart_response, replacement};
use shared::cart::store::Cart;
use shared::catalog::prices::price_with;
use shared::catalog::product::{Category, Price, Product};
use shared::http::finish;
use shared::ids::{SessionId, UserId};
use shared::presign::Presigner;
use shared::time::Timestamp;

/// A token signed for the bench, and what verifies it.
fn tokens() -> (String, PublicKeys, AccessTokenVerifier) {
    let settings = TokenSettings {
        issuer: "https://bench.example".into(),
        audience: "bench".into(),
        access_ttl_seconds: 900,
    };
    let (_, key) = SigningKey::generate("bench-key").unwrap();
    let jwks = serde_json::json!({ "keys": [key.public_jwk()] }).to_string();
    let (token, _) = AccessTokenIssuer::new(settings.clone())
        .issue(&key, &UserId::new(), &SessionId::new(), Timestamp::now())
        .unwrap();
    let keys = PublicKeys::from_jwks(&jwks).unwrap();
    (token, keys, AccessTokenVerifier::new(&settings))
}

/// An API Gateway v2 event of `PUT /cart` carrying `token` and three lines.
fn put_cart_event(token: &str) -> String {
    let body = r#"{"items":[{"sku":"TSHIRT-M-BLUE","quantity":2},{"sku":"MUG_01","quantity":1},{"sku":"SOCKS-42","quantity":3}]}"#;
    serde_json::json!({
        "version": "2.0",
        "routeKey": "PUT /cart",
        "rawPath": "/cart",
        "rawQueryString": "",
        "headers": {
            "authorization": format!("Bearer {token}"),
            "content-type": "application/json",
            "if-match": "\"3\"",
            "host": "api.example.com",
            "x-forwarded-for": "203.0.113.7"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": "PUT",
                "path": "/cart",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "bench"
            },
            "requestId": "bench",
            "routeKey": "PUT /cart",
            "stage": "$default",
            "time": "22/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795000000000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

/// Everything the hot paths need, built once.
struct Fixture {
    verifier: AccessTokenVerifier,
    keys: PublicKeys,
    token: String,
    event: String,
    account_keys: AccountKeys,
    refresh: RefreshToken,
    runtime: tokio::runtime::Runtime,
    presigner: Presigner,
    product: Product,
}

impl Fixture {
    fn new() -> Self {
        let (token, keys, verifier) = tokens();
        let credentials = SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "bench-secret",
            None,
            None,
            "bench",
        ));
        let (_, account_keys) = AccountKeys::generate();
        Self {
            verifier,
            keys,
            event: put_cart_event(&token),
            token,
            refresh: RefreshToken::issue(
                &account_keys,
                &UserId::new(),
                &SessionId::new(),
                "nonce",
                3,
            ),
            account_keys,
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            presigner: Presigner::new(credentials, "eu-west-1", "uploads-bucket", None),
            product: Product {
                sku: Sku::parse("MUG-01").unwrap(),
                name: "Enamel mug".into(),
                price: Price {
                    amount: 1299,
                    currency: "EUR".into(),
                },
                category: Category::parse("kitchen").unwrap(),
                updated_at: Timestamp(1_764_000_000),
                version: 1,
            },
        }
    }
}

/// A measured path: its name, and one call of it.
type HotPath = (&'static str, fn(&Fixture));

/// The measured paths.
const PATHS: [HotPath; 5] = [
    ("verify access token", |f| {
        black_box(f.verifier.verify(&f.keys, black_box(&f.token)).unwrap());
    }),
    ("authenticated PUT /cart edge", |f| {
        let request = lambda_http::request::from_str(black_box(&f.event)).unwrap();
        f.verifier
            .verify(&f.keys, bearer_token(&request).unwrap())
            .unwrap();
        let (_, items) = replacement(&request).unwrap();
        // Priced as the route prices them, each product from a warm L1.
        let found: Vec<_> = items
            .lines()
            .iter()
            .map(|_| Some(f.product.clone()))
            .collect();
        let priced = price_with(&items, &found, "EUR");
        black_box(finish(cart_response(
            StatusCode::OK,
            &Cart { items, version: 4 },
            priced,
        )));
    }),
    // What metrics add to an invocation: its recorder around it, what a
    // route counts, and its EMF line written (to a sink, not stdout).
    ("metric line of one invocation", |f| {
        f.runtime
            .block_on(shared::metrics::recorded_to(std::io::sink(), async {
                shared::metrics::add(shared::metrics::Metric::StoreCalls, 3);
                shared::metrics::property("correlation_id", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
                shared::metrics::answered(black_box(200), None);
            }));
    }),
    ("verify refresh token", |f| {
        black_box(black_box(&f.refresh).was_issued(&f.account_keys, "nonce"));
    }),
    ("presign upload PUT", |f| {
        black_box(
            f.runtime
                .block_on(f.presigner.put(
                    black_box("uploads/user-1/abc/report.pdf"),
                    "application/pdf",
                    1_048_576,
                    "owner=user-1",
                    Duration::from_secs(900),
                    SystemTime::now(),
                ))
                .unwrap(),
        );
    }),
];

fn hot_paths(c: &mut Criterion) {
    let fixture = Fixture::new();
    for (name, path) in PATHS {
        c.bench_function(name, |b| b.iter(|| path(&fixture)));
    }
}

/// Criterion reports each sample's mean over many calls, which hides a
/// single call's tail; this times calls one by one (an `Instant` pair
/// costs a few tens of nanoseconds) and writes their percentiles as JSON.
fn per_call(file: &std::path::Path) {
    const CALLS: usize = 20_000;
    let fixture = Fixture::new();
    let mut report = serde_json::Map::new();
    for (name, path) in PATHS {
        for _ in 0..1_000 {
            path(&fixture);
        }
        let mut nanos: Vec<u128> = (0..CALLS)
            .map(|_| {
                let started = Instant::now();
                path(&fixture);
                started.elapsed().as_nanos()
            })
            .collect();
        nanos.sort_unstable();
        let at = |p: f64| nanos[((p / 100.0 * CALLS as f64).ceil() as usize).clamp(1, CALLS) - 1];
        report.insert(
            name.to_string(),
            serde_json::json!({
                "calls": CALLS,
                "p50_ns": at(50.0),
                "p99_ns": at(99.0),
                "p99_9_ns": at(99.9),
            }),
        );
    }
    std::fs::write(file, serde_json::Value::Object(report).to_string()).unwrap();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    hot_paths(&mut criterion);
    criterion.final_summary();
    // `cargo xtask bench` asks for the per-call tails too.
    if let Some(file) = std::env::var_os("HOT_PATHS_PER_CALL") {
        per_call(std::path::Path::new(&file));
    }
}
