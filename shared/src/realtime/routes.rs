//! The WebSocket API's routes, one function each: `$connect`,
//! `$disconnect`, `$default`, `subscribe`, `unsubscribe`, `publish`, `ping`.
//! A frame route answers with the frame API Gateway sends back (its route
//! response); every bad frame gets an error frame and the connection stays open.

use serde_json::value::RawValue;

use super::fanout;
use super::frames::{self, ErrorCode, PingFrame, PublishFrame, RoomFrame, ServerFrame, error_text};
use super::gateway::ManagementApi;
use super::socket::{Answer, SocketEvent, SocketRoute};
use super::store::{ConnectionStore, Refusal};
use crate::aws::{AwsClients, StoreError};
use crate::config::Environment;
use crate::ids::new_id;
use crate::ratelimit::{Policy, RateLimiter, WhenStoreFails};
use crate::route::Calls;
use crate::startup::StartupError;
use crate::time::Timestamp;

fn unavailable(error: &StoreError) -> Answer {
    tracing::error!(%error, "a store failed");
    Answer::frame(error_text(
        ErrorCode::Unavailable,
        "a store failed; try again",
    ))
}

fn not_connected() -> Answer {
    Answer::frame(error_text(
        ErrorCode::NotConnected,
        "this connection is not open for the service (its session ended); reconnect",
    ))
}

/// `$connect`: spends the ticket of the URL's query and records the
/// connection, or refuses the handshake (401, 429, 503).
pub struct Connect {
    store: ConnectionStore,
    limit: u32,
}

impl SocketRoute for Connect {
    const CALLS: Calls = Calls::new(
        3,
        "the ticket, the user's slots, one transaction: ticket spent, session checked, slot and connection written",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        env.require("SESSIONS_TABLE")?;
        Ok(Self {
            store: super::connection_store(env, aws)?,
            limit: env.parse_or(
                "MAX_CONNECTIONS_PER_USER",
                super::DEFAULT_MAX_CONNECTIONS_PER_USER,
            )?,
        })
    }

    async fn handle(&self, event: SocketEvent) -> Answer {
        let Some(ticket) = event.ticket.filter(|t| !t.is_empty() && t.len() <= 64) else {
            return Answer::refuse(401);
        };
        match self
            .store
            .connect(&ticket, &event.connection_id, self.limit, Timestamp::now())
            .await
        {
            Ok(connection) => {
                tracing::info!(user_id = %connection.user_id, connection_id = connection.id.as_str(), "connected");
                Answer::ok()
            }
            Err(Refusal::Unauthorized) => Answer::refuse(401),
            Err(Refusal::TooManyConnections) => Answer::refuse(429),
            Err(Refusal::Store(error)) => {
                tracing::error!(%error, "a store failed at $connect");
                Answer::refuse(503)
            }
        }
    }
}

/// `$disconnect`: removes the connection's records (best effort, as API
/// Gateway's own call is: the records expire, and a 410 removes them).
pub struct Disconnect {
    store: ConnectionStore,
}

impl SocketRoute for Disconnect {
    const CALLS: Calls = Calls::new(
        3,
        "the connection, one transaction of its record and memberships, its slot",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            store: super::connection_store(env, aws)?,
        })
    }

    async fn handle(&self, event: SocketEvent) -> Answer {
        match self.store.remove(&event.connection_id).await {
            Ok(_) => Answer::ok(),
            Err(error) => {
                tracing::error!(%error, "a store failed at $disconnect; the records expire by themselves");
                Answer::refuse(503)
            }
        }
    }
}

/// `$default`: a frame that names no route.
pub struct DefaultRoute;

impl SocketRoute for DefaultRoute {
    const CALLS: Calls = Calls::NONE;

    async fn build(_env: &Environment, _aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self)
    }

    async fn handle(&self, event: SocketEvent) -> Answer {
        let body = event.body.as_deref();
        let is_object = serde_json::from_str::<serde_json::Value>(body.unwrap_or_default())
            .is_ok_and(|value| value.is_object());
        Answer::frame(match frames::action(body) {
            Some(action) => error_text(
                ErrorCode::UnknownAction,
                format!(
                    "no action {:?}: subscribe, unsubscribe, publish or ping",
                    action.chars().take(64).collect::<String>()
                ),
            ),
            None if is_object => {
                error_text(ErrorCode::InvalidFrame, "the frame has no text `action`")
            }
            None => error_text(ErrorCode::InvalidFrame, "the frame is not a JSON object"),
        })
    }
}

/// `subscribe`.
pub struct Subscribe {
    store: ConnectionStore,
}

