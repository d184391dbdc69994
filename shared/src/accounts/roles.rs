//! Roles: a set on the user's item (`roles`, a string set), read by every
//! request's standing check in its one round trip (the user's item is one
//! more key of that `BatchGetItem`), so a grant or a revoke is seen by the
//! very next request of every session, on every instance, and costs no
//! round trip of its own. Nothing copies them anywhere (not into the token,
//! not onto the session), so no race between a grant and a login can leave
//! a session with a stale set.

use lambda_http::http::StatusCode;

use super::email::Email;
use crate::aws::{Item, StoreError, conditional, consistent_get, s, text};
use crate::http::{Problem, ProblemCode};
use crate::ids::UserId;

/// A role the service knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// May write the catalog.
    Admin,
}

impl Role {
    /// Every role, as the API names them.
    pub const ALL: &[Role] = &[Role::Admin];

    /// The role as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
        }
    }

    /// The role named `raw`, if the service knows it.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|role| role.as_str() == raw)
    }
}

/// A user's roles (empty at registration). Names the service does not know
/// are ignored: they grant nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    /// The roles of a user item's `roles` attribute (a string set; absent: none).
    pub fn from_item(item: &Item) -> Self {
        let mut roles: Vec<Role> = item
            .get("roles")
            .and_then(|value| value.as_ss().ok())
            .into_iter()
            .flatten()
            .filter_map(|name| Role::parse(name))
            .collect();
        roles.sort();
        roles.dedup();
        Self(roles)
    }

    /// These roles.
    pub fn of(roles: &[Role]) -> Self {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        Self(roles)
    }

    /// Whether `role` is among them.
    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    /// Their names, in a stable order (as `GET /me` shows them).
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|role| role.as_str()).collect()
    }
}

/// 403 `forbidden`: the caller is authenticated but lacks `role`.
pub fn forbidden(role: Role) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        ProblemCode::Forbidden,
        "Forbidden",
        format!("this route needs the `{}` role", role.as_str()),
    )
}

/// Ok when the caller's `roles` (`Caller::roles`) include `role`, 403 otherwise.
pub fn require(roles: &Roles, role: Role) -> Result<(), Problem> {
    if roles.has(role) {
        Ok(())
    } else {
        Err(forbidden(role))
    }
}

/// Why a grant or a revoke did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RoleChangeError {
    /// No account has this email.
    #[error("no account has this email")]
    NoSuchUser,
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Grants and revokes roles on the users table (the operator's tool,
/// `cargo xtask admin`; no route writes roles).
#[derive(Debug, Clone)]
pub struct RoleStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl RoleStore {
    /// Roles on the users table `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The user whose email this is.
    pub async fn user_of(&self, email: &Email) -> Result<UserId, RoleChangeError> {
        let key = Item::from([("pk".into(), s(&format!("email#{}", email.as_str())))]);
        let item = consistent_get(&self.client, &self.table, key)
            .await?
            .ok_or(RoleChangeError::NoSuchUser)?;
        text(&item, "user_id")
            .map(UserId::from)
            .ok_or(RoleChangeError::NoSuchUser)
    }

    /// Gives the user of `email` the role (a no-op if it has it): one
    /// conditional `ADD` to the set, seen by that user's next request.
    pub async fn grant(&self, email: &Email, role: Role) -> Result<UserId, RoleChangeError> {
        self.change(email, role, "ADD").await
    }

    /// Takes the role from the user of `email` (a no-op if it lacks it).
    pub async fn revoke(&self, email: &Email, role: Role) -> Result<UserId, RoleChangeError> {
        self.change(email, role, "DELETE").await
    }

    async fn change(
        &self,
        email: &Email,
        role: Role,
        action: &str,
    ) -> Result<UserId, RoleChangeError> {
        let user_id = self.user_of(email).await?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&format!("user#{user_id}")))
            .update_expression(format!("{action} #roles :role"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#roles", "roles")
            .expression_attribute_values(
                ":role",
                aws_sdk_dynamodb::types::AttributeValue::Ss(vec![role.as_str().to_string()]),
            )
            .send()
            .await;
        if conditional("DynamoDB.UpdateItem", result)? {
            Ok(user_id)
        } else {
            Err(RoleChangeError::NoSuchUser)
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    #[test]
    fn roles_come_from_the_string_set_and_unknown_names_grant_nothing() {
        let item = Item::from([(
            "roles".to_string(),
            AttributeValue::Ss(vec!["superuser".into(), "admin".into()]),
        )]);
        let roles = Roles::from_item(&item);
        assert!(roles.has(Role::Admin));
        assert_eq!(roles.names(), vec!["admin"]);
        assert_eq!(Roles::from_item(&Item::new()), Roles::default());
        assert!(!Roles::default().has(Role::Admin));
    }

    #[test]
    fn a_role_parses_only_from_its_own_name() {
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        for raw in ["Admin", "admin ", "", "root"] {
            assert_eq!(Role::parse(raw), None, "{raw}");
        }
    }
}
