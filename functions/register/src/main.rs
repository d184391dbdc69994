//! `POST /auth/register`: creates an account.

use shared::accounts::routes::Register;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Register>().await
}
