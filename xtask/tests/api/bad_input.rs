//! Hand-written bad input against every route of `shared/openapi.yaml`:
//! bodies that are not JSON, 10 MB, nested without end; every
//! field with every wrong type, numbers too big for any integer, empty and
//! very long strings, unknown fields, the wrong media type; every path
//! parameter and query parameter malformed. Nothing gets a 5xx; every
//! refusal is a problem document with a `code`, which never echoes the input.
//! (`openapi.rs` lets schemathesis generate more of the same.)

use serde_json::{Value, json};
use xtask::stack::StackInfo;

use crate::helpers::spec::{self, Operation, operations, resolve};
use crate::helpers::{Api, Reply, unique_email};

/// A body the route accepts: the `example` of its `requestBody` in the
/// spec, with a fresh address wherever the schema says `format: email` (so
/// no case depends on another).
fn valid_body(spec: &Value, method: &str, path: &str) -> Value {
    let mut body = xtask::openapi::request_example(spec, method, path).unwrap_or_else(|| {
        panic!("{method} {path} takes a body: give its requestBody an example in the spec")
    });
    let operation = &spec["paths"][path][method.to_lowercase()];
    let schema = resolve(
        spec,
        &operation["requestBody"]["content"]["application/json"]["schema"],
    );
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        if property["format"] == "email" {
            body[name] = json!(unique_email());
        }
    }
    body
}

/// Values of every JSON type but `kind`'s.
fn wrong_types(kind: &str) -> Vec<Value> {
    let all = [
        ("string", json!("text")),
        ("integer", json!(7)),
        ("boolean", json!(true)),
        ("array", json!([])),
        ("object", json!({})),
        ("null", Value::Null),
    ];
    all.into_iter()
        .filter(|(k, _)| *k != kind)
        .map(|(_, v)| v)
        .collect()
}

/// Numbers no integer field takes: negative, fractional, beyond u64, beyond f64.
const NOT_SMALL_WHOLE_NUMBERS: [&str; 6] = [
    "-1",
    "1.5",
    "1e400",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "-9223372036854775809",
];

/// Stands in for a number written as raw text.
const PLACEHOLDER: &str = "__number__";

/// Empty, very long (under the body limit), control characters, many-byte characters.
fn odd_strings() -> Vec<String> {
    vec![
        String::new(),
        "x".repeat(60_000),
        "\u{0}\u{1}\u{1b}[31m\u{7f}".to_string(),
        "é漢🦀\u{202e}".repeat(500),
    ]
}

/// Every field a body of `schema` has, nested ones too (the first element
/// of an array stands for all): (JSON pointer, type, nullable).
fn fields(spec: &Value, schema: &Value, at: &str) -> Vec<(String, String, bool)> {
    let schema = resolve(spec, schema);
    let kind = schema["type"].as_str().unwrap_or("object").to_string();
    let mut all = Vec::new();
    if !at.is_empty() {
        all.push((at.to_string(), kind.clone(), schema["nullable"] == true));
    }
    match kind.as_str() {
        "object" => {
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                all.extend(fields(spec, property, &format!("{at}/{name}")));
            }
        }
        "array" => all.extend(fields(spec, &schema["items"], &format!("{at}/0"))),
        _ => {}
    }
    all
}

struct Caller<'a> {
    api: &'a Api,
    token: String,
}

impl Caller<'_> {
    /// Sends `body` (raw bytes) with `content_type`, with the caller's token
    /// where the route needs one and the cart's current ETag for `PUT /cart`.
    fn send(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Reply {
        let etag;
        let mut headers = vec![("content-type", content_type)];
        if (method, path) == ("PUT", "/cart") {
            etag = self
                .api
                .get_cart(&self.token)
                .header("etag")
                .unwrap()
                .to_string();
            headers.push(("if-match", etag.as_str()));
        }
        self.api
            .send_bytes(method, path, Some(&self.token), &headers, body)
    }
}

