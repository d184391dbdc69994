//! The runtime loop: every handler result, success or problem, becomes a response.

use std::future::Future;

use lambda_http::{Body, Request, Response, service_fn};

use super::Problem;

/// The error type a function's `main` returns when the runtime cannot start.
pub type LambdaError = lambda_http::Error;

/// Runs `handler` for every invocation until the runtime stops.
///
/// Every function runs it on a current-thread runtime: Lambda gives an
/// execution environment one request at a time, so more threads would only
/// add start-up time and memory (each thread's allocator arena would keep
/// its own copy of a password hash's 19 MiB; BENCHMARKS.md, section 5).
///
/// A handler returns `Result<Response, Problem>`; problems are rendered and
/// logged here, so no route can answer with anything but the error model of `shared/openapi.yaml`.
pub async fn serve<H, F>(handler: H) -> Result<(), LambdaError>
where
    H: Fn(Request) -> F,
    F: Future<Output = Result<Response<Body>, Problem>> + Send,
{
    lambda_http::run(service_fn(|request: Request| {
        let outcome = handler(request);
        async move { Ok::<_, LambdaError>(finish(outcome.await)) }
    }))
    .await
}

/// Turns a handler's outcome into the response sent, logging problems.
pub fn finish(outcome: Result<Response<Body>, Problem>) -> Response<Body> {
    match outcome {
        Ok(response) => response,
        Err(problem) => {
            let status = problem.status().as_u16();
            if problem.status().is_server_error() {
                tracing::error!(status, code = problem.code(), "request failed");
            } else {
                tracing::info!(status, code = problem.code(), "request refused");
            }
            problem.into_response()
        }
    }
}
