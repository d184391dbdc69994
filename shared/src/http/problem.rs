//! The error model of `shared/openapi.yaml`: every failure leaves as an RFC 9457
//! `application/problem+json` document with a stable `code`.

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderName, HeaderValue};
use lambda_http::{Body, Response};
use serde::Serialize;

use super::codes::ProblemCode;

/// The media type of every error response.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The namespace of problem `type` URIs; the `code` follows it.
const TYPE_PREFIX: &str = "urn:stateless-lambda:problem:";

/// A failure a client can act on, rendered as problem+json.
///
/// `code` is the stable, snake_case value clients branch on; `detail` is for
/// people and never carries a password, token, key or stack trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    code: ProblemCode,
    title: &'static str,
    detail: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Serialize)]
struct ProblemDocument<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
}

impl Problem {
    /// A problem with the given status, stable code, short title and detail.
    pub fn new(
        status: StatusCode,
        code: ProblemCode,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    /// 400 `invalid_body`: the body is not the JSON this route takes.
    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::InvalidBody,
            "The request body is invalid",
            detail,
        )
    }

    /// 413 `payload_too_large`: the body is over the limit.
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::PayloadTooLarge,
            "The request body is too large",
            format!("the request body must be at most {limit_bytes} bytes"),
        )
    }

    /// 415 `unsupported_media_type`: the body is not declared as JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemCode::UnsupportedMediaType,
            "The request body must be JSON",
            "send the body with Content-Type: application/json (UTF-8)",
        )
    }

    /// 404 `not_found`: nothing the caller may see is there.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "Not found",
            detail,
        )
    }

    /// 503 `service_unavailable` with `Retry-After`: a store or queue failed or throttled.
    pub fn service_unavailable(retry_after_seconds: u32) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ProblemCode::ServiceUnavailable,
            "The service is temporarily unavailable",
            "a backing store did not answer; nothing was changed, retry later",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds))
    }

    /// 500 `internal_error`: a bug; the cause goes to the log, never to the client.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ProblemCode::InternalError,
            "Internal error",
            "an unexpected error occurred; it has been logged",
        )
    }

    /// Adds a response header (for example `WWW-Authenticate` or `Retry-After`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }

    /// Whether it is a problem of `code`.
    pub fn is(&self, code: ProblemCode) -> bool {
        self.code == code
    }

    /// The human-readable explanation.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Renders the problem as a problem+json response.
    pub fn into_response(self) -> Response<Body> {
        let document = ProblemDocument {
            kind: format!("{TYPE_PREFIX}{}", self.code.as_str()),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code.as_str(),
        };
        // A struct of strings and an integer always serialises; the fallback
        // keeps this path free of panics all the same.
        let body = serde_json::to_string(&document).unwrap_or_else(|_| {
            format!(
                r#"{{"type":"{TYPE_PREFIX}internal_error","title":"Internal error","status":500,"code":"internal_error"}}"#
            )
        });
        let mut response = Response::new(Body::Text(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn renders_rfc_9457_with_a_stable_code() {
        let response = Problem::invalid_body("`email` is missing").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            PROBLEM_CONTENT_TYPE
        );
        let body = body_json(&response);
        assert_eq!(body["type"], "urn:stateless-lambda:problem:invalid_body");
        assert_eq!(body["status"], 400);
        assert_eq!(body["code"], "invalid_body");
        assert_eq!(body["detail"], "`email` is missing");
        assert!(body["title"].is_string());
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let response = Problem::service_unavailable(2).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(body_json(&response)["code"], "service_unavailable");
    }

    #[test]
    fn extra_headers_are_kept() {
        let response = Problem::new(
            StatusCode::UNAUTHORIZED,
            ProblemCode::InvalidToken,
            "Unauthorized",
            "x",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        )
        .into_response();
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
    }
}
