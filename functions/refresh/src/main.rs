//! `POST /auth/refresh`: rotates the refresh token, with reuse detection.

use shared::accounts::routes::Refresh;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Refresh>().await
}
