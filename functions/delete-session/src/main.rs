//! `DELETE /auth/sessions/{session_id}`: ends one of the caller's sessions.

use shared::accounts::routes::DeleteSession;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<DeleteSession>>().await
}
