//! A route as a type: built once at cold start from the function's
//! environment and clients, then one `handle` per request.
//!
//! A route that needs a caller implements [`AuthenticatedRoute`] and is
//! served as [`Authenticated<R>`]: its `answer` receives the [`Caller`],
//! and the authentication around it (the token, its standing, the per-user
//! budget and the `RateLimit-*` headers) is written once, here, for every
//! such route.
//!
//! A route whose answer only reads ([`AuthenticatedRoute::READ_ONLY`])
//! answers alongside that check instead of after it: the token is verified
//! locally, then its standing, the per-user budget and the route's own reads
//! go out in one wave, and the answer is dropped unless the check passes.
//! One round trip, not two, for `GET /me`, `/cart`, `/jobs/{id}` and the
//! other reads.
//!
//! A function's `main` is then one line:
//! `shared::route::run::<Authenticated<Me>>().await`.

use std::future::Future;

use lambda_http::{Body, Request, Response};

use crate::accounts::auth::{AUTH_CALLS, AUTH_ROUND_TRIPS, Authenticator, Caller};
use crate::accounts::routes::authenticator;
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{LambdaError, Problem, serve};
use crate::startup::StartupError;

/// The AWS calls a route makes on its happy path, and in how many round
/// trips (waves of calls made at once, each waiting for the one before),
/// declared beside it and held by the call-budget test (`cargo xtask
/// test`): a route that starts calling more, or waiting longer, fails that
/// test until its budget says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    /// The route's own calls.
    pub count: usize,
    /// The route's own round trips.
    pub round_trips: usize,
    /// What they are, in order.
    pub what: &'static str,
    /// Whether the caller's check ([`AUTH_CALLS`] more) comes first, or
    /// goes out with the route's own first wave.
    pub check: CallerCheck,
}

/// Where the caller's check stands among a route's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerCheck {
    /// A public route: no check.
    None,
    /// A round trip of its own before the route's calls.
    Before,
    /// In the route's first wave (a route that only reads).
    Alongside,
}

impl Calls {
    /// `count` calls of the route's own, one after the other: `what` they are.
    pub const fn new(count: usize, what: &'static str) -> Self {
        Self {
            count,
            round_trips: count,
            what,
            check: CallerCheck::None,
        }
    }

    /// The same calls, made in `round_trips` waves (some of them at once).
    pub const fn in_round_trips(self, round_trips: usize) -> Self {
        Self {
            round_trips,
            ..self
        }
    }

    /// None at all.
    pub const NONE: Self = Self::new(0, "none");

    /// Whether the caller is checked.
    pub const fn authenticated(&self) -> bool {
        !matches!(self.check, CallerCheck::None)
    }

    /// Every call of one request, the caller's check included.
    pub const fn total(&self) -> usize {
        if self.authenticated() {
            self.count + AUTH_CALLS
        } else {
            self.count
        }
    }

    /// Every round trip of one request, the caller's check included.
    pub const fn total_round_trips(&self) -> usize {
        match self.check {
            CallerCheck::None => self.round_trips,
            CallerCheck::Before => self.round_trips + AUTH_ROUND_TRIPS,
            CallerCheck::Alongside if self.round_trips > AUTH_ROUND_TRIPS => self.round_trips,
            CallerCheck::Alongside => AUTH_ROUND_TRIPS,
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

    /// Opens, at cold start, the store connections its first request's
    /// first wave of calls will need ([`crate::aws::preconnect`]): none
    /// unless it says so.
    fn preconnect(&self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
}

/// A route that answers an authenticated caller only; served as
/// [`Authenticated<Self>`].
pub trait AuthenticatedRoute: Sized + Send + Sync {
    /// What it asks of AWS on its happy path once the caller is checked.
    const CALLS: Calls;

    /// Whether `answer` only reads (no write, no message, no side effect of
    /// any kind): it then runs alongside the caller's check, in the same
    /// wave, and what it answered is dropped unless the check passes. The
    /// call-budget test holds such a route to read operations.
    const READ_ONLY: bool = false;

    /// Builds it from the function's environment and clients (cold start).
    fn build(
        env: &Environment,
        aws: &AwsClients,
    ) -> impl Future<Output = Result<Self, StartupError>> + Send;

    /// Its answer to `caller`, whose token, session and budget are checked
    /// (or, for a [`READ_ONLY`](Self::READ_ONLY) route, being checked: the
    /// token is verified, and the answer counts only if the rest passes).
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
        check: if R::READ_ONLY {
            CallerCheck::Alongside
        } else {
            CallerCheck::Before
        },
        ..R::CALLS
    };

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        let (authenticator, route) = tokio::join!(authenticator(env, aws), R::build(env, aws));
        Ok(Self {
            authenticator: authenticator?,
            route: route?,
        })
    }

    /// The check's two calls at once, and a read-only route's read with them.
    async fn preconnect(&self) {
        let wave = if R::READ_ONLY {
            AUTH_CALLS + 1
        } else {
            AUTH_CALLS
        };
        self.authenticator.preconnect(wave).await;
    }

    async fn handle(&self, request: Request) -> Result<Response<Body>, Problem> {
        let answer = |caller| self.route.answer(caller, &request);
        if R::READ_ONLY {
            self.authenticator.alongside(&request, answer).await
        } else {
            self.authenticator.authenticated(&request, answer).await
        }
    }
}

/// Set to `off`, a function does not open its store connections at cold
/// start (to measure what that saves; `cargo xtask bench` does).
pub const PRECONNECT_VARIABLE: &str = "STORE_PRECONNECT";

/// A function's whole `main`: logging, route `R` built once and its store
/// connections opened (both at cold start), then served.
pub async fn run<R: Route>() -> Result<(), LambdaError> {
    crate::telemetry::init()?;
    let env = Environment::from_process();
    let route = R::build(&env, &AwsClients::from_env().await).await?;
    if env.get(PRECONNECT_VARIABLE) != Some("off") {
        route.preconnect().await;
    }
    serve(|request| route.handle(request)).await
}