/// No 5xx; a refusal is a problem document that does not echo `sent`.
fn assert_refused_well(what: &str, reply: &Reply, sent: &str) {
    assert!(
        reply.status < 500,
        "{what}: {} {}",
        reply.status,
        reply.body
    );
    if reply.status >= 400 {
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
        let code = reply.body["code"].as_str().unwrap_or_default();
        assert!(!code.is_empty(), "{what}: {}", reply.body);
        let text = reply.body.to_string();
        assert!(
            text.len() < 2000,
            "{what}: an answer of {} bytes",
            text.len()
        );
        if sent.len() >= 8 {
            assert!(!text.contains(sent), "{what}: the answer echoes the input");
        }
    }
}

fn assert_status(what: &str, reply: &Reply, sent: &str, expected: &[u16]) {
    assert_refused_well(what, reply, sent);
    assert!(
        expected.contains(&reply.status),
        "{what}: {} (expected {expected:?}) {}",
        reply.status,
        reply.body
    );
}

/// `path` with each `{parameter}` replaced by its `example` in the spec.
fn example_path(spec: &Value, operation: &Value, path: &str) -> String {
    let mut target = path.to_string();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let parameter = resolve(spec, parameter);
        if parameter["in"] == "path" {
            let name = parameter["name"].as_str().unwrap();
            let example = parameter["example"]
                .as_str()
                .unwrap_or_else(|| panic!("{path}: give path parameter {name} an example"));
            target = target.replace(&format!("{{{name}}}"), example);
        }
    }
    target
}

#[test]
fn every_body_taking_route_refuses_bad_bodies_with_a_clear_4xx() {
    let stack = StackInfo::from_env().unwrap();
    let api = Api::at(&stack.api_url);
    // An admin: a route that needs the role reads its body only then.
    let (email, token) = api.new_user();
    xtask::happy_path::grant_admin(&stack, &email).unwrap();
    let caller = Caller { api: &api, token };
    let spec = spec::load();
    let mut routes = 0;
    for Operation {
        method,
        path,
        operation,
    } in operations(&spec)
    {
        let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema")
        else {
            continue;
        };
        routes += 1;
        let route = format!("{method} {path}");
        let target = example_path(&spec, operation, path);
        let send =
            |content_type: &str, body: &[u8]| caller.send(&method, &target, content_type, body);
        let json = "application/json";

        for text in [
            "not json",
            "{",
            "{\"a\":1}}",
            "[]",
            "\"text\"",
            "null",
            "  ",
        ] {
            let reply = send(json, text.as_bytes());
            assert_status(&format!("{route} body {text:?}"), &reply, "", &[400]);
        }
        // Bodies that are not UTF-8 cannot be sent here: cargo-lambda answers
        // them 500 before any function runs (API Gateway base64-encodes
        // them); `shared::http::body`'s unit tests prove the functions' 400.
        let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
        let reply = send(json, deep.as_bytes());
        assert_status(&format!("{route} deep nesting"), &reply, "", &[400]);
        let huge = vec![b' '; 10 * 1024 * 1024];
        let reply = send(json, &huge);
        assert_status(&format!("{route} 10 MB"), &reply, "", &[413]);
        let valid = valid_body(&spec, &method, path).to_string();
        for media_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
            let reply = send(media_type, valid.as_bytes());
            assert_status(&format!("{route} as {media_type:?}"), &reply, "", &[415]);
        }

        let mut unknown = valid_body(&spec, &method, path);
        unknown["unexpected_field"] = json!(1);
        let reply = send(json, unknown.to_string().as_bytes());
        assert_status(&format!("{route} unknown field"), &reply, "", &[400]);

        for (pointer, kind, nullable) in fields(&spec, schema, "") {
            for wrong in wrong_types(&kind) {
                if wrong.is_null() && nullable {
                    continue;
                }
                let mut body = valid_body(&spec, &method, path);
                *body.pointer_mut(&pointer).unwrap() = wrong.clone();
                let reply = send(json, body.to_string().as_bytes());
                assert_status(&format!("{route} {pointer} = {wrong}"), &reply, "", &[400]);
            }
            if kind == "integer" {
                for number in NOT_SMALL_WHOLE_NUMBERS {
                    let mut body = valid_body(&spec, &method, path);
                    *body.pointer_mut(&pointer).unwrap() = json!(PLACEHOLDER);
                    let text = body
                        .to_string()
                        .replace(&format!("\"{PLACEHOLDER}\""), number);
                    let reply = send(json, text.as_bytes());
                    assert_status(&format!("{route} {pointer} = {number}"), &reply, "", &[400]);
                }
            }
            if kind == "string" {
                for text in odd_strings() {
                    let mut body = valid_body(&spec, &method, path);
                    *body.pointer_mut(&pointer).unwrap() = json!(text);
                    let reply = send(json, body.to_string().as_bytes());
                    let shown: String = text.chars().take(12).collect();
                    assert_refused_well(&format!("{route} {pointer} = {shown:?}"), &reply, &text);
                }
            }
        }
    }
    assert!(routes >= 6, "only {routes} routes take a body");
}

