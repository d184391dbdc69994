//! `GET /me`: the caller's profile.

use shared::accounts::routes::Me;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<Me>>().await
}
