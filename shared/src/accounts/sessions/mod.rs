//! The sessions table (key: `user_id`, `session_id`) and, in `revocation`,
//! the deny-list of revoked access tokens (key: `token_id` = `<iss>#<jti>`):
//! one store, because the per-request check reads both in one `BatchGetItem`.
//!
//! Every write that depends on what was read is conditional, so two
//! instances racing on one session can never both win; every read treats a
//! past expiry as absent (TTL deletion lags by up to two days).

use std::collections::HashMap;

mod revocation;

pub use revocation::TokenStanding;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

use crate::aws::{
    Item, Page, Partition, StoreError, conditional, n, number, s, text, timestamp as time,
};
use crate::ids::{SessionId, UserId};
use crate::time::Timestamp;

/// One login's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The owner.
    pub user_id: UserId,
    /// Opaque id (128 random bits).
    pub session_id: SessionId,
    /// When the login happened.
    pub created_at: Timestamp,
    /// Last login or refresh.
    pub last_seen_at: Timestamp,
    /// The client's user agent at login.
    pub user_agent: String,
    /// The client's source IP at login (from the API Gateway request context).
    pub ip: String,
    /// The random input of this session's refresh-token secrets (empty for
    /// a session opened before refresh tokens were numbered).
    pub refresh_nonce: String,
    /// The generation of the current refresh token (0 at login).
    pub refresh_generation: u64,
    /// When the last rotation happened.
    pub rotated_at: Option<Timestamp>,
    /// The session ends if not refreshed by then (slides on refresh).
    pub idle_expires_at: Timestamp,
    /// The session ends then at the latest (the item's TTL).
    pub expires_at: Timestamp,
}

impl SessionRecord {
    /// Whether the session has ended at `now`.
    pub fn has_expired(&self, now: Timestamp) -> bool {
        self.expires_at.has_passed(now) || self.idle_expires_at.has_passed(now)
    }

    /// When the session ends if not refreshed.
    pub fn ends_at(&self) -> Timestamp {
        self.idle_expires_at.min(self.expires_at)
    }
}

/// The sessions table and the deny-list.
#[derive(Debug, Clone)]
pub struct SessionStore {
    client: Client,
    sessions_table: String,
    revoked_table: String,
    /// The users table, when the standing check also reads the roles.
    users_table: Option<String>,
}

fn session_key(user_id: &UserId, session_id: &SessionId) -> Item {
    HashMap::from([
        ("user_id".to_string(), s(user_id)),
        ("session_id".to_string(), s(session_id)),
    ])
}

