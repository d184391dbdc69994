//! The connections table (`pk`, `sk`; TTL `expires_at`), one module of
//! DynamoDB calls for everything the service knows of its WebSocket
//! connections:
//!
//! | item | `pk` | `sk` | holds |
//! |---|---|---|---|
//! | a ticket | `ticket#<SHA-256 of the ticket>` | `ticket` | user, session; 30 s |
//! | a connection | `conn#<connection id>` | `conn` | user, session, slot, rooms |
//! | a user's slot | `user#<user id>` | `slot#<n>` | connection, session |
//! | a room's member | `room#<room>#<shard>` | `<connection id>` | user |
//!
//! A user has `limit` slots: `$connect` takes a free one with a conditional
//! put, so two racing connects cannot both take the last one. A user's
//! slots are one partition read strongly (logout finds every connection of
//! a session it just ended). A room's members are spread over
//! [`ROOM_SHARDS`] partitions by connection id, so a big room is not one
//! hot key. Every item expires with its connection (2 hours at most), and
//! every read treats a past `expires_at` as absent.

use std::collections::HashMap;

use aws_lc_rs::digest::{SHA256, digest};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

mod connect;
mod rooms;
use crate::aws::{Item, StoreError, conditional, number, s, text, timestamp};
use crate::ids::{SessionId, UserId};
use crate::time::Timestamp;

/// The partitions a room's members are spread over. Fixed: a member is
/// found under the shard its connection id hashes to.
pub const ROOM_SHARDS: u32 = 4;

/// A WebSocket connection, as API Gateway names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(String);

impl ConnectionId {
    /// The id API Gateway gave (`requestContext.connectionId`).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// As text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shard of a room this connection's membership lives in.
    fn shard(&self) -> u32 {
        let hash = digest(&SHA256, self.0.as_bytes());
        u32::from(hash.as_ref()[0]) % ROOM_SHARDS
    }
}

/// An open connection the service accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// API Gateway's id.
    pub id: ConnectionId,
    /// Whose it is.
    pub user_id: UserId,
    /// The session it was opened under.
    pub session_id: SessionId,
    /// The user's slot it holds.
    pub slot: u32,
    /// The rooms it is subscribed to.
    pub rooms: Vec<String>,
}

/// A ticket handed out: the secret goes to the client, only its digest is stored.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// Single use (256 random bits, base64url).
    pub secret: String,
    /// 30 seconds after issue.
    pub expires_at: Timestamp,
}

/// Why `$connect` refuses a connection.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Missing, unknown, spent or expired ticket, or its session ended (401).
    #[error("the ticket is not valid, or its session has ended")]
    Unauthorized,
    /// The user has `limit` connections open (429).
    #[error("the user has the most connections allowed open")]
    TooManyConnections,
    /// A store failed (503).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What ending a connection's records found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// Its records are gone.
    Removed,
    /// There were none (already removed, or never accepted).
    Absent,
}

/// The connections table.
#[derive(Debug, Clone)]
pub struct ConnectionStore {
    client: Client,
    table: String,
    sessions_table: String,
}

fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        ("pk".to_string(), s(&pk)),
        ("sk".to_string(), s(&sk.into())),
    ])
}

fn ticket_key(secret: &str) -> Item {
    let hash = URL_SAFE_NO_PAD.encode(digest(&SHA256, secret.as_bytes()));
    key(format!("ticket#{hash}"), "ticket")
}

fn connection_key(id: &ConnectionId) -> Item {
    key(format!("conn#{}", id.as_str()), "conn")
}

fn slot_key(user_id: &UserId, slot: u32) -> Item {
    key(
        format!("user#{}", user_id.as_str()),
        format!("slot#{slot:02}"),
    )
}

fn member_key(room: &str, shard: u32, id: &ConnectionId) -> Item {
    key(format!("room#{room}#{shard}"), id.as_str())
}

fn live(item: &Item, now: Timestamp) -> bool {
    timestamp(item, "expires_at").is_some_and(|at| !at.has_passed(now))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::corrupt(
        "DynamoDB.connections",
        format!("a {what} item lacks a required attribute"),
    )
}

