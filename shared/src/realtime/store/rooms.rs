//! A room's side of the connections table: subscriptions and members.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use super::{
    ConnectionId, ConnectionStore, ROOM_SHARDS, connection_key, live, member_key, sdk_build,
};
use crate::aws::{StoreError, n, s, text};
use crate::realtime::CONNECTION_TTL_SECONDS;
use crate::realtime::frames::{MAX_ROOMS_PER_CONNECTION, Room};
use crate::time::Timestamp;

impl ConnectionStore {
    /// Subscribes connection `id` to `room`: the room in its record and its
    /// membership, in one transaction. `false`: the connection is unknown,
    /// or already in [`MAX_ROOMS_PER_CONNECTION`] other rooms.
    pub async fn subscribe(
        &self,
        id: &ConnectionId,
        room: &Room,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let record = sdk_build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(connection_key(id)))
                .update_expression("ADD rooms :room")
                .condition_expression(
                    "expires_at > :now AND (attribute_not_exists(rooms) OR size(rooms) < :max OR contains(rooms, :name))",
                )
                .expression_attribute_values(":room", AttributeValue::Ss(vec![room.as_str().into()]))
                .expression_attribute_values(":name", s(room.as_str()))
                .expression_attribute_values(":now", n(now.0))
                .expression_attribute_values(":max", n(MAX_ROOMS_PER_CONNECTION as u64))
                .build(),
        )?;
        let mut member = member_key(room.as_str(), id.shard(), id);
        // The connection lives 2 hours at most from its connect, which was before now.
        member.insert(
            "expires_at".to_string(),
            n(now.plus(CONNECTION_TTL_SECONDS).0),
        );
        let member = sdk_build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(member))
                .build(),
        )?;
        self.record_and_member(record, TransactWriteItem::builder().put(member).build())
            .await
    }

    /// Unsubscribes connection `id` from `room`; `false` if the connection is unknown.
    pub async fn unsubscribe(
        &self,
        id: &ConnectionId,
        room: &Room,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let record = sdk_build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(connection_key(id)))
                .update_expression("DELETE rooms :room")
                .condition_expression("expires_at > :now")
                .expression_attribute_values(
                    ":room",
                    AttributeValue::Ss(vec![room.as_str().into()]),
                )
                .expression_attribute_values(":now", n(now.0))
                .build(),
        )?;
        let member = sdk_build(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(member_key(room.as_str(), id.shard(), id)))
                .build(),
        )?;
        self.record_and_member(record, TransactWriteItem::builder().delete(member).build())
            .await
    }

    /// The connection's record updated and its room membership written, in
    /// one transaction; `false` if the record's condition (a live
    /// connection) failed.
    async fn record_and_member(
        &self,
        record: Update,
        member: TransactWriteItem,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(record).build())
            .transact_items(member)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if crate::aws::transaction_condition_failed(&error) => Ok(false),
            Err(error) => Err(StoreError::sdk("DynamoDB.TransactWriteItems", error)),
        }
    }

    /// The live members of `room`: its shards read at once, strongly (a
    /// member that subscribed before the publish must get it).
    pub async fn members(
        &self,
        room: &Room,
        now: Timestamp,
    ) -> Result<Vec<ConnectionId>, StoreError> {
        let shards = (0..ROOM_SHARDS).map(|shard| self.shard_members(room, shard, now));
        let mut members = Vec::new();
        for shard in futures_util::future::join_all(shards).await {
            members.extend(shard?);
        }
        Ok(members)
    }

    async fn shard_members(
        &self,
        room: &Room,
        shard: u32,
        now: Timestamp,
    ) -> Result<Vec<ConnectionId>, StoreError> {
        let mut members = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&format!("room#{}#{shard}", room.as_str())))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::sdk("DynamoDB.Query", e))?;
            members.extend(
                output
                    .items()
                    .iter()
                    .filter(|item| live(item, now))
                    .filter_map(|item| text(item, "sk"))
                    .map(ConnectionId::new),
            );
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(members);
            }
        }
    }
}
