//! `POST /realtime/tickets`: a single-use ticket to open a WebSocket
//! connection with, so that no token ever travels in a URL (where access
//! logs and proxies keep it). A credential of the caller's session, so
//! here among the account routes; the WebSocket API is `crate::realtime`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::accounts::auth::Caller;
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, json, no_store};
use crate::realtime::store::ConnectionStore;
use crate::route::{AuthenticatedRoute, Calls};
use crate::startup::StartupError;
use crate::time::Timestamp;

/// `POST /realtime/tickets`.
pub struct CreateTicket {
    store: ConnectionStore,
    /// The WebSocket API's URL (`REALTIME_URL`).
    url: String,
}

#[derive(Serialize)]
struct TicketBody {
    ticket: String,
    url: String,
    expires_at: String,
}

impl AuthenticatedRoute for CreateTicket {
    const CALLS: Calls = Calls::new(1, "the ticket's conditional put");

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            store: crate::realtime::connection_store(env, aws)?,
            url: env.require("REALTIME_URL")?.to_string(),
        })
    }

    /// A ticket for the caller's user and session, valid 30 seconds, once.
    async fn answer(&self, caller: Caller, _request: &Request) -> Result<Response<Body>, Problem> {
        let ticket = self
            .store
            .issue_ticket(caller.user_id(), caller.session_id(), Timestamp::now())
            .await?;
        // The ticket is base64url: nothing in it needs escaping in a query.
        let body = TicketBody {
            url: format!("{}?ticket={}", self.url, ticket.secret),
            ticket: ticket.secret,
            expires_at: ticket.expires_at.rfc3339(),
        };
        Ok(no_store(json(StatusCode::CREATED, &body)?))
    }
}
