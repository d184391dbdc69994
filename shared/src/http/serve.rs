//! The runtime loop: every handler result, success or problem, becomes a response.

use std::future::Future;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use tracing::Instrument;

use super::Problem;
use crate::{correlation, metrics};

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
        let id = correlation_id(&request);
        let span = tracing::info_span!("request", correlation_id = %id);
        let outcome = handler(request);
        let property = id.clone();
        let answered = async move {
            metrics::property("correlation_id", property);
            finish(outcome.await)
        };
        let invocation = metrics::recorded(correlation::scoped(id, answered));
        async move { Ok::<_, LambdaError>(invocation.instrument(span).await) }
    }))
    .await
}

/// API Gateway's id of the request (what its `apigw-requestid` header
/// tells the client), or a new one when there is none.
fn correlation_id(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    }
    .unwrap_or_else(crate::ids::new_id)
}

/// Turns a handler's outcome into the response sent, logging problems and
/// counting the answer (`shared::metrics`).
pub fn finish(outcome: Result<Response<Body>, Problem>) -> Response<Body> {
    match outcome {
        Ok(response) => {
            metrics::answered(response.status().as_u16(), None);
            response
        }
        Err(problem) => {
            let status = problem.status().as_u16();
            metrics::answered(status, Some(problem.code()));
            if problem.status().is_server_error() {
                tracing::error!(status, code = problem.code(), "request failed");
            } else {
                tracing::info!(status, code = problem.code(), "request refused");
            }
            problem.into_response()
        }
    }
}