fn sdk_build<T, E: std::fmt::Display>(built: Result<T, E>) -> Result<T, StoreError> {
    built.map_err(|e| StoreError::corrupt("DynamoDB.TransactWriteItems", e.to_string()))
}

impl ConnectionStore {
    /// The store over `table`, checking sessions in `sessions_table`.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        sessions_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            sessions_table: sessions_table.into(),
        }
    }

    /// The live slots of `user_id` (slot, connection, session), read strongly.
    async fn slots(
        &self,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<Vec<(u32, ConnectionId, SessionId)>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :slot)")
            .expression_attribute_values(":pk", s(&format!("user#{}", user_id.as_str())))
            .expression_attribute_values(":slot", s("slot#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.Query", e))?;
        let mut slots = Vec::new();
        for item in output.items() {
            if !live(item, now) {
                continue;
            }
            let slot = text(item, "sk")
                .and_then(|sk| sk.strip_prefix("slot#").and_then(|n| n.parse().ok()))
                .ok_or_else(|| corrupt("slot"))?;
            let connection = text(item, "connection_id").ok_or_else(|| corrupt("slot"))?;
            let session = text(item, "session_id").ok_or_else(|| corrupt("slot"))?;
            slots.push((
                slot,
                ConnectionId::new(connection),
                SessionId::from(session),
            ));
        }
        Ok(slots)
    }

    /// The open connections of `user_id` opened under one of `sessions`
    /// (all of them when `None`), read strongly: what a logout closes.
    pub async fn connections_of(
        &self,
        user_id: &UserId,
        sessions: Option<&[SessionId]>,
        now: Timestamp,
    ) -> Result<Vec<ConnectionId>, StoreError> {
        Ok(self
            .slots(user_id, now)
            .await?
            .into_iter()
            .filter(|(_, _, session)| sessions.is_none_or(|ended| ended.contains(session)))
            .map(|(_, connection, _)| connection)
            .collect())
    }

    /// The connection, if the service accepted it and it has not expired.
    pub async fn connection(
        &self,
        id: &ConnectionId,
        now: Timestamp,
    ) -> Result<Option<Connection>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.GetItem", e))?;
        let Some(item) = output.item.filter(|item| live(item, now)) else {
            return Ok(None);
        };
        let rooms = match item.get("rooms") {
            Some(AttributeValue::Ss(rooms)) => rooms.clone(),
            _ => Vec::new(),
        };
        Ok(Some(Connection {
            id: id.clone(),
            user_id: text(&item, "user_id")
                .ok_or_else(|| corrupt("connection"))?
                .into(),
            session_id: text(&item, "session_id")
                .ok_or_else(|| corrupt("connection"))?
                .into(),
            slot: number(&item, "slot").ok_or_else(|| corrupt("connection"))?,
            rooms,
        }))
    }

    /// Removes connection `id`'s records and nothing else: its record and
    /// memberships in one transaction, then its slot if it still holds it
    /// (a slot past its expiry may already belong to another connection).
    pub async fn remove(&self, id: &ConnectionId) -> Result<Removed, StoreError> {
        // Expired or not: its records go.
        let Some(connection) = self.connection(id, Timestamp(0)).await? else {
            return Ok(Removed::Absent);
        };
        let mut transaction = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .delete(sdk_build(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(connection_key(id)))
                        .build(),
                )?)
                .build(),
        );
        for room in &connection.rooms {
            transaction = transaction.transact_items(
                TransactWriteItem::builder()
                    .delete(sdk_build(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(member_key(room, id.shard(), id)))
                            .build(),
                    )?)
                    .build(),
            );
        }
        transaction
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.TransactWriteItems", e))?;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(slot_key(&connection.user_id, connection.slot)))
            .condition_expression("connection_id = :id")
            .expression_attribute_values(":id", s(id.as_str()))
            .send()
            .await;
        conditional("DynamoDB.DeleteItem", result)?;
        Ok(Removed::Removed)
    }
}
