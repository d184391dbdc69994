//! `POST /auth/login`: checks credentials and opens a session.

use shared::accounts::routes::Login;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Login>().await
}
