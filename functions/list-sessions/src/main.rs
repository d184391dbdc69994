//! `GET /auth/sessions`: the caller's live sessions.

use shared::accounts::routes::ListSessions;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<ListSessions>().await
}
