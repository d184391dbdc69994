//! A route as a type: built once at cold start from the function's
//! environment and clients, then one `handle` per request.
//!
//! A route that needs a caller implements [`AuthenticatedRoute`] and is
//! served as [`Authenticated<R>`]: its `answer` receives the [`Caller`],
//! and the authentication around it (the token, its standing, the per-user
//! budget and the `RateLimit-*` headers) is written once, here, for every
//! such route.
//!
//! A function's `main` is then one line:
//! `shared::route::run::<Authenticated<Me>>().await`.

use std::future::Future;

use lambda_http::{Body, Request, Response};

use crate::accounts::auth::{AUTH_CALLS, Authenticator, Caller};
use crate::accounts::routes::authenticator;
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{LambdaError, Problem, serve};
use crate::startup::StartupError;

/// The AWS calls a route makes on its happy path, declared beside it and
/// held by the call-budget test (`cargo xtask test`): a route that starts
/// calling more fails that test until its budget says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    /// The route's own calls.
    pub count: usize,
    /// What they are, in order.
    pub what: &'static str,
    /// Whether the caller's check ([`AUTH_CALLS`] more) comes first.
    pub authenticated: bool,
}

impl Calls {
    /// `count` calls of the route's own: `what` they are.
    pub const fn new(count: usize, what: &'static str) -> Self {
        Self {
            count,
            what,
            authenticated: false,
        }
    }

    /// None at all.
    pub const NONE: Self = Self::new(0, "none");

    /// Every call of one request, the caller's check included.
    pub const fn total(&self) -> usize {
        if self.authenticated {
            self.count + AUTH_CALLS
        } else {
            self.count
        }
    }
}

/// A route of the HTTP API: one function's handler.
pub trait Route: Sized + Sync {
    /// What it asks of AWS on its happy path.
    const CALLS: Calls;

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

/// A route that answers an authenticated caller only; served as
/// [`Authenticated<Self>`].
pub trait AuthenticatedRoute: Sized + Send + Sync {
    /// What it asks of AWS on its happy path once the caller is checked.
    const CALLS: Calls;

    /// Builds it from the function's environment and clients (cold start).
    fn build(
        env: &Environment,
        aws: &AwsClients,
    ) -> impl Future<Output = Result<Self, StartupError>> + Send;

    /// Its answer to `caller`, whose token, session and budget are checked.
    fn answer(
        &self,
        caller: Caller,
        request: &Request,
    ) -> impl Future<Output = Result<Response<Body>, Problem>> + Send;
}

/// Route `R` behind the bearer check: 401, 429 or 503 before `R` runs when
/// the caller may not, the caller's `RateLimit-*` headers on what it answers.
pub struct Authenticated<R> {
    authenticator: Authenticator,
    route: R,
}

impl<R: AuthenticatedRoute> Route for Authenticated<R> {
    const CALLS: Calls = Calls {
        authenticated: true,
        ..R::CALLS
    };

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let (authenticator, route) = tokio::join!(authenticator(env, aws), R::build(env, aws));
        Ok(Self {
            authenticator: authenticator?,
            route: route?,
        })
    }

    async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        self.authenticator
            .authenticated(&request, |caller| self.route.answer(caller, &request))
            .await
    }
}

/// A function's whole `main`: logging, route `R` built once, then served.
pub async fn run<R: Route>() -> Result<(), LambdaError> {
    crate::telemetry::init()?;
    let route = R::build(&Environment::from_process(), &AwsClients::from_env().await).await?;
    serve(|request| route.handle(request)).await
}
