//! `GET /me` as `src/main.rs` builds it, but with the test-only feature
//! `planted-tmp-session-cache` on: a function with a statelessness bug, for
//! the test that proves the statelessness suite catches one.

use shared::accounts::routes::Me;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<Me>>().await
}
