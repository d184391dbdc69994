//! `PUT /cart`: replaces the cart if it is still at the `If-Match` version.

use shared::aws::AwsClients;
use shared::cart::routes::PutCart;
use shared::config::Environment;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = PutCart::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
