//! The users table: one item per user (`user#<id>`) with the profile, and
//! one per email (`email#<email>`) with the credentials. Registering writes
//! both in one transaction, each conditional on not existing, so an email is
//! unique even when two registrations race.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::email::Email;
use super::roles::Roles;
use crate::aws::{Item, StoreError, consistent_get, n, s, text, timestamp};
use crate::ids::UserId;
use crate::time::Timestamp;

/// A user's public profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    /// Opaque id.
    pub user_id: UserId,
    /// Normalised email.
    pub email: String,
    /// Display name, if given.
    pub name: Option<String>,
    /// When the account was created.
    pub created_at: Timestamp,
}

/// What a login checks a password against.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user the email belongs to.
    pub user_id: UserId,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// Why a registration did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Another account has this email.
    #[error("the email is taken")]
    EmailTaken,
    /// The store failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The users table.
#[derive(Debug, Clone)]
pub struct UserStore {
    client: Client,
    table: String,
}

impl UserStore {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the user and claims the email, atomically.
    pub async fn create(
        &self,
        profile: &UserProfile,
        email: &Email,
        password_hash: &str,
    ) -> Result<(), RegisterError> {
        let mut user = HashMap::from([
            ("pk".to_string(), s(&format!("user#{}", profile.user_id))),
            ("user_id".to_string(), s(&profile.user_id)),
            ("email".to_string(), s(email.as_str())),
            ("created_at".to_string(), n(profile.created_at.0)),
        ]);
        if let Some(name) = &profile.name {
            user.insert("name".to_string(), s(name));
        }
        let claim = HashMap::from([
            ("pk".to_string(), s(&format!("email#{}", email.as_str()))),
            ("user_id".to_string(), s(&profile.user_id)),
            ("password_hash".to_string(), s(password_hash)),
        ]);
        let put = |item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::corrupt("DynamoDB.TransactWriteItems", e.to_string()))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(put(user)?)
            .transact_items(put(claim)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let taken = crate::aws::transaction_condition_failed(&error);
                if taken {
                    Err(RegisterError::EmailTaken)
                } else {
                    Err(StoreError::sdk("DynamoDB.TransactWriteItems", error).into())
                }
            }
        }
    }

    /// The item with key `pk`, read consistently.
    async fn item(&self, pk: String) -> Result<Option<Item>, StoreError> {
        consistent_get(
            &self.client,
            &self.table,
            Item::from([("pk".into(), s(&pk))]),
        )
        .await
    }

    /// The credentials registered for `email`, if any.
    pub async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let Some(item) = self.item(format!("email#{}", email.as_str())).await? else {
            return Ok(None);
        };
        match (text(&item, "user_id"), text(&item, "password_hash")) {
            (Some(user_id), Some(password_hash)) => Ok(Some(Credentials {
                user_id: user_id.into(),
                password_hash,
            })),
            _ => Err(StoreError::corrupt(
                "DynamoDB.GetItem",
                "credentials item without user_id or hash",
            )),
        }
    }

    /// Opens `connections` connections at cold start: reads of a user that
    /// cannot exist, at once ([`crate::aws::preconnect`]).
    pub async fn preconnect(&self, connections: usize) {
        crate::aws::preconnect(connections, || self.item("user#preconnect".to_string())).await;
    }

    /// The profile of `user_id`, if the user exists.
    pub async fn profile(&self, user_id: &UserId) -> Result<Option<UserProfile>, StoreError> {
        Ok(self
            .profile_and_roles(user_id)
            .await?
            .map(|(profile, _)| profile))
    }

    /// The profile of `user_id` and its roles, in one consistent read of
    /// its item (where the roles live).
    pub async fn profile_and_roles(
        &self,
        user_id: &UserId,
    ) -> Result<Option<(UserProfile, Roles)>, StoreError> {
        let Some(item) = self.item(format!("user#{user_id}")).await? else {
            return Ok(None);
        };
        let roles = Roles::from_item(&item);
        match (
            text(&item, "user_id"),
            text(&item, "email"),
            timestamp(&item, "created_at"),
        ) {
            (Some(user_id), Some(email), Some(created_at)) => Ok(Some((
                UserProfile {
                    user_id: user_id.into(),
                    email,
                    name: text(&item, "name"),
                    created_at,
                },
                roles,
            ))),
            _ => Err(StoreError::corrupt(
                "DynamoDB.GetItem",
                "user item without user_id, email or created_at",
            )),
        }
    }
}
