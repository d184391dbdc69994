//! The CPU a request costs without its I/O: verifying an access token, the
//! request edge of an authenticated `PUT /cart` (event to request, bearer
//! token, If-Match, JSON body, validation, response: the route's own code),
//! hashing a refresh token, and presigning an upload. `cargo bench -p
//! shared` measures them; `cargo xtask test` runs each once as a test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use criterion::{Criterion, criterion_group, criterion_main};
use lambda_http::http::StatusCode;
use shared::accounts::auth::bearer_token;
use shared::accounts::keys::{PublicKeys, SigningKey};
use shared::accounts::tokens::{
    AccessTokenIssuer, AccessTokenVerifier, RefreshToken, TokenSettings,
};
use shared::cart::routes::{cart_response, replacement};
use shared::cart::store::Cart;
use shared::http::finish;
use shared::ids::new_id;
use shared::presign::Presigner;
use shared::time::Timestamp;

fn tokens() -> (AccessTokenIssuer, AccessTokenVerifier) {
    let settings = TokenSettings {
        issuer: "https://bench.example".into(),
        audience: "bench".into(),
        access_ttl_seconds: 900,
    };
    let (_, key) = SigningKey::generate("bench-key").unwrap();
    let jwks = serde_json::json!({ "keys": [key.public_jwk()] }).to_string();
    let verifier = AccessTokenVerifier::new(PublicKeys::from_jwks(&jwks).unwrap(), &settings);
    (AccessTokenIssuer::new(key, settings), verifier)
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

fn hot_paths(c: &mut Criterion) {
    let (issuer, verifier) = tokens();
    let (token, _) = issuer
        .issue(&new_id(), &new_id(), Timestamp::now())
        .unwrap();

    c.bench_function("verify access token", |b| {
        b.iter(|| verifier.verify(black_box(&token)).unwrap())
    });

    let event = put_cart_event(&token);
    c.bench_function("authenticated PUT /cart edge", |b| {
        b.iter(|| {
            let request = lambda_http::request::from_str(black_box(&event)).unwrap();
            verifier.verify(bearer_token(&request).unwrap()).unwrap();
            let (_, items) = replacement(&request).unwrap();
            finish(cart_response(StatusCode::OK, &Cart { items, version: 4 }))
        })
    });

    let refresh = RefreshToken::generate(&new_id(), &new_id());
    c.bench_function("hash refresh token", |b| {
        b.iter(|| black_box(&refresh).hash())
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let credentials = SharedCredentialsProvider::new(Credentials::new(
        "AKIDEXAMPLE",
        "bench-secret",
        None,
        None,
        "bench",
    ));
    let presigner = Presigner::new(credentials, "eu-west-1", "uploads-bucket", None);
    c.bench_function("presign upload PUT", |b| {
        b.iter(|| {
            runtime
                .block_on(presigner.put(
                    black_box("uploads/user-1/abc/report.pdf"),
                    "application/pdf",
                    1_048_576,
                    "owner=user-1",
                    Duration::from_secs(900),
                    SystemTime::now(),
                ))
                .unwrap()
        })
    });
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
