//! `GET /me`, and the public view of a user.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::startup::{StartupError, user_store};
use crate::accounts::auth::Caller;
use crate::accounts::users::{UserProfile, UserStore};
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, json, no_store};
use crate::ids::UserId;
use crate::route::{AuthenticatedRoute, Calls};

/// The public view of a user.
#[derive(Debug, Serialize)]
pub(super) struct UserView {
    user_id: UserId,
    email: String,
    name: Option<String>,
    created_at: String,
    /// Only `GET /me` shows them (read by its own standing check).
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<&'static str>>,
}

impl From<UserProfile> for UserView {
    fn from(profile: UserProfile) -> Self {
        Self {
            user_id: profile.user_id,
            email: profile.email,
            name: profile.name,
            created_at: profile.created_at.rfc3339(),
            roles: None,
        }
    }
}

/// `GET /me`.
pub struct Me {
    users: UserStore,
}

impl AuthenticatedRoute for Me {
    const CALLS: Calls = Calls::new(1, "the user");
    const READ_ONLY: bool = true;

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            users: user_store(env, aws)?,
        })
    }

    /// The caller's profile and roles (both on the user's item).
    async fn answer(&self, caller: Caller, _request: &Request) -> Result<Response<Body>, Problem> {
        // Read-only: it answers alongside the standing check, so the roles
        // come from its own consistent read of the user's item.
        let (profile, roles) = self
            .users
            .profile_and_roles(caller.user_id())
            .await?
            .ok_or_else(crate::accounts::auth::unauthorized)?;
        let view = UserView {
            roles: Some(roles.names()),
            ..UserView::from(profile)
        };
        Ok(no_store(json(StatusCode::OK, &view)?))
    }
}
