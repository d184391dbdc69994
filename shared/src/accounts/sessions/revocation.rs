//! Revocation: the deny-list of access tokens (and of withdrawn signing
//! keys), and the per-request check that reads it with the session, in one
//! round trip.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Delete, KeysAndAttributes, Put, TransactWriteItem};

use super::{SessionStore, session_key};
use crate::accounts::keystore::{WITHDRAWN_SHARDS, withdrawn_kid_id, withdrawn_shard};
use crate::accounts::roles::Roles;
use crate::accounts::tokens::AccessClaims;
use crate::aws::{StoreError, n, s, timestamp as time};
use crate::time::Timestamp;

/// What the per-request check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenStanding {
    /// Its session exists and has not expired, and its `jti` is not
    /// revoked; the user's roles as they are now (none when the store was
    /// not given the users table).
    Valid(Roles),
    /// Its session is gone or expired, or its `jti` is on the deny-list.
    Revoked,
}

/// The deny-list key of an access token.
fn token_id(claims: &AccessClaims) -> String {
    format!("{}#{}", claims.iss, claims.jti)
}

impl SessionStore {
    /// Refuses this access token from now on (until it would have expired)
    /// and ends its session, in one transaction.
    pub async fn revoke_token_and_end_session(
        &self,
        claims: &AccessClaims,
    ) -> Result<(), StoreError> {
        let deny = Put::builder()
            .table_name(&self.revoked_table)
            .item("token_id", s(&token_id(claims)))
            .item("expires_at", n(claims.exp))
            .build()
            .map_err(|e| StoreError::corrupt("DynamoDB.TransactWriteItems", e.to_string()))?;
        let end = Delete::builder()
            .table_name(&self.sessions_table)
            .set_key(Some(session_key(&claims.sub, &claims.sid)))
            .build()
            .map_err(|e| StoreError::corrupt("DynamoDB.TransactWriteItems", e.to_string()))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(deny).build())
            .transact_items(TransactWriteItem::builder().delete(end).build())
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.TransactWriteItems", e))?;
        Ok(())
    }

    /// Refuses every token signed by `kid` until `until` (a withdrawn key):
    /// its entry under every shard, in one transaction.
    pub async fn deny_key(&self, kid: &str, until: Timestamp) -> Result<(), StoreError> {
        let mut transaction = self.client.transact_write_items();
        for shard in 0..WITHDRAWN_SHARDS {
            let put = Put::builder()
                .table_name(&self.revoked_table)
                .item("token_id", s(&withdrawn_kid_id(kid, shard)))
                .item("expires_at", n(until.0))
                .build()
                .map_err(|e| StoreError::corrupt("DynamoDB.TransactWriteItems", e.to_string()))?;
            transaction = transaction.transact_items(TransactWriteItem::builder().put(put).build());
        }
        transaction
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.TransactWriteItems", e))?;
        Ok(())
    }

    /// The per-request check, in one round trip: the token's session exists
    /// and is live, and neither its `jti` nor its key is on the deny-list;
    /// with the users table, the same `BatchGetItem` reads the user's roles.
    pub async fn standing(
        &self,
        claims: &AccessClaims,
        now: Timestamp,
    ) -> Result<TokenStanding, StoreError> {
        let session_keys = KeysAndAttributes::builder()
            .keys(session_key(&claims.sub, &claims.sid))
            .projection_expression("expires_at, idle_expires_at")
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::corrupt("DynamoDB.BatchGetItem", e.to_string()))?;
        let revoked_keys = KeysAndAttributes::builder()
            .keys(HashMap::from([(
                "token_id".to_string(),
                s(&token_id(claims)),
            )]))
            // Every token of a withdrawn key is refused, in the same read
            // (of one of its entry's shards: any one answers the same).
            .keys(HashMap::from([(
                "token_id".to_string(),
                s(&withdrawn_kid_id(&claims.kid, withdrawn_shard(&claims.jti))),
            )]))
            .projection_expression("expires_at")
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::corrupt("DynamoDB.BatchGetItem", e.to_string()))?;
        let mut batch = self
            .client
            .batch_get_item()
            .request_items(&self.sessions_table, session_keys)
            .request_items(&self.revoked_table, revoked_keys);
        if let Some(users_table) = &self.users_table {
            // Only the roles: the user's profile is not this check's business.
            let user_keys = KeysAndAttributes::builder()
                .keys(HashMap::from([(
                    "pk".to_string(),
                    s(&format!("user#{}", claims.sub)),
                )]))
                .projection_expression("pk, #roles")
                .expression_attribute_names("#roles", "roles")
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::corrupt("DynamoDB.BatchGetItem", e.to_string()))?;
            batch = batch.request_items(users_table, user_keys);
        }
        let output = batch
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.BatchGetItem", e))?;
        if output
            .unprocessed_keys
            .as_ref()
            .is_some_and(|u| !u.is_empty())
        {
            // Throttled: we cannot tell, and must not guess "valid".
            return Err(StoreError::corrupt(
                "DynamoDB.BatchGetItem",
                "keys left unprocessed",
            ));
        }
        let mut responses = output.responses.unwrap_or_default();
        let session_live = responses
            .remove(&self.sessions_table)
            .unwrap_or_default()
            .first()
            .is_some_and(|item| {
                let live = |key| time(item, key).is_some_and(|t| !t.has_passed(now));
                live("expires_at") && live("idle_expires_at")
            });
        let denied = responses
            .remove(&self.revoked_table)
            .unwrap_or_default()
            .iter()
            // A deny-list entry whose TTL passed belongs to a token that has expired anyway.
            .any(|item| time(item, "expires_at").is_none_or(|t| !t.has_passed(now)));
        let roles = self
            .users_table
            .as_ref()
            .and_then(|table| responses.remove(table))
            .unwrap_or_default()
            .first()
            .map(Roles::from_item)
            .unwrap_or_default();
        Ok(if session_live && !denied {
            TokenStanding::Valid(roles)
        } else {
            TokenStanding::Revoked
        })
    }
}
