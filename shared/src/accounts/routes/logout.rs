//! `POST /auth/logout` and `POST /auth/logout-all`.

use lambda_http::{Body, Request, Response};

use super::startup::{StartupError, authenticator};
use crate::accounts::auth::Authenticator;
use crate::accounts::auth::Caller;
use crate::accounts::cookies;
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, no_content};
use crate::route::AuthenticatedRoute;

/// `POST /auth/logout`.
pub struct Logout {
    auth: Authenticator,
}

impl Logout {
    /// Built from the tables and the public keys.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws).await?,
        })
    }
}

impl AuthenticatedRoute for Logout {
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Self::new(env, aws).await
    }

    fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// Ends this session and refuses this access token from now on.
    async fn answer(&self, caller: Caller, _request: &Request) -> Result<Response<Body>, Problem> {
        self.auth
            .sessions()
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
    auth: Authenticator,
}

impl LogoutAll {
    /// Built from the tables and the public keys.
    pub async fn new(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            auth: authenticator(env, aws).await?,
        })
    }
}

impl AuthenticatedRoute for LogoutAll {
    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Self::new(env, aws).await
    }

    fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// Ends every session of the caller: every token issued before now is refused.
    async fn answer(&self, caller: Caller, _request: &Request) -> Result<Response<Body>, Problem> {
        let sessions = self.auth.sessions();
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
