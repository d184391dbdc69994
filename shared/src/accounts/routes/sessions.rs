//! `GET /auth/sessions` and `DELETE /auth/sessions/{session_id}`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::startup::{StartupError, session_store};
use crate::accounts::auth::Caller;
use crate::accounts::sessions::SessionRecord;
use crate::accounts::sessions::SessionStore;
use crate::aws::AwsClients;
use crate::config::Environment;
use crate::http::{Problem, json, no_content, no_store, path_id};
use crate::ids::SessionId;
use crate::route::{AuthenticatedRoute, Calls};
use crate::time::Timestamp;

/// One entry of `GET /auth/sessions`.
#[derive(Debug, Serialize)]
struct SessionView {
    session_id: SessionId,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    user_agent: String,
    ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<bool>,
}

impl SessionView {
    /// The view of `session`; `current` says whether it is the caller's own.
    pub(crate) fn of(session: SessionRecord, current: Option<bool>) -> Self {
        Self {
            created_at: session.created_at.rfc3339(),
            last_seen_at: session.last_seen_at.rfc3339(),
            expires_at: session.ends_at().rfc3339(),
            session_id: session.session_id,
            user_agent: session.user_agent,
            ip: session.ip,
            current,
        }
    }
}

/// `GET /auth/sessions`.
pub struct ListSessions {
    sessions: SessionStore,
}

impl AuthenticatedRoute for ListSessions {
    const CALLS: Calls = Calls::new(1, "one query");
    const READ_ONLY: bool = true;

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            sessions: session_store(env, aws)?,
        })
    }

    /// The caller's live sessions, newest first.
    async fn answer(&self, caller: Caller, _request: &Request) -> Result<Response<Body>, Problem> {
        let mut sessions = self
            .sessions
            .list(caller.user_id(), Timestamp::now())
            .await?;
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        let views: Vec<SessionView> = sessions
            .into_iter()
            .map(|s| {
                let current = s.session_id == *caller.session_id();
                SessionView::of(s, Some(current))
            })
            .collect();
        Ok(no_store(json(
            StatusCode::OK,
            &serde_json::json!({ "sessions": views }),
        )?))
    }
}

/// `DELETE /auth/sessions/{session_id}`.
pub struct DeleteSession {
    sessions: SessionStore,
    sockets: crate::realtime::SessionSockets,
}

impl AuthenticatedRoute for DeleteSession {
    const CALLS: Calls = Calls::new(
        2,
        "one conditional delete, then the session's WebSocket connections (+4 each: closed, records removed)",
    );

    async fn build(env: &Environment, aws: &AwsClients) -> Result<Self, StartupError> {
        Ok(Self {
            sessions: session_store(env, aws)?,
            sockets: crate::realtime::SessionSockets::from_env(env, aws)?,
        })
    }

    /// Ends one of the caller's sessions; anyone else's is 404.
    async fn answer(&self, caller: Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let not_found = || Problem::not_found("no such session");
        let session_id = path_id(request, "session_id").ok_or_else(not_found)?;
        let deleted = self.sessions.delete(caller.user_id(), &session_id).await?;
        if !deleted {
            return Err(not_found());
        }
        self.sockets
            .close(caller.user_id(), Some(std::slice::from_ref(&session_id)))
            .await;
        tracing::info!(%session_id, "session ended");
        Ok(no_content())
    }
}
