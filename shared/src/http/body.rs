//! JSON request bodies: declared as JSON, at most 64 KiB, UTF-8, exactly the
//! fields the route takes (types opt in with `#[serde(deny_unknown_fields)]`),
//! and a `detail` that names the field without echoing what was sent.

use lambda_http::Request;
use lambda_http::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::Problem;

/// The largest request body any route accepts (`shared/openapi.yaml`: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest field name quoted back in a `detail`.
const MAX_QUOTED_NAME: usize = 64;

/// Parses the request body as the JSON type `T`.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, Problem> {
    require_json(request.headers())?;
    parse_json(request.body().as_ref())
}

fn require_json(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(Problem::unsupported_media_type());
    };
    let value = value
        .to_str()
        .map_err(|_| Problem::unsupported_media_type())?
        .to_ascii_lowercase();
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    let charset_ok = parts.all(|param| match param.split_once('=') {
        Some(("charset", charset)) => charset.trim_matches('"') == "utf-8",
        _ => true,
    });
    if is_json && charset_ok {
        Ok(())
    } else {
        Err(Problem::unsupported_media_type())
    }
}

/// Parses raw bytes as the JSON type `T` (the body checks without the headers).
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::payload_too_large(MAX_BODY_BYTES));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::invalid_body(
            "the request body is empty; send a JSON object",
        ));
    }
    if std::str::from_utf8(bytes).is_err() {
        return Err(Problem::invalid_body("the request body is not valid UTF-8"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| Problem::invalid_body(describe(&location(&e), e.inner())))?;
    deserializer
        .end()
        .map_err(|e| Problem::invalid_body(describe("", &e)))?;
    Ok(value)
}

/// Where in the document an error is, as `a.b[0].c` (empty: the whole body).
fn location(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let segments: Vec<String> = error.path().iter().map(ToString::to_string).collect();
    // The path of an unknown field ends in that field; name the object holding it.
    let keep = if error.inner().to_string().starts_with("unknown field ") {
        segments.len().saturating_sub(1)
    } else {
        segments.len()
    };
    let mut out = String::new();
    for segment in &segments[..keep] {
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

/// A `detail` for a JSON error that names where it is, never what was sent.
fn describe(path: &str, error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    if error.to_string().starts_with("recursion limit exceeded") {
        return "the request body is nested too deeply".into();
    }
    let position = format!("line {} column {}", error.line(), error.column());
    match error.classify() {
        Category::Syntax => format!("the request body is not valid JSON (at {position})"),
        Category::Eof => "the request body ends before the JSON value is complete".into(),
        Category::Io => "the request body could not be read".into(),
        Category::Data => {
            let reason = data_reason(&error.to_string());
            if path.is_empty() {
                format!("the request body {reason}")
            } else {
                format!("`{}` {reason}", quote(path))
            }
        }
    }
}

/// Rewrites serde's message so that the offending value is not repeated.
fn data_reason(message: &str) -> String {
    // serde_json appends " at line L column C"; the path already says where.
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    let expected = |rest: &str| {
        rest.split_once(", expected ")
            .map(|(_, expected)| expected.to_string())
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return match expected(rest) {
            Some(expected) => format!("has the wrong type: expected {expected}"),
            None => "has the wrong type".into(),
        };
    }
    if let Some(rest) = message
        .strip_prefix("invalid value: ")
        .or_else(|| message.strip_prefix("unknown variant "))
    {
        return match expected(rest) {
            Some(expected) => format!("has a value that is not allowed: expected {expected}"),
            None => "has a value that is not allowed".into(),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let name = rest
            .split_once(", expected")
            .map_or(rest, |(name, _)| name)
            .trim_matches('`');
        return format!("has an unknown field `{}`", quote(name));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("is missing the field {rest}");
    }
    if message.starts_with("number out of range") {
        return "has a number out of range".into();
    }
    // Messages of our own parse types (`Email::parse`, …) are written to be shown.
    message.to_string()
}

/// A client-chosen name, shortened so a detail never grows with the input.
fn quote(name: &str) -> String {
    if name.chars().count() <= MAX_QUOTED_NAME {
        name.to_string()
    } else {
        let short: String = name.chars().take(MAX_QUOTED_NAME).collect();
        format!("{short}…")
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::HeaderValue;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Login {
        email: String,
        password: String,
        remember: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Job {
        #[serde(rename = "type")]
        _kind: JobKind,
        _count: Option<u8>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum JobKind {
        Export,
    }

    fn problem<T: DeserializeOwned + std::fmt::Debug>(body: &[u8]) -> Problem {
        parse_json::<T>(body).unwrap_err()
    }

    #[test]
    fn accepts_exactly_the_fields() {
        let login: Login = parse_json(br#"{"email":"a@b.c","password":"p"}"#).unwrap();
        assert_eq!(login.email, "a@b.c");
        assert_eq!(login.remember, None);
    }

    #[test]
    fn refuses_an_unknown_field_by_name() {
        let p = problem::<Login>(br#"{"email":"a","password":"b","admin":true}"#);
        assert_eq!(p.status(), 400);
        assert_eq!(p.code(), "invalid_body");
        assert_eq!(p.detail(), "the request body has an unknown field `admin`");
    }

    #[test]
    fn names_a_missing_field() {
        let p = problem::<Login>(br#"{"email":"a"}"#);
        assert_eq!(
            p.detail(),
            "the request body is missing the field `password`"
        );
    }

    #[test]
    fn a_wrong_type_names_the_field_but_not_the_value() {
        let p = problem::<Login>(br#"{"email":"a","password":123456789}"#);
        assert_eq!(
            p.detail(),
            "`password` has the wrong type: expected a string"
        );
        assert!(!p.detail().contains("123456789"));
        let p = problem::<Login>(
            br#"{"email":"hunter2secret","password":"x","remember":"hunter2secret"}"#,
        );
        assert!(!p.detail().contains("hunter2secret"), "{}", p.detail());
    }

    #[test]
    fn an_unknown_variant_is_not_echoed() {
        let p = problem::<Job>(br#"{"_kind":"sneaky-value"}"#);
        assert!(!p.detail().contains("sneaky-value"), "{}", p.detail());
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        let p = problem::<Job>(br#"{"type":"export","_count":100000000000000000000000}"#);
        assert_eq!(p.status(), 400);
        assert!(p.detail().starts_with("`_count`"), "{}", p.detail());
    }

    #[test]
    fn syntax_errors_say_where() {
        let p = problem::<Login>(b"{\"email\": ");
        assert_eq!(p.code(), "invalid_body");
        let p = problem::<Login>(b"{\"email\" \"a\"}");
        assert!(p.detail().contains("not valid JSON"), "{}", p.detail());
        assert!(p.detail().contains("line 1"), "{}", p.detail());
    }

    #[test]
    fn trailing_content_is_refused() {
        let p = problem::<Login>(br#"{"email":"a","password":"b"} {}"#);
        assert_eq!(p.code(), "invalid_body");
    }

    #[test]
    fn empty_and_whitespace_bodies_are_refused() {
        assert!(problem::<Login>(b"").detail().contains("empty"));
        assert!(problem::<Login>(b"  \n").detail().contains("empty"));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let p = problem::<Login>(b"{\"email\":\"\xff\xfe\",\"password\":\"b\"}");
        assert_eq!(p.detail(), "the request body is not valid UTF-8");
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let p = problem::<serde_json::Value>(deep.as_bytes());
        assert_eq!(p.detail(), "the request body is nested too deeply");
    }

    #[test]
    fn the_size_limit_is_64_kib() {
        let at_limit = format!("\"{}\"", "a".repeat(MAX_BODY_BYTES - 2));
        assert!(parse_json::<String>(at_limit.as_bytes()).is_ok());
        let over = format!("\"{}\"", "a".repeat(MAX_BODY_BYTES - 1));
        let p = problem::<String>(over.as_bytes());
        assert_eq!(p.status(), 413);
        assert_eq!(p.code(), "payload_too_large");
    }

    #[test]
    fn long_unknown_field_names_are_shortened() {
        let name = "x".repeat(10_000);
        let body = format!(r#"{{"email":"a","password":"b","{name}":1}}"#);
        let p = problem::<Login>(body.as_bytes());
        assert!(p.detail().len() < 200, "{}", p.detail());
    }

    fn headers(content_type: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn json_media_types_are_accepted() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON; charset=\"UTF-8\"",
            "application/merge-patch+json",
        ] {
            assert!(require_json(&headers(Some(ok))).is_ok(), "{ok}");
        }
    }

    #[test]
    fn other_media_types_are_415() {
        for bad in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/json; charset=latin1"),
            Some("application/jsonx"),
        ] {
            let p = require_json(&headers(bad)).unwrap_err();
            assert_eq!(p.status(), 415, "{bad:?}");
            assert_eq!(p.code(), "unsupported_media_type");
        }
    }
}
