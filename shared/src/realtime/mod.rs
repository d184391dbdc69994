//! Realtime push over an API Gateway WebSocket API.
//!
//! API Gateway holds the connections; a function reaches a client by
//! posting to its connection through the Management API
//! ([`gateway::ManagementApi`]), so any instance reaches any client and
//! nothing about a connection lives in a process. What the service knows
//! of its connections lives in one DynamoDB table ([`store::ConnectionStore`]):
//! the single-use tickets, the connections, each user's connection slots
//! and the rooms' members.
//!
//! Each WebSocket route is a function of its own ([`socket::SocketRoute`],
//! served by [`socket::run`]); `POST /realtime/tickets` is an account
//! route (`crate::accounts::routes::CreateTicket`): this module imports
//! nothing of `accounts`, which closes a session's sockets through it.

pub mod fanout;
pub mod frames;
pub mod gateway;
pub mod routes;
pub mod socket;
pub mod store;

use crate::aws::AwsClients;
use crate::config::{ConfigError, Environment};

pub use frames::{ErrorCode, Room};

/// How long a ticket may wait for its `$connect` (seconds).
pub const TICKET_TTL_SECONDS: u64 = 30;

/// API Gateway's longest connection (2 hours): a connection's records
/// expire then at the latest, whether or not `$disconnect` came.
pub const CONNECTION_TTL_SECONDS: u64 = 2 * 3600;

/// The default of `MAX_CONNECTIONS_PER_USER`.
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: u32 = 10;

/// The connections table of `CONNECTIONS_TABLE`, checking sessions in
/// `SESSIONS_TABLE` (only `$connect` checks one, and only it needs the variable).
pub fn connection_store(
    env: &Environment,
    aws: &AwsClients,
) -> Result<store::ConnectionStore, ConfigError> {
    Ok(store::ConnectionStore::new(
        aws.dynamodb().clone(),
        env.require("CONNECTIONS_TABLE")?,
        env.get("SESSIONS_TABLE").unwrap_or_default(),
    ))
}

/// The Management API of the WebSocket API at `REALTIME_MANAGEMENT_ENDPOINT`.
pub fn management_api(
    env: &Environment,
    aws: &AwsClients,
) -> Result<gateway::ManagementApi, ConfigError> {
    let endpoint = env.require("REALTIME_MANAGEMENT_ENDPOINT")?;
    Ok(gateway::ManagementApi::new(aws.management(endpoint)))
}

/// Closes the WebSocket connections of sessions that ended: what logout,
/// logout-all and session revoke do once the sessions are gone (so a
/// `$connect` racing them either fails its session check or is found here).
pub struct SessionSockets {
    store: store::ConnectionStore,
    gateway: gateway::ManagementApi,
}

impl SessionSockets {
    /// From `CONNECTIONS_TABLE` and `REALTIME_MANAGEMENT_ENDPOINT`.
    pub fn from_env(env: &Environment, aws: &AwsClients) -> Result<Self, ConfigError> {
        Ok(Self {
            store: connection_store(env, aws)?,
            gateway: management_api(env, aws)?,
        })
    }

    /// Closes every open connection of `user_id` opened under one of
    /// `sessions` (every session's when `None`). The sessions have ended
    /// already: a failure here is logged, and the connections' own records
    /// go with them (2 hours at most).
    pub async fn close(
        &self,
        user_id: &crate::ids::UserId,
        sessions: Option<&[crate::ids::SessionId]>,
    ) {
        let now = crate::time::Timestamp::now();
        let closed = match self.store.connections_of(user_id, sessions, now).await {
            Ok(ids) => fanout::close_all(&self.gateway, &self.store, &ids)
                .await
                .map(|()| ids.len()),
            Err(error) => Err(error),
        };
        match closed {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "closed the ended sessions' connections"),
            Err(error) => tracing::error!(%error, "closing the ended sessions' connections failed"),
        }
    }
}
