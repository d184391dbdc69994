//! `GET /health`: the service's liveness answer. It touches no store, so it
//! stays up when a store is down and costs nothing to call.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, json};
use crate::route::{Calls, Route};
use crate::startup::StartupError;

/// The version reported by `/health`: the workspace's package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The body of a `/health` answer.
#[derive(Debug, Serialize)]
pub struct HealthStatus {
    /// Always `ok` when the function can answer at all.
    pub status: &'static str,
    /// The deployed version of the service.
    pub version: &'static str,
}

/// `GET /health`.
pub struct Health;

impl Route for Health {
    const CALLS: Calls = Calls::NONE;

    /// Needs nothing.
    async fn build(_env: &Environment, _aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self)
    }

    /// `ok` and the version, never cached.
    async fn handle(&self, _request: Request) -> Result<Response<Body>, Problem> {
        let mut response = json(
            StatusCode::OK,
            &HealthStatus {
                status: "ok",
                version: VERSION,
            },
        )?;
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        Ok(response)
    }
}
