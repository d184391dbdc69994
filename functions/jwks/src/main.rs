//! `GET /.well-known/jwks.json`: the public keys that verify access tokens.

use shared::accounts::routes::Jwks;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Jwks>().await
}
