//! End to end over HTTP against the local stack started by `cargo xtask test`:
//! the health check, and what is not a route.

use crate::helpers::Api;

#[test]
fn health_is_200_with_status_and_version() {
    let reply = Api::new().health();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["version"], shared::health::VERSION);
}

#[test]
fn routes_not_in_the_template_are_404() {
    let api = Api::new();
    // Requests no route takes: their shape is the subject.
    let reply = api.send("POST", "/health", None, &[], None);
    assert_eq!(reply.status, 404, "POST /health is not a route");
    let reply = api.send("GET", "/no-such-route", None, &[], None);
    assert_eq!(reply.status, 404);
}
