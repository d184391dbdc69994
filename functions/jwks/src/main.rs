//! `GET /.well-known/jwks.json`: the public keys that verify access tokens.

use shared::accounts::routes::Jwks;
use shared::aws::AwsClients;
use shared::config::Environment;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = Jwks::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
