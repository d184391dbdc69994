//! Every function's handler, built by binary name exactly as its `main`
//! builds it, for calling in-process: the sample-event test feeds it
//! `events/`, and the AWS call budget counts what each route asks of the
//! stores. The registry is generated from the functions' `main`s
//! (`build.rs`, `function_mains.rs`): a new function needs nothing here.

use std::future::Future;
use std::pin::Pin;

use anyhow::Result;
use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};
use shared::aws::AwsClients;
use shared::config::Environment;
use shared::http::{Problem, finish};
use shared::realtime::socket::SocketRoute;
use shared::route::{Calls, Route};
use shared::sqs_batch::Consumer;

include!(concat!(env!("OUT_DIR"), "/registry.rs"));

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A route, whatever its type.
trait AnyRoute: Send + Sync {
    fn handle(&self, request: Request) -> Boxed<'_, Result<Response<Body>, Problem>>;
}

impl<R: Route + Send> AnyRoute for R {
    fn handle(&self, request: Request) -> Boxed<'_, Result<Response<Body>, Problem>> {
        Box::pin(Route::handle(self, request))
    }
}

/// A queue's consumer, whatever its type.
trait AnyConsumer: Send + Sync {
    fn handle(&self, event: SqsEvent) -> Boxed<'_, SqsBatchResponse>;
}

impl<C: Consumer + Send> AnyConsumer for C {
    fn handle(&self, event: SqsEvent) -> Boxed<'_, SqsBatchResponse> {
        Box::pin(Consumer::handle(
            self,
            event,
            lambda_runtime::Context::default(),
        ))
    }
}

/// A WebSocket route, whatever its type.
trait AnySocket: Send + Sync {
    fn handle(&self, event: ApiGatewayWebsocketProxyRequest) -> Boxed<'_, ApiGatewayProxyResponse>;
}

impl<W: SocketRoute + Send> AnySocket for W {
    fn handle(&self, event: ApiGatewayWebsocketProxyRequest) -> Boxed<'_, ApiGatewayProxyResponse> {
        Box::pin(shared::realtime::socket::answer(self, event))
    }
}

/// One function's handler.
pub struct Handler(Function);

enum Function {
    /// A route, and the AWS calls it declares for its happy path.
    Route(Box<dyn AnyRoute>, Calls),
    /// A queue's consumer.
    Consumer(Box<dyn AnyConsumer>),
    /// A WebSocket route, and the AWS calls it declares for its happy path.
    Socket(Box<dyn AnySocket>, Calls),
}

impl Handler {
    /// The handler of function `binary` with its environment and clients,
    /// as its cold start builds it; `None` for a binary not known here.
    pub async fn build(binary: &str, env: &Environment, aws: &AwsClients) -> Result<Option<Self>> {
        // Boxed, as is each arm: the routes' start-up futures nest deeper than
        // the compiler's layout limit when inlined into one state machine.
        Ok(Box::pin(build_handler(binary, env, aws)).await?)
    }

    async fn route<R: Route + Send + 'static>(
        env: &Environment,
        aws: &AwsClients,
    ) -> Result<Self, shared::startup::StartupError> {
        Ok(Self(Function::Route(
            Box::new(Box::pin(R::build(env, aws)).await?),
            R::CALLS,
        )))
    }

    async fn consumer<C: Consumer + Send + 'static>(
        env: &Environment,
        aws: &AwsClients,
    ) -> Result<Self, shared::startup::StartupError> {
        Ok(Self(Function::Consumer(Box::new(
            Box::pin(C::build(env, aws)).await?,
        ))))
    }

    async fn socket<W: SocketRoute + Send + 'static>(
        env: &Environment,
        aws: &AwsClients,
    ) -> Result<Self, shared::startup::StartupError> {
        Ok(Self(Function::Socket(
            Box::new(Box::pin(W::build(env, aws)).await?),
            W::CALLS,
        )))
    }

    /// Whether it serves a WebSocket route (`apigw-websocket` events).
    pub fn serves_a_socket(&self) -> bool {
        matches!(self.0, Function::Socket(..))
    }

    /// A WebSocket route's answer to `event`; `None` for any other function.
    pub async fn websocket(
        &self,
        event: ApiGatewayWebsocketProxyRequest,
    ) -> Option<ApiGatewayProxyResponse> {
        match &self.0 {
            Function::Socket(route, _) => Some(route.handle(event).await),
            _ => None,
        }
    }

    /// Whether it consumes a queue (`sqs`) rather than serving a route (`http`).
    pub fn consumes_a_queue(&self) -> bool {
        matches!(self.0, Function::Consumer(_))
    }

    /// The AWS calls a route declares for its happy path; `None` for a consumer.
    pub fn calls(&self) -> Option<Calls> {
        match &self.0 {
            Function::Route(_, calls) | Function::Socket(_, calls) => Some(*calls),
            Function::Consumer(_) => None,
        }
    }

    /// A route's answer to `request`, as the function would send it;
    /// `None` for a queue consumer.
    pub async fn http(&self, request: Request) -> Option<Response<Body>> {
        match &self.0 {
            Function::Route(route, _) => Some(finish(route.handle(request).await)),
            Function::Consumer(_) | Function::Socket(..) => None,
        }
    }

    /// A queue consumer's answer to a batch; `None` for a route.
    pub async fn sqs(&self, event: SqsEvent) -> Option<SqsBatchResponse> {
        match &self.0 {
            Function::Consumer(consumer) => Some(consumer.handle(event).await),
            Function::Route(..) | Function::Socket(..) => None,
        }
    }
}
