//! `GET /auth/sessions`: the caller's live sessions.

use shared::accounts::routes::ListSessions;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<ListSessions>>().await
}
