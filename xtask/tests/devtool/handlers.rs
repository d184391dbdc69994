//! Every sample event in `events/<function>/` goes through its function's
//! handler, called directly as Lambda would call it, with the handler built
//! from exactly the environment the template gives that function (so a
//! handler that needs a variable its function lacks fails here). A function
//! of the template without a handler in `xtask::handlers::Handler`
//! (`xtask/src/handlers.rs`) fails the test: add it there.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::{Body, Response};
use shared::http::json;
use xtask::checks;
use xtask::handlers::Handler;
use xtask::stack::StackInfo;
use xtask::template::Template;

/// Runs `event` through `binary`'s handler: an API Gateway HTTP API v2
/// event for a route, an SQS event (answered as JSON) for a queue consumer,
/// a WebSocket proxy event for a WebSocket route (its frame as the body).
async fn invoke_http(binary: &str, event: &str) -> Option<Response<Body>> {
    let stack = StackInfo::from_env().expect("the local stack");
    let env = stack.template_environment(binary);
    let aws = stack.aws_clients().await;
    let handler = Handler::build(binary, &env, &aws).await.unwrap()?;
    if handler.consumes_a_queue() {
        let event: SqsEvent = serde_json::from_str(event).expect("the event parses as SQS");
        let answer = handler.sqs(event).await?;
        assert!(
            answer.batch_item_failures.is_empty(),
            "{binary}: {:?}",
            answer.batch_item_failures
        );
        return Some(json(lambda_http::http::StatusCode::OK, &answer).unwrap());
    }
    if handler.serves_a_socket() {
        let event = serde_json::from_str(event).expect("the event parses as a WebSocket event");
        let answer = handler.websocket(event).await?;
        let status = lambda_http::http::StatusCode::from_u16(answer.status_code as u16).unwrap();
        // A frame route's answer is the frame sent back: JSON, or nothing.
        let frame: serde_json::Value = match &answer.body {
            Some(aws_lambda_events::encodings::Body::Text(text)) => {
                serde_json::from_str(text).expect("a frame is JSON")
            }
            _ => serde_json::Value::Null,
        };
        return Some(json(status, &frame).unwrap());
    }
    let request =
        lambda_http::request::from_str(event).expect("the event parses as API Gateway v2");
    handler.http(request).await
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
                        "{} of template.yaml has no function under functions/",
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
            // The web client's files are its only answers that are not JSON.
            let page = function.binary == "web-client";
            assert!(
                status == 204
                    || content_type.is_some_and(|t| t.contains("json"))
                    || (page && content_type.is_some_and(|t| t.starts_with("text/"))),
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

#[tokio::test]
async fn a_sample_bearer_token_is_refused_with_the_rfc_6750_challenge() {
    let event =
        std::fs::read_to_string(xtask::workspace_root().join("events/me/bearer.json")).unwrap();
    let response = invoke_http("me", &event).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body["code"], "invalid_token");
}

#[tokio::test]
async fn a_short_password_is_400_invalid_password() {
    let event = std::fs::read_to_string(
        xtask::workspace_root().join("events/register/short-password.json"),
    )
    .unwrap();
    let response = invoke_http("register", &event).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body["code"], "invalid_password");
}
