//! `GET /app/{file}`: the web client, served from the API's own origin.
//!
//! The refresh cookie is `SameSite=Strict` and `__Host-`: a page of another
//! site never gets it sent, so the page that uses it is served by the API
//! itself, from files compiled into this function (`shared/web/`). Each
//! answer carries a strong `ETag` (a digest of the file) and `Cache-Control:
//! no-cache`, so a browser revalidates (a 304, no body) and a deployment
//! reaches every open tab's next load; and a Content-Security-Policy that
//! admits scripts and styles of this origin only (no inline script) and
//! connections to this origin and the uploads bucket's only.

use aws_lc_rs::digest;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::aws::AwsClients;
use crate::config::{ConfigError, Environment};
use crate::http::Problem;
use crate::presign::bucket_url;
use crate::route::{Calls, Route};
use crate::startup::StartupError;

/// The client's files: name, content type, content.
const FILES: [(&str, &str, &str); 6] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../web/index.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../web/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/api.js"),
    ),
    (
        "session.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/session.js"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/live.js"),
    ),
];

/// One file as served.
struct File {
    name: &'static str,
    content_type: HeaderValue,
    body: &'static str,
    etag: HeaderValue,
}

/// `GET /app/{file}`.
pub struct WebClient {
    files: Vec<File>,
    policy: HeaderValue,
}

/// The Content-Security-Policy of every file: nothing but this origin's
/// scripts and styles, and connections to this origin and `bucket_origin`
/// (the presigned PUT goes straight to the bucket).
pub fn content_security_policy(bucket_origin: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self' {bucket_origin}; form-action 'none'; base-uri 'none'; \
         frame-ancestors 'none'"
    )
}

/// The scheme, host and port of `url`.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// `"<the first 16 bytes of the file's SHA-256, hex>"`.
fn strong_etag(body: &str) -> String {
    let digest = digest::digest(&digest::SHA256, body.as_bytes());
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(etag) = etag.to_str().ok() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

impl WebClient {
    /// The client for a bucket at `bucket_origin`.
    pub fn new(bucket_origin: &str) -> Result<Self, StartupError> {
        let invalid = |reason: &str| ConfigError::Invalid {
            name: "UPLOADS_BUCKET",
            reason: reason.to_string(),
        };
        let policy = HeaderValue::from_str(&content_security_policy(bucket_origin))
            .map_err(|_| invalid("the bucket's origin cannot be written in a header"))?;
        let files = FILES
            .iter()
            .map(|(name, content_type, body)| {
                Ok(File {
                    name,
                    content_type: HeaderValue::from_static(content_type),
                    body,
                    // Hex in quotes: always a valid header value.
                    etag: HeaderValue::from_str(&strong_etag(body))
                        .map_err(|_| invalid("a digest cannot be written in a header"))?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(Self { files, policy })
    }

    /// The answer to a request for `name`.
    fn answer(&self, name: &str, headers: &HeaderMap) -> Result<Response<Body>, Problem> {
        let file = self
            .files
            .iter()
            .find(|file| file.name == name)
            .ok_or_else(|| Problem::not_found("the web client has no such file"))?;
        let fresh = not_modified(headers, &file.etag);
        let mut response = Response::new(if fresh {
            Body::Empty
        } else {
            Body::Text(file.body.to_string())
        });
        if fresh {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
        }
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, file.content_type.clone());
        headers.insert(header::ETAG, file.etag.clone());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(header::CONTENT_SECURITY_POLICY, self.policy.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
        Ok(response)
    }
}

impl Route for WebClient {
    const CALLS: Calls = Calls::NONE;

    /// The files' digests, and the bucket's origin for the policy: where
    /// the uploads' presigned requests go (`shared::presign`).
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let bucket = env.require("UPLOADS_BUCKET")?;
        let region = aws.region().map(ToString::to_string).unwrap_or_default();
        let url = bucket_url(bucket, &region, env.get("AWS_ENDPOINT_URL_S3"));
        Self::new(origin_of(&url))
    }

    async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let name = request
            .path_parameters_ref()
            .and_then(|p| p.first("file"))
            .unwrap_or_default()
            .to_string();
        self.answer(&name, request.headers())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> WebClient {
        WebClient::new("https://b.s3.eu-west-1.amazonaws.com").unwrap()
    }

    #[test]
    fn every_file_is_served_with_its_type_digest_and_policy() {
        let client = client();
        for (name, content_type, body) in FILES {
            let response = client.answer(name, &HeaderMap::new()).unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[header::CONTENT_TYPE], content_type);
            assert_eq!(response.headers()[header::ETAG], strong_etag(body).as_str());
            let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            assert!(policy.contains("script-src 'self';"), "{policy}");
            assert!(
                policy.contains("connect-src 'self' https://b.s3.eu-west-1.amazonaws.com;"),
                "{policy}"
            );
            assert!(!policy.contains("unsafe"), "{policy}");
        }
    }

    #[test]
    fn a_known_digest_answers_304_without_a_body() {
        let client = client();
        let first = client.answer("app.js", &HeaderMap::new()).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, first.headers()[header::ETAG].clone());
        let again = client.answer("app.js", &headers).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(matches!(again.body(), Body::Empty));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(
            client.answer("app.js", &headers).unwrap().status(),
            StatusCode::OK
        );
    }

    #[test]
    fn no_other_name_is_served() {
        for name in ["", "../Cargo.toml", "index.htm", "app.js/", "APP.JS"] {
            let problem = client().answer(name, &HeaderMap::new()).unwrap_err();
            assert_eq!(problem.status(), StatusCode::NOT_FOUND, "{name}");
        }
    }

    #[test]
    fn no_page_runs_inline_script() {
        let page = FILES[0].2;
        for inline in ["<script>", "onclick=", "onload=", "javascript:", "style="] {
            assert!(!page.contains(inline), "index.html has {inline}");
        }
        assert_eq!(origin_of("http://127.0.0.1:5/bucket"), "http://127.0.0.1:5");
        assert_eq!(
            origin_of("https://b.s3.x.amazonaws.com"),
            "https://b.s3.x.amazonaws.com"
        );
    }
}
