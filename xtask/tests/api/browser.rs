//! The web client in a real browser, and CORS as AWS answers it.
//!
//! The journey (`xtask/browser/journey.mjs`) drives Debian's Chromium with
//! playwright-core through the client the API serves (`/app/index.html`):
//! the refresh cookie's flags as the browser keeps them, reloads and tabs,
//! revoking another device, a 412 explained, an upload straight to S3 and
//! one refused, an export job to `succeeded` and its download, logout seen
//! by the other tab, and a page of another origin refused by CORS. Each
//! step leaves a screenshot in `target/browser-screenshots/`.
//!
//! The CORS tests send what a browser would (preflights, requests with an
//! `Origin`) to the stack's fronts and expect what API Gateway and S3 answer
//! with the template's configuration.

use std::process::Command;

use xtask::client::{Client, Reply};
use xtask::stack::{ALLOWED_TEST_ORIGIN, StackInfo};
use xtask::tools::{CHROMIUM, Tools};

const FOREIGN: &str = "https://evil.example";

fn stack() -> StackInfo {
    StackInfo::from_env().expect("the local stack")
}

fn send(base: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    Client::at(base)
        .try_send_bytes(method, path, None, headers, None)
        .unwrap_or_else(|error| panic!("{method} {base}{path}: {error}"))
}

fn cors_headers(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .keys()
        .map(|name| name.as_str().to_string())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

fn preflight(base: &str, path: &str, origin: &str, method: &str, headers: &str) -> Reply {
    send(
        base,
        "OPTIONS",
        path,
        &[
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", headers),
        ],
    )
}

#[test]
fn the_api_answers_preflights_itself_as_api_gateway_does() {
    let api = stack().api_url;
    // An admitted origin, method and headers: the configuration, 204, and
    // no function called (no route takes OPTIONS, nor this path at all).
    for path in ["/cart", "/no/such/route"] {
        let allowed = preflight(
            &api,
            path,
            ALLOWED_TEST_ORIGIN,
            "PUT",
            "authorization,if-match,content-type",
        );
        assert_eq!(allowed.status, 204, "{path}");
        assert_eq!(
            allowed.header("access-control-allow-origin"),
            Some(ALLOWED_TEST_ORIGIN)
        );
        assert_eq!(
            allowed.header("access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(
            allowed.header("access-control-allow-methods"),
            Some("DELETE,GET,POST,PUT")
        );
        let headers = allowed
            .header("access-control-allow-headers")
            .unwrap_or_default();
        for header in [
            "authorization",
            "content-type",
            "idempotency-key",
            "if-match",
            "prefer",
        ] {
            assert!(
                headers.split(',').any(|h| h == header),
                "{header} in {headers}"
            );
        }
        assert_eq!(allowed.header("access-control-max-age"), Some("600"));
    }
    // Another origin, a method no route takes, a header none takes: 204
    // and no CORS header at all, so the browser refuses.
    for refused in [
        preflight(&api, "/cart", FOREIGN, "PUT", "authorization"),
        preflight(&api, "/cart", ALLOWED_TEST_ORIGIN, "PATCH", "authorization"),
        preflight(&api, "/cart", ALLOWED_TEST_ORIGIN, "PUT", "x-not-taken"),
    ] {
        assert_eq!(refused.status, 204);
        assert!(cors_headers(&refused).is_empty(), "{:?}", refused.headers);
    }
}

#[test]
fn the_api_adds_cors_to_answers_for_an_admitted_origin_only() {
    let api = stack().api_url;
    let allowed = send(&api, "GET", "/health", &[("origin", ALLOWED_TEST_ORIGIN)]);
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(ALLOWED_TEST_ORIGIN)
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    let exposed = allowed
        .header("access-control-expose-headers")
        .unwrap_or_default();
    for header in [
        "etag",
        "location",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "idempotent-replayed",
    ] {
        assert!(
            exposed.split(',').any(|h| h == header),
            "{header} in {exposed}"
        );
    }
    // cargo lambda watch would reflect this origin with credentials: the
    // front drops that, as API Gateway ignores a function's CORS headers.
    let foreign = send(&api, "GET", "/health", &[("origin", FOREIGN)]);
    assert_eq!(foreign.status, 200);
    assert!(cors_headers(&foreign).is_empty(), "{:?}", foreign.headers);
    let none = send(&api, "GET", "/health", &[]);
    assert!(cors_headers(&none).is_empty(), "{:?}", none.headers);
}

#[test]
fn the_uploads_bucket_admits_the_web_clients_origin_only() {
    let stack = stack();
    let bucket = &stack.function_env["create-upload"]["UPLOADS_BUCKET"];
    let path = format!("/{bucket}/users/u/uploads/x");
    let headers = "content-type,if-none-match,x-amz-tagging";
    let allowed = preflight(&stack.s3_endpoint, &path, &stack.api_url, "PUT", headers);
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(stack.api_url.as_str())
    );
    assert_eq!(
        allowed.header("access-control-allow-headers"),
        Some("content-type, if-none-match, x-amz-tagging")
    );
    assert_eq!(
        allowed.header("access-control-expose-headers"),
        Some("etag")
    );
    for refused in [
        preflight(&stack.s3_endpoint, &path, FOREIGN, "PUT", headers),
        preflight(&stack.s3_endpoint, &path, &stack.api_url, "DELETE", headers),
        preflight(
            &stack.s3_endpoint,
            &path,
            &stack.api_url,
            "PUT",
            "authorization",
        ),
    ] {
        assert_eq!(refused.status, 403);
        assert!(cors_headers(&refused).is_empty(), "{:?}", refused.headers);
    }
}

#[test]
fn the_web_client_journey_passes_in_headless_chromium() {
    let stack = stack();
    let root = xtask::workspace_root();
    let tools = Tools::new(&root);
    let screenshots = root.join("target/browser-screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    let output = Command::new("node")
        .arg(root.join("xtask/browser/journey.mjs"))
        .env("API_URL", &stack.api_url)
        .env("S3_URL", &stack.s3_endpoint)
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", CHROMIUM)
        .env(
            "PLAYWRIGHT_CORE",
            tools
                .browser_node_dir()
                .join("node_modules/playwright-core"),
        )
        .output()
        .expect("node runs (cargo xtask test installs the browser tools)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser journey failed ({}); screenshots in {}\n{stdout}\n{stderr}",
        output.status,
        screenshots.display()
    );
    let shots = std::fs::read_dir(&screenshots)
        .map(Iterator::count)
        .unwrap_or(0);
    assert!(
        shots >= 12,
        "one screenshot per step, {shots} in {}\n{stdout}",
        screenshots.display()
    );
}
