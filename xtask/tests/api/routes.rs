//! End to end over HTTP against the local stack started by `cargo xtask test`.

use std::time::Duration;

use xtask::stack::StackInfo;

fn stack() -> StackInfo {
    StackInfo::from_env().expect("the local stack")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // The first call of a function starts its process.
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

#[test]
fn health_is_200_with_status_and_version() {
    let url = format!("{}/health", stack().api_url);
    let mut response = agent().get(&url).call().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], shared::health::VERSION);
}

#[test]
fn routes_not_in_the_template_are_404() {
    let base = stack().api_url;
    let response = agent()
        .post(&format!("{base}/health"))
        .send_empty()
        .unwrap();
    assert_eq!(response.status(), 404, "POST /health is not a route");
    let response = agent()
        .get(&format!("{base}/no-such-route"))
        .call()
        .unwrap();
    assert_eq!(response.status(), 404);
}