impl SessionStore {
    /// The store over these two tables.
    pub fn new(
        client: Client,
        sessions_table: impl Into<String>,
        revoked_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            sessions_table: sessions_table.into(),
            revoked_table: revoked_table.into(),
            users_table: None,
        }
    }

    /// This store, whose standing check also reads the user's roles from
    /// `users_table` (in the same round trip).
    pub fn with_roles_from(self, users_table: impl Into<String>) -> Self {
        Self {
            users_table: Some(users_table.into()),
            ..self
        }
    }

    fn parse(item: &Item) -> Result<SessionRecord, StoreError> {
        let corrupt = || {
            StoreError::corrupt(
                "DynamoDB.sessions",
                "a session item lacks a required attribute",
            )
        };
        Ok(SessionRecord {
            user_id: text(item, "user_id").ok_or_else(corrupt)?.into(),
            session_id: text(item, "session_id").ok_or_else(corrupt)?.into(),
            created_at: time(item, "created_at").ok_or_else(corrupt)?,
            last_seen_at: time(item, "last_seen_at").ok_or_else(corrupt)?,
            user_agent: text(item, "user_agent").unwrap_or_default(),
            ip: text(item, "ip").unwrap_or_default(),
            // Sessions opened before refresh tokens were numbered have
            // neither: no presented token verifies against them.
            refresh_nonce: text(item, "refresh_nonce").unwrap_or_default(),
            refresh_generation: number(item, "refresh_generation").unwrap_or_default(),
            rotated_at: time(item, "rotated_at"),
            idle_expires_at: time(item, "idle_expires_at").ok_or_else(corrupt)?,
            expires_at: time(item, "expires_at").ok_or_else(corrupt)?,
        })
    }

    /// Stores a new session (never overwrites one).
    pub async fn create(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let mut item = session_key(&session.user_id, &session.session_id);
        item.extend([
            ("created_at".to_string(), n(session.created_at.0)),
            ("last_seen_at".to_string(), n(session.last_seen_at.0)),
            ("user_agent".to_string(), s(&session.user_agent)),
            ("ip".to_string(), s(&session.ip)),
            ("refresh_nonce".to_string(), s(&session.refresh_nonce)),
            (
                "refresh_generation".to_string(),
                n(session.refresh_generation),
            ),
            ("idle_expires_at".to_string(), n(session.idle_expires_at.0)),
            ("expires_at".to_string(), n(session.expires_at.0)),
        ]);
        self.client
            .put_item()
            .table_name(&self.sessions_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(session_id)")
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.PutItem", e))?;
        Ok(())
    }

    /// Opens `connections` connections at cold start: reads of a session
    /// that cannot exist, at once ([`crate::aws::preconnect`]).
    pub async fn preconnect(&self, connections: usize) {
        let (nobody, none) = (UserId::from("preconnect"), SessionId::from("preconnect"));
        let now = Timestamp::now();
        crate::aws::preconnect(connections, || self.get(&nobody, &none, now)).await;
    }

    /// The session, if it exists and has not expired at `now`.
    pub async fn get(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.sessions_table)
            .set_key(Some(session_key(user_id, session_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.GetItem", e))?;
        match output.item {
            Some(item) => {
                let session = Self::parse(&item)?;
                Ok((!session.has_expired(now)).then_some(session))
            }
            None => Ok(None),
        }
    }

    /// Moves the session from refresh-token generation `from` to the next,
    /// only if `from` is still current and the session has not expired;
    /// slides the idle expiry. `false`: another rotation or a revocation won.
    pub async fn rotate(
        &self,
        session: &SessionRecord,
        from: u64,
        now: Timestamp,
        idle_ttl_seconds: u64,
    ) -> Result<bool, StoreError> {
        let idle = now.plus(idle_ttl_seconds).min(session.expires_at);
        let result = self
            .client
            .update_item()
            .table_name(&self.sessions_table)
            .set_key(Some(session_key(&session.user_id, &session.session_id)))
            .update_expression(
                "SET refresh_generation = :next, rotated_at = :now, last_seen_at = :now, idle_expires_at = :idle",
            )
            .condition_expression(
                "refresh_generation = :from AND expires_at > :now AND idle_expires_at > :now",
            )
            .expression_attribute_values(":from", n(from))
            .expression_attribute_values(":next", n(from.saturating_add(1)))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":idle", n(idle.0))
            .send()
            .await;
        conditional("DynamoDB.UpdateItem", result)
    }

    /// Ends one session; `false` if there was none.
    pub async fn delete(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.sessions_table)
            .set_key(Some(session_key(user_id, session_id)))
            .condition_expression("attribute_exists(session_id)")
            .send()
            .await;
        conditional("DynamoDB.DeleteItem", result)
    }

    /// Every live session of `user_id` (strongly consistent).
    pub async fn list(
        &self,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sessions = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.sessions_table)
                .key_condition_expression("user_id = :user")
                .expression_attribute_values(":user", s(user_id))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::sdk("DynamoDB.Query", e))?;
            for item in output.items() {
                let session = Self::parse(item)?;
                if !session.has_expired(now) {
                    sessions.push(session);
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(sessions);
            }
        }
    }

    /// Up to `limit` live sessions of `user_id` after the session id
    /// `after`, by id (strongly consistent): a listing read a page at a time.
    pub async fn page(
        &self,
        user_id: &UserId,
        limit: u32,
        after: Option<&str>,
        now: Timestamp,
    ) -> Result<Page<SessionRecord>, StoreError> {
        let partition = Partition {
            client: &self.client,
            table: &self.sessions_table,
            key: ("user_id", user_id),
            sort_key: "session_id",
        };
        partition
            .page(limit, after, |item| {
                Ok(Some(Self::parse(item)?).filter(|session| !session.has_expired(now)))
            })
            .await
    }

    /// Ends every session of `user_id` but `keep`, expired ones included.
    pub async fn delete_all_but(
        &self,
        user_id: &UserId,
        keep: &SessionId,
    ) -> Result<(), StoreError> {
        let mut others = self.list(user_id, Timestamp(0)).await?;
        others.retain(|session| session.session_id != *keep);
        for chunk in others.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|session| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(session_key(user_id, &session.session_id)))
                        .build()
                        .map_err(|e| {
                            StoreError::corrupt("DynamoDB.BatchWriteItem", e.to_string())
                        })?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<_, StoreError>>()?;
            for attempt in 0..5 {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.sessions_table, requests)
                    .send()
                    .await
                    .map_err(|e| StoreError::sdk("DynamoDB.BatchWriteItem", e))?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.sessions_table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt == 4 {
                    return Err(StoreError::corrupt(
                        "DynamoDB.BatchWriteItem",
                        "items left unprocessed",
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }
}
