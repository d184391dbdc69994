//! The service under AWS SAM CLI: `sam local start-api` serves the HTTP
//! API, `sam local start-lambda` the queue consumers (the SQS event sources
//! are played against it), `sam local invoke` each sample event, every
//! function in a container of a Docker engine (the machine's, or a private
//! `dockerd` the stack starts: `xtask::docker`), over emulators of the
//! test's own provisioned from `template.yaml`.
//!
//! The functions are the debug binaries `cargo xtask test` builds, laid
//! out exactly as `sam build` lays out its output (`<LogicalId>/bootstrap`
//! beside the built template, in `.tools/run/sam-test/.aws-sam/build`): a
//! release build of every function would add minutes. The user's own path,
//! `sam build` then `cargo xtask dev --sam`, is the same code with
//! `Build::SamBuild` (README, "AWS SAM").
//!
//! A test binary of its own, with one test: one SAM stack (engine,
//! containers, emulators) started once and stopped at its end, pass or
//! fail. Where no Docker engine can be had, the test fails and says why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::AssertUnwindSafe;
use std::path::Path;

use serde_json::Value;
use xtask::handlers::Handler;
use xtask::happy_path::HappyPath;
use xtask::prove::journey;
use xtask::sam_local::{self, Build};
use xtask::stack::{Stack, StackInfo, StackOptions};
use xtask::template::Template;

/// What one sample event came to: an HTTP status and problem code (a
/// WebSocket route's: its status and its frame's error code), or a queue
/// consumer's reported failures.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Http { status: u16, code: Option<String> },
    Batch { failures: usize },
}

fn answer_of_response(response: &Value) -> Option<Answer> {
    if let Some(failures) = response.get("batchItemFailures") {
        return Some(Answer::Batch {
            failures: failures.as_array().map_or(usize::MAX, Vec::len),
        });
    }
    let status = u16::try_from(response.get("statusCode")?.as_u64()?).ok()?;
    let body: Value = response
        .get("body")
        .and_then(Value::as_str)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    Some(Answer::Http {
        status,
        code: body["code"].as_str().map(String::from),
    })
}

/// The event through the function's handler in this process, built from
/// the template's environment of that function on this stack.
async fn through_the_handler(info: &StackInfo, binary: &str, event: &Value) -> Answer {
    let env = info.template_environment(binary);
    let aws = info.aws_clients().await;
    let handler = Handler::build(binary, &env, &aws).await.unwrap().unwrap();
    if handler.consumes_a_queue() {
        let event = serde_json::from_value(event.clone()).unwrap();
        let answer = handler.sqs(event).await.unwrap();
        return Answer::Batch {
            failures: answer.batch_item_failures.len(),
        };
    }
    if handler.serves_a_socket() {
        let event = serde_json::from_value(event.clone()).unwrap();
        let response = handler.websocket(event).await.unwrap();
        return answer_of_response(&serde_json::to_value(response).unwrap()).unwrap();
    }
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = handler.http(request).await.unwrap();
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
    Answer::Http {
        status: response.status().as_u16(),
        code: body["code"].as_str().map(String::from),
    }
}

/// The event through `sam local invoke` on the stack; its answer, or what went wrong.
fn through_sam_invoke(info: &StackInfo, logical_id: &str, file: &Path) -> Result<Answer, String> {
    let sam = info.sam.as_ref().expect("a SAM stack");
    let output = sam_local::invoke_command(&xtask::workspace_root(), sam, logical_id, file)
        .unwrap()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    sam_local::invoke_answer(&stdout)
        .and_then(|response| answer_of_response(&response))
        .ok_or_else(|| format!("no answer ({}):\n{stdout}\n{stderr}", output.status))
}

