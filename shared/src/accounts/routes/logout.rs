//! `POST /auth/logout` and `POST /auth/logout-all`.

use lambda_http::{Body, Request, Response};

use super::startup::{StartupError, session_store};
use crate::accounts::auth::Caller;
use crate::accounts::cookies;
use crate::accounts::sessions::SessionStore;
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, no_content};
use crate::route::{AuthenticatedRoute, Calls};

/// `POST /auth/logout`.
pub struct Logout {
    sessions: SessionStore,
}

impl AuthenticatedRoute for Logout {
    const CALLS: Calls = Calls::new(
        1,
        "one transaction: the session gone, the access token revoked",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            sessions: session_store(env, aws)?,
        })
    }

    /// Ends this session and refuses this access token from now on.
    async fn answer(&self, caller: Caller, _request: &Request) -> Result<Response<Body>, Problem> {
        self.sessions
            .revoke_token_and_end_session(&caller.claims)
            .await?;
        tracing::info!(session_id = %caller.session_id(), "logged out");
        let mut response = no_content();
        cookies::clear_refresh(&mut response);
        Ok(response)
    }
}

/// `POST /auth/logout-all`.
pub struct LogoutAll {
    sessions: SessionStore,
}

impl AuthenticatedRoute for LogoutAll {
    const CALLS: Calls = Calls::new(
        2,
        "a query of the others (+1 batch delete per 25 of them), the token revoked with its session",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            sessions: session_store(env, aws)?,
        })
    }

    /// Ends every session of the caller: every token issued before now is refused.
    async fn answer(&self, caller: Caller, _request: &Request) -> Result<Response<Body>, Problem> {
        let sessions = &self.sessions;
        // The others first, the caller's own last: if a step fails,
        // the caller's token still works and a retry finishes the job.
        sessions
            .delete_all_but(caller.user_id(), caller.session_id())
            .await?;
        sessions
            .revoke_token_and_end_session(&caller.claims)
            .await?;
        tracing::info!(user_id = %caller.user_id(), "logged out everywhere");
        let mut response = no_content();
        cookies::clear_refresh(&mut response);
        Ok(response)
    }
}
