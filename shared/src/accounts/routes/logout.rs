//! `POST /auth/logout` and `POST /auth/logout-all`.

use lambda_http::{Body, Request, Response};

use super::startup::{StartupError, session_store};
use crate::accounts::auth::Caller;
use crate::accounts::cookies;
use crate::accounts::sessions::SessionStore;
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, no_content};
use crate::realtime::SessionSockets;
use crate::route::{AuthenticatedRoute, Calls};

/// `POST /auth/logout`.
pub struct Logout {
    sessions: SessionStore,
    sockets: SessionSockets,
}

impl AuthenticatedRoute for Logout {
    const CALLS: Calls = Calls::new(
        2,
        "one transaction: the session gone, the access token revoked; then the session's WebSocket connections (+4 each: closed, records removed)",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            sessions: session_store(env, aws)?,
            sockets: SessionSockets::from_env(env, aws)?,
        })
    }

    /// Ends this session and refuses this access token from now on.
    async fn answer(&self, caller: Caller, _request: &Request) -> Result<Response<Body>, Problem> {
        self.sessions
            .revoke_token_and_end_session(&caller.claims)
            .await?;
        // After the session is gone, never before: a $connect racing this
        // either fails its session check or is found here.
        self.sockets
            .close(
                caller.user_id(),
                Some(std::slice::from_ref(caller.session_id())),
            )
            .await;
        tracing::info!(session_id = %caller.session_id(), "logged out");
        let mut response = no_content();
        cookies::clear_refresh(&mut response);
        Ok(response)
    }
}

/// `POST /auth/logout-all`.
pub struct LogoutAll {
    sessions: SessionStore,
    sockets: SessionSockets,
}

impl AuthenticatedRoute for LogoutAll {
    const CALLS: Calls = Calls::new(
        3,
        "a query of the others (+1 batch delete per 25 of them), the token revoked with its session, then the user's WebSocket connections (+4 each: closed, records removed)",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            sessions: session_store(env, aws)?,
            sockets: SessionSockets::from_env(env, aws)?,
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
        // Every session has ended: every connection of the user goes.
        self.sockets.close(caller.user_id(), None).await;
        tracing::info!(user_id = %caller.user_id(), "logged out everywhere");
        let mut response = no_content();
        cookies::clear_refresh(&mut response);
        Ok(response)
    }
}
