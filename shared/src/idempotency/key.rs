//! The key and the request it stands for: the `Idempotency-Key` header
//! checked, the record it names (per route and owner, the key hashed), and a
//! fingerprint of the request that catches a key reused with another body.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::Request;
use lambda_http::http::{HeaderMap, StatusCode};

use super::{IDEMPOTENCY_KEY, MAX_KEY_LEN};
use crate::http::{Problem, ProblemCode};

/// The key of the request, if it has one; 400 if it is malformed.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, Problem> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::InvalidIdempotencyKey,
            "The Idempotency-Key header is invalid",
            format!(
                "`Idempotency-Key` must appear once, with 1 to {MAX_KEY_LEN} visible ASCII characters"
            ),
        )
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    let key = value.to_str().map_err(|_| invalid())?;
    let visible = key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if key.trim().is_empty() || key.len() > MAX_KEY_LEN || !visible {
        return Err(invalid());
    }
    Ok(Some(key))
}

/// `<route>#<owner>#<digest of the key>`: bounded length whatever the key.
pub(super) fn record_id(route: &str, owner: &str, key: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    format!("{route}#{owner}#{}", URL_SAFE_NO_PAD.encode(digest))
}

/// A digest of what the request asks: its method, path and body. A JSON
/// body counts by its meaning, so key order and spacing do not matter.
pub(super) fn fingerprint(request: &Request) -> String {
    let body = request.body().as_ref();
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| serde_json::to_vec(&canonical_json(value)).ok());
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(request.method().as_str().as_bytes());
    context.update(b"\n");
    context.update(request.uri().path().as_bytes());
    context.update(b"\n");
    context.update(canonical.as_deref().unwrap_or(body));
    URL_SAFE_NO_PAD.encode(context.finish())
}

/// `value` with every object's keys in order.
pub(super) fn canonical_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical_json(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical_json).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;
    use lambda_http::http::HeaderValue;
    use lambda_http::http::Method;

    fn request(method: Method, path: &str, body: &str) -> Request {
        let mut request = Request::new(Body::Text(body.to_string()));
        *request.method_mut() = method;
        *request.uri_mut() = path.parse().unwrap();
        request
    }

    #[test]
    fn the_same_json_in_another_spelling_is_the_same_request() {
        let a = request(
            Method::POST,
            "/jobs",
            r#"{"type":"export","x":{"b":1,"a":[2]}}"#,
        );
        let b = request(
            Method::POST,
            "/jobs",
            "{ \"x\": {\"a\": [2], \"b\": 1},\n \"type\": \"export\" }",
        );
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn another_body_path_or_method_is_another_request() {
        let base = fingerprint(&request(Method::POST, "/jobs", r#"{"type":"export"}"#));
        for other in [
            request(Method::POST, "/jobs", r#"{"type":"other"}"#),
            request(Method::POST, "/uploads", r#"{"type":"export"}"#),
            request(Method::PUT, "/jobs", r#"{"type":"export"}"#),
            request(Method::POST, "/jobs", r#"{"type":"export""#),
        ] {
            assert_ne!(fingerprint(&other), base);
        }
    }

    #[test]
    fn keys_are_checked() {
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for v in values {
                map.append(IDEMPOTENCY_KEY, HeaderValue::from_str(v).unwrap());
            }
            map
        };
        assert_eq!(idempotency_key(&headers(&[])), Ok(None));
        assert_eq!(idempotency_key(&headers(&["k-1"])), Ok(Some("k-1")));
        let long = "k".repeat(MAX_KEY_LEN + 1);
        for bad in [&[" "][..], &["a", "b"], &[long.as_str()]] {
            let problem = idempotency_key(&headers(bad)).unwrap_err();
            assert_eq!(problem.code(), "invalid_idempotency_key");
        }
    }

    #[test]
    fn record_ids_are_bounded_and_per_route_and_owner() {
        let long = "k".repeat(MAX_KEY_LEN);
        let id = record_id("POST /jobs", "user", &long);
        assert!(id.len() < 80, "{id}");
        assert_ne!(id, record_id("POST /jobs", "other", &long));
        assert_ne!(id, record_id("POST /uploads", "user", &long));
    }
}
