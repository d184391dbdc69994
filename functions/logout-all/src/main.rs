//! `POST /auth/logout-all`: ends every session of the caller.

use shared::accounts::routes::LogoutAll;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<LogoutAll>>().await
}
