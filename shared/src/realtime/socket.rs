//! A WebSocket route as a type, like an HTTP route: built once at cold
//! start, then one `handle` per event of API Gateway's WebSocket proxy
//! integration (`$connect`, a frame, `$disconnect`). A function's `main` is
//! one line: `shared::realtime::socket::run::<Publish>().await`.
//!
//! The answer's body, for a route with a route response (every frame
//! route), is the frame API Gateway sends back on the connection; a
//! non-2xx answer to `$connect` refuses the handshake with that status.

use std::future::Future;

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{LambdaEvent, service_fn};

use super::store::ConnectionId;
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::metrics;
use crate::route::Calls;
use crate::startup::StartupError;

/// One route of the WebSocket API.
pub trait SocketRoute: Sized + Sync {
    /// What it asks of AWS on its happy path.
    const CALLS: Calls;

    /// Builds it from the function's environment and clients (cold start).
    fn build(
        env: &Environment,
        aws: &AwsClients,
    ) -> impl Future<Output = Result<Self, StartupError>> + Send;

    /// Its answer to one event.
    fn handle(&self, event: SocketEvent) -> impl Future<Output = Answer> + Send;
}

/// One event of API Gateway's WebSocket proxy integration.
#[derive(Debug, Clone)]
pub struct SocketEvent {
    /// The connection it is about.
    pub connection_id: ConnectionId,
    /// The frame's text (absent for `$connect` and `$disconnect`).
    pub body: Option<String>,
    /// The `ticket` of the connect URL's query.
    pub ticket: Option<String>,
}

impl SocketEvent {
    /// From API Gateway's event; `None` without a connection id.
    pub fn from_request(request: &ApiGatewayWebsocketProxyRequest) -> Option<Self> {
        Some(Self {
            connection_id: ConnectionId::new(request.request_context.connection_id.clone()?),
            body: request.body.clone(),
            ticket: request
                .query_string_parameters
                .first("ticket")
                .map(String::from),
        })
    }
}

/// A route's answer: a status and, for a frame route, the frame to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// 200, or the status a `$connect` refusal gives the handshake.
    pub status: u16,
    /// The frame sent back on the connection (a route response).
    pub frame: Option<String>,
}

impl Answer {
    /// 200, nothing sent back.
    pub fn ok() -> Self {
        Self {
            status: 200,
            frame: None,
        }
    }

    /// 200, and `text` sent back on the connection.
    pub fn frame(text: String) -> Self {
        Self {
            status: 200,
            frame: Some(text),
        }
    }

    /// A refusal with `status`.
    pub fn refuse(status: u16) -> Self {
        Self {
            status,
            frame: None,
        }
    }

    /// As the Lambda proxy integration's response.
    pub fn into_response(self) -> ApiGatewayProxyResponse {
        let mut response = ApiGatewayProxyResponse::default();
        response.status_code = i64::from(self.status);
        response.body = self.frame.map(Body::Text);
        response
    }
}

/// The answer of `route` to a raw event (a malformed one gets 400).
pub async fn answer<R: SocketRoute>(
    route: &R,
    request: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let answer = match SocketEvent::from_request(&request) {
        Some(event) => route.handle(event).await,
        None => Answer::refuse(400),
    };
    metrics::property("status", answer.status);
    answer.into_response()
}

/// A WebSocket route function's whole `main`: logging, route `R` built
/// once, then every event until the runtime stops.
pub async fn run<R: SocketRoute>() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init()?;
    crate::startup::seed_random();
    let route = R::build(&Environment::from_process(), &AwsClients::from_env().await).await?;
    let route = &route;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            // Boxed: the routes' futures nest deep.
            let answer = metrics::recorded(Box::pin(answer(route, event.payload))).await;
            Ok::<_, lambda_runtime::Error>(answer)
        },
    ))
    .await
}
