//! `POST /auth/logout`: ends this session and revokes this access token.

use shared::accounts::routes::Logout;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Logout>().await
}
