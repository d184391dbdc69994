//! Every sample event in `events/<function>/` goes through its function's
//! handler, called directly as Lambda would call it. A function of the
//! template without a handler here fails the test: add it below.

// In tests a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lambda_http::{Body, Response};
use xtask::checks;
use xtask::template::Template;

/// Runs `event` (an API Gateway HTTP API v2 event) through `binary`'s handler.
async fn invoke_http(binary: &str, event: &str) -> Option<Response<Body>> {
    let request =
        lambda_http::request::from_str(event).expect("the event parses as API Gateway v2");
    Some(match binary {
        "health" => shared::http::finish(shared::health::handle(request).await),
        _ => return None,
    })
}

#[tokio::test]
async fn every_sample_event_runs_through_its_handler() {
    let root = xtask::workspace_root();
    let template = Template::load(&root.join("template.yaml")).unwrap();
    let mut ran = 0;
    for function in template.functions().unwrap() {
        let events = checks::event_files(&root, &function.binary).unwrap();
        assert!(
            !events.is_empty(),
            "{} has no sample event",
            function.binary
        );
        for path in events {
            let event = std::fs::read_to_string(&path).unwrap();
            let response = invoke_http(&function.binary, &event)
                .await
                .unwrap_or_else(|| {
                    panic!(
                        "no handler for {} in xtask/tests/handlers.rs",
                        function.binary
                    )
                });
            let status = response.status();
            assert!(
                !status.is_server_error(),
                "{}: {status} {:?}",
                path.display(),
                response.body()
            );
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or_default());
            assert!(
                status == 204 || content_type.is_some_and(|t| t.contains("json")),
                "{}: a response without a JSON body: {content_type:?}",
                path.display()
            );
            ran += 1;
        }
    }
    assert!(ran > 0);
}

#[tokio::test]
async fn health_answers_ok_with_the_version() {
    let event =
        std::fs::read_to_string(xtask::workspace_root().join("events/health/get.json")).unwrap();
    let response = invoke_http("health", &event).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "version": shared::health::VERSION})
    );
}