/// Path parameters that are not ids: too short, too long, the wrong
/// characters, encoded traversal and NUL, injection, many-byte characters.
const BAD_IDS: [&str; 10] = [
    "x",
    "aaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaa%21%21",
    "%00",
    "%2e%2e",
    "..%2F..%2Fetc%2Fpasswd",
    "'%20OR%20'1'%3D'1",
    "%F0%9F%A6%80%F0%9F%A6%80%F0%9F%A6%80%F0%9F%A6%80%F0%9F%A6%80",
    "%ff%fe",
];

#[test]
fn every_malformed_path_or_query_parameter_is_a_clear_4xx() {
    let stack = StackInfo::from_env().unwrap();
    let api = Api::at(&stack.api_url);
    let (_, token) = api.new_user();
    let long_id = "a".repeat(4000);
    let mut checked = 0;
    let spec = spec::load();
    for Operation {
        method,
        path,
        operation,
    } in operations(&spec)
    {
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let parameter = resolve(&spec, parameter);
            let name = parameter["name"].as_str().unwrap();
            match parameter["in"].as_str().unwrap() {
                "path" => {
                    for bad in BAD_IDS.iter().copied().chain([long_id.as_str()]) {
                        let target = path.replace(&format!("{{{name}}}"), bad);
                        let reply = api.send(&method, &target, Some(&token), &[], None);
                        // A route that needs a role refuses a caller without
                        // it before it reads anything else.
                        let expected: &[u16] = if operation["responses"]["403"].is_null() {
                            &[400, 404]
                        } else {
                            &[400, 403, 404]
                        };
                        assert_status(&format!("{method} {target}"), &reply, bad, expected);
                        checked += 1;
                    }
                }
                "query" => {
                    let bad_values: &[&str] = match name {
                        "limit" => &[
                            "0",
                            "-1",
                            "101",
                            "abc",
                            "1e2",
                            "99999999999999999999",
                            "",
                            "%00",
                        ],
                        // Any lower-case word is a category (of no product, maybe).
                        "category" => &["Garbage", "%00", "a%2Fb", "eyJpZCI6IngifQ", &long_id],
                        _ => &["garbage", "%00", "eyJpZCI6IngifQ", &long_id],
                    };
                    for bad in bad_values {
                        let target = format!("{path}?{name}={bad}");
                        let reply = api.send(&method, &target, Some(&token), &[], None);
                        assert_status(&format!("{method} {path}?{name}=…"), &reply, bad, &[400]);
                        checked += 1;
                    }
                }
                _ => {}
            }
        }
    }
    assert!(checked > 50, "only {checked} cases");
}
