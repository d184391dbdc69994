//! `DELETE /auth/sessions/{session_id}`: ends one of the caller's sessions.

use shared::accounts::routes::DeleteSession;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<DeleteSession>().await
}
