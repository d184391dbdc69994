//! Tickets and `$connect`: a ticket spent, a slot taken, a connection
//! recorded, in one transaction that checks the session.

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{
    Connection, ConnectionId, ConnectionStore, Refusal, Ticket, connection_key, corrupt, live,
    sdk_build, slot_key, ticket_key,
};
use crate::aws::{StoreError, n, s, text};
use crate::ids::{SessionId, UserId, random_bytes};
use crate::realtime::{CONNECTION_TTL_SECONDS, TICKET_TTL_SECONDS};
use crate::time::Timestamp;

impl ConnectionStore {
    /// A new single-use ticket for `user_id`'s session `session_id`.
    pub async fn issue_ticket(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        now: Timestamp,
    ) -> Result<Ticket, StoreError> {
        let secret = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        let expires_at = now.plus(TICKET_TTL_SECONDS);
        let mut item = ticket_key(&secret);
        item.extend([
            ("user_id".to_string(), s(user_id)),
            ("session_id".to_string(), s(session_id)),
            ("expires_at".to_string(), n(expires_at.0)),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.PutItem", e))?;
        Ok(Ticket { secret, expires_at })
    }

    /// `$connect`: spends `ticket` and records connection `id` for its user
    /// and session, in one transaction that also checks that the session
    /// still exists and takes one of the user's `limit` slots. A logout
    /// that ends the session first makes it fail; one that ends it after
    /// finds the connection in the user's slots.
    pub async fn connect(
        &self,
        ticket: &str,
        id: &ConnectionId,
        limit: u32,
        now: Timestamp,
    ) -> Result<Connection, Refusal> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(ticket_key(ticket)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("DynamoDB.GetItem", e))?;
        let Some(item) = output.item.filter(|item| live(item, now)) else {
            return Err(Refusal::Unauthorized);
        };
        let user_id = UserId::from(text(&item, "user_id").ok_or_else(|| corrupt("ticket"))?);
        let session_id =
            SessionId::from(text(&item, "session_id").ok_or_else(|| corrupt("ticket"))?);
        // A slot another connect takes between the read and the write makes
        // the transaction fail: read again, a few times.
        for _ in 0..3 {
            let taken = self.slots(&user_id, now).await?;
            let Some(slot) = (0..limit).find(|slot| !taken.iter().any(|(s, _, _)| s == slot))
            else {
                return Err(Refusal::TooManyConnections);
            };
            let connection = Connection {
                id: id.clone(),
                user_id: user_id.clone(),
                session_id: session_id.clone(),
                slot,
                rooms: Vec::new(),
            };
            match self.take_slot(ticket, &connection, now).await? {
                Some(()) => return Ok(connection),
                None => continue,
            }
        }
        Err(Refusal::TooManyConnections)
    }

    /// The transaction of `connect`; `None` when the slot was taken meanwhile.
    async fn take_slot(
        &self,
        ticket: &str,
        connection: &Connection,
        now: Timestamp,
    ) -> Result<Option<()>, Refusal> {
        let expires_at = now.plus(CONNECTION_TTL_SECONDS);
        let spend = sdk_build(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(ticket_key(ticket)))
                .condition_expression(
                    "expires_at > :now AND user_id = :user AND session_id = :session",
                )
                .expression_attribute_values(":now", n(now.0))
                .expression_attribute_values(":user", s(&connection.user_id))
                .expression_attribute_values(":session", s(&connection.session_id))
                .build(),
        )?;
        let session = sdk_build(
            ConditionCheck::builder()
                .table_name(&self.sessions_table)
                .key("user_id", s(&connection.user_id))
                .key("session_id", s(&connection.session_id))
                .condition_expression("expires_at > :now AND idle_expires_at > :now")
                .expression_attribute_values(":now", n(now.0))
                .build(),
        )?;
        let mut slot = slot_key(&connection.user_id, connection.slot);
        slot.extend([
            ("connection_id".to_string(), s(connection.id.as_str())),
            ("session_id".to_string(), s(&connection.session_id)),
            ("expires_at".to_string(), n(expires_at.0)),
        ]);
        let slot = sdk_build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(slot))
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", n(now.0))
                .build(),
        )?;
        let mut record = connection_key(&connection.id);
        record.extend([
            ("user_id".to_string(), s(&connection.user_id)),
            ("session_id".to_string(), s(&connection.session_id)),
            ("slot".to_string(), n(u64::from(connection.slot))),
            ("expires_at".to_string(), n(expires_at.0)),
        ]);
        let record = sdk_build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(record))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(spend).build())
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(session)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().put(slot).build())
            .transact_items(TransactWriteItem::builder().put(record).build())
            .send()
            .await;
        let Err(error) = result else {
            return Ok(Some(()));
        };
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            error.as_service_error()
        {
            let failed: Vec<bool> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|reason| reason.code() == Some("ConditionalCheckFailed"))
                .collect();
            match failed.as_slice() {
                // The ticket was spent by a racing connect, or the session ended.
                [true, ..] | [_, true, ..] => return Err(Refusal::Unauthorized),
                [_, _, true, ..] => return Ok(None),
                _ => {}
            }
        }
        Err(StoreError::sdk("DynamoDB.TransactWriteItems", error).into())
    }
}
