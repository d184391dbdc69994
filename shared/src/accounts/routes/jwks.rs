//! `GET /.well-known/jwks.json`.

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};

use super::startup::StartupError;
use crate::accounts::keystore::VerifyingKeys;
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, json};
use crate::route::{Calls, Route};

/// `GET /.well-known/jwks.json`.
pub struct Jwks {
    keys: VerifyingKeys,
}

impl Route for Jwks {
    const CALLS: Calls = Calls::new(
        0,
        "none: the published keys are read at cold start and held for their max-age",
    );

    /// Built from `TOKEN_KEYS_TABLE`: the published keys.
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            keys: VerifyingKeys::load(env, aws).await?,
        })
    }

    /// The published keys (previous, current and next), cacheable for five minutes.
    async fn handle(&self, _request: Request) -> Result<Response<Body>, Problem> {
        let keys = self.keys.current().await.map_err(|error| {
            tracing::error!(%error, "the published keys could not be read");
            Problem::service_unavailable(1)
        })?;
        let mut response = json(StatusCode::OK, keys.jwks())?;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        Ok(response)
    }
}
