//! `POST /auth/logout-all`: ends every session of the caller.

use shared::accounts::routes::LogoutAll;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<LogoutAll>().await
}
