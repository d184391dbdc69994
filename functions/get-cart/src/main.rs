//! `GET /cart`: the caller's cart and its ETag.

use shared::aws::AwsClients;
use shared::cart::routes::GetCart;
use shared::config::Environment;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = GetCart::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