/// Every sample event of every function, made live, through `sam local
/// invoke` and through its handler here: the same answer; a bearer event
/// on its happy path answers 2xx (it reached its stores).
fn every_sample_event(runtime: &tokio::runtime::Runtime, info: &StackInfo) -> Vec<String> {
    let root = xtask::workspace_root();
    let template = Template::load(&root.join("template.yaml")).unwrap();
    let happy = HappyPath::new(&info.api_url, Some(info)).unwrap();
    let dir = info.logs_dir.join("events");
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = Vec::new();
    for function in template.functions().unwrap() {
        let files = xtask::checks::event_files(&root, &function.binary).unwrap();
        assert!(!files.is_empty(), "{} has no sample event", function.binary);
        for path in files {
            let here = xtask::happy_path::live_event(&happy, &function.binary, &path).unwrap();
            let expected = runtime.block_on(through_the_handler(info, &function.binary, &here));
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let file = dir.join(format!("{}-{name}", function.binary));
            let there = xtask::happy_path::live_event(&happy, &function.binary, &path).unwrap();
            std::fs::write(&file, there.to_string()).unwrap();
            let bearer = here["headers"]["authorization"].is_string();
            cases.push((
                function.logical_id.clone(),
                function.binary.clone(),
                path,
                file,
                expected,
                bearer,
            ));
        }
    }
    // A few invocations at a time: each is a SAM process and a container.
    let mut problems = Vec::new();
    for chunk in cases.chunks(4) {
        // A WebSocket ticket lives 30 seconds: made again just before its invocation.
        for (_, binary, path, file, _, _) in chunk {
            if binary == "realtime-connect" {
                let there = xtask::happy_path::live_event(&happy, binary, path).unwrap();
                std::fs::write(file, there.to_string()).unwrap();
            }
        }
        let answers: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(id, _, _, file, _, _)| {
                    scope.spawn(move || through_sam_invoke(info, id, file))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for ((_, _, path, _, expected, bearer), answer) in chunk.iter().zip(answers) {
            let shown = path.strip_prefix(&root).unwrap_or(path).display();
            match answer {
                Err(error) => problems.push(format!("{shown}: {error}")),
                Ok(answer) if &answer != expected => problems.push(format!(
                    "{shown}: sam local invoke answered {answer:?}, its handler {expected:?}"
                )),
                Ok(Answer::Http { status, .. }) if *bearer && !(200..300).contains(&status) => {
                    problems.push(format!("{shown}: {status} with a live token"))
                }
                Ok(_) => {}
            }
        }
    }
    assert!(!cases.is_empty());
    problems
}

#[test]
fn the_journey_and_every_sample_event_run_under_sam_local() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let root = xtask::workspace_root();
    // SAM gives every request the source IP 127.0.0.1, as cargo-lambda does:
    // the test stack's lifted per-IP limits fit it too.
    let options = StackOptions {
        sam: Some(Build::DebugBinaries),
        ..StackOptions::for_tests("sam-test").unwrap()
    };
    let stack = runtime
        .block_on(Stack::start(&root, &options))
        .unwrap_or_else(|error| panic!("the SAM stack did not start: {error:#}"));
    let info = stack.info.clone();
    // Both parts run whatever the other gives; the stack stops before the verdict.
    let journey =
        std::panic::catch_unwind(AssertUnwindSafe(|| journey::on_one_instance(&info).check()));
    let events = std::panic::catch_unwind(AssertUnwindSafe(|| every_sample_event(&runtime, &info)));
    runtime.block_on(stack.stop());
    let mut problems = Vec::new();
    match journey {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => problems.push(format!(
            "the journey under sam local start-api differs from cargo lambda watch's: {error:#}"
        )),
        Err(_) => problems.push("the journey panicked".to_string()),
    }
    match events {
        Ok(found) => problems.extend(found),
        Err(_) => problems.push("the sample events panicked".to_string()),
    }
    assert!(
        problems.is_empty(),
        "{}\n(logs in {})",
        problems.join("\n"),
        info.logs_dir.display()
    );
}