impl SocketRoute for Subscribe {
    const CALLS: Calls = Calls::new(
        1,
        "one transaction: the room on the connection, its membership",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            store: super::connection_store(env, aws)?,
        })
    }

    async fn handle(&self, event: SocketEvent) -> Answer {
        let frame: RoomFrame = match frames::parse(event.body.as_deref()) {
            Ok(frame) => frame,
            Err(error) => return Answer::frame(error),
        };
        match self
            .store
            .subscribe(&event.connection_id, &frame.room, Timestamp::now())
            .await
        {
            Ok(true) => Answer::frame(ServerFrame::Subscribed { room: &frame.room }.to_text()),
            // Unknown, or in 20 rooms already: which one needs a read, and
            // only the second is the client's to fix.
            Ok(false) => match self
                .store
                .connection(&event.connection_id, Timestamp::now())
                .await
            {
                Ok(Some(_)) => Answer::frame(error_text(
                    ErrorCode::TooManyRooms,
                    format!(
                        "a connection may be in {} rooms at most",
                        frames::MAX_ROOMS_PER_CONNECTION
                    ),
                )),
                Ok(None) => not_connected(),
                Err(error) => unavailable(&error),
            },
            Err(error) => unavailable(&error),
        }
    }
}

/// `unsubscribe`.
pub struct Unsubscribe {
    store: ConnectionStore,
}

impl SocketRoute for Unsubscribe {
    const CALLS: Calls = Calls::new(
        1,
        "one transaction: the room off the connection, its membership gone",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            store: super::connection_store(env, aws)?,
        })
    }

    async fn handle(&self, event: SocketEvent) -> Answer {
        let frame: RoomFrame = match frames::parse(event.body.as_deref()) {
            Ok(frame) => frame,
            Err(error) => return Answer::frame(error),
        };
        match self
            .store
            .unsubscribe(&event.connection_id, &frame.room, Timestamp::now())
            .await
        {
            Ok(true) => Answer::frame(ServerFrame::Unsubscribed { room: &frame.room }.to_text()),
            Ok(false) => not_connected(),
            Err(error) => unavailable(&error),
        }
    }
}

/// The default of `PUBLISHES_PER_USER_PER_MINUTE`.
pub const DEFAULT_PUBLISHES_PER_USER_PER_MINUTE: u32 = 120;

/// `publish`: the message to every connection subscribed to the room, on
/// any instance, each copy with the same `id`; `published` once every post
/// was answered.
pub struct Publish {
    store: ConnectionStore,
    gateway: ManagementApi,
    limiter: RateLimiter,
    policy: Policy,
}

impl SocketRoute for Publish {
    const CALLS: Calls = Calls::new(
        7,
        "the connection; the publish budget and the room's 4 shards at once; one post per member (here 1)",
    )
    .in_round_trips(3);

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            store: super::connection_store(env, aws)?,
            gateway: super::management_api(env, aws)?,
            limiter: RateLimiter::new(aws.dynamodb().clone(), env.require("RATE_LIMITS_TABLE")?),
            policy: Policy {
                name: "publish",
                limit: env.parse_or(
                    "PUBLISHES_PER_USER_PER_MINUTE",
                    DEFAULT_PUBLISHES_PER_USER_PER_MINUTE,
                )?,
                window_seconds: 60,
                when_store_fails: WhenStoreFails::Admit,
            },
        })
    }

    async fn handle(&self, event: SocketEvent) -> Answer {
        let frame: PublishFrame = match frames::parse(event.body.as_deref()) {
            Ok(frame) => frame,
            Err(error) => return Answer::frame(error),
        };
        let now = Timestamp::now();
        let connection = match self.store.connection(&event.connection_id, now).await {
            Ok(Some(connection)) => connection,
            Ok(None) => return not_connected(),
            Err(error) => return unavailable(&error),
        };
        if !connection
            .rooms
            .iter()
            .any(|room| room == frame.room.as_str())
        {
            return Answer::frame(error_text(
                ErrorCode::NotSubscribed,
                "publish only to a room this connection is subscribed to",
            ));
        }
        let (admitted, members) = tokio::join!(
            self.limiter.admit(&self.policy, &connection.user_id),
            self.store.members(&frame.room, now)
        );
        if admitted.is_err() {
            return Answer::frame(error_text(
                ErrorCode::RateLimited,
                format!("at most {} publishes a minute", self.policy.limit),
            ));
        }
        let members = match members {
            Ok(members) => members,
            Err(error) => return unavailable(&error),
        };
        let id = new_id();
        let data: &RawValue = &frame.data;
        let message = ServerFrame::Message {
            id: &id,
            room: &frame.room,
            from: &connection.user_id,
            data,
            sent_at: now.rfc3339(),
        }
        .to_text();
        let outcome = fanout::deliver(&self.gateway, &self.store, &members, &message).await;
        tracing::info!(room = frame.room.as_str(), message_id = %id, delivered = outcome.delivered, gone = outcome.gone, failed = outcome.failed, "published");
        Answer::frame(
            ServerFrame::Published {
                room: &frame.room,
                id: &id,
                recipients: outcome.delivered,
            }
            .to_text(),
        )
    }
}

/// `ping`.
pub struct Ping;

impl SocketRoute for Ping {
    const CALLS: Calls = Calls::NONE;

    async fn build(_env: &Environment, _aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self)
    }

    async fn handle(&self, event: SocketEvent) -> Answer {
        match frames::parse::<PingFrame>(event.body.as_deref()) {
            Ok(_) => Answer::frame(ServerFrame::Pong.to_text()),
            Err(error) => Answer::frame(error),
        }
    }
}
