//! `POST /auth/logout`: ends this session and revokes this access token.

use shared::accounts::routes::Logout;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<Logout>>().await
}
