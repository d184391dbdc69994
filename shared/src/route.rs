//! A route as a type: built once at cold start from the function's
//! environment and clients, then one `handle` per request. A route that
//! needs a caller implements [`AuthenticatedRoute`] instead: its `answer`
//! receives the [`Caller`], and the authentication around it (the token,
//! its standing, the per-user budget and the `RateLimit-*` headers) is
//! written once, here, for every such route.
//!
//! A function's `main` is then one line: `shared::route::run::<Me>().await`.

use std::future::Future;

use lambda_http::{Body, Request, Response};

use crate::accounts::auth::{Authenticator, Caller};
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{LambdaError, Problem, serve};
use crate::startup::StartupError;

/// A route of the HTTP API: one function's handler.
pub trait Route: Sized + Sync {
    /// Builds it from the function's environment and clients (cold start).
    fn build(
        env: &Environment,
        aws: &AwsClients,
    ) -> impl Future<Output = Result<Self, StartupError>> + Send;

    /// Its answer to one request.
    fn handle(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response<Body>, Problem>> + Send;
}

/// A route that answers an authenticated caller only.
pub trait AuthenticatedRoute: Sized + Sync {
    /// Builds it from the function's environment and clients (cold start).
    fn build(
        env: &Environment,
        aws: &AwsClients,
    ) -> impl Future<Output = Result<Self, StartupError>> + Send;

    /// The authenticator it checks callers with.
    fn authenticator(&self) -> &Authenticator;

    /// Its answer to `caller`, whose token, session and budget are checked.
    fn answer(
        &self,
        caller: Caller,
        request: &Request,
    ) -> impl Future<Output = Result<Response<Body>, Problem>> + Send;
}

impl<R: AuthenticatedRoute> Route for R {
    fn build(
        env: &Environment,
        aws: &AwsClients,
    ) -> impl Future<Output = Result<Self, StartupError>> + Send {
        <R as AuthenticatedRoute>::build(env, aws)
    }

    async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        self.authenticator()
            .authenticated(&request, |caller| self.answer(caller, &request))
            .await
    }
}

/// A function's whole `main`: logging, route `R` built once, then served.
pub async fn run<R: Route>() -> Result<(), LambdaError> {
    crate::telemetry::init()?;
    let route = R::build(&Environment::from_process(), &AwsClients::from_env().await).await?;
    serve(|request| route.handle(request)).await
}
