//! `POST /auth/refresh`: rotates the refresh token, with reuse detection.

use shared::accounts::routes::Refresh;
use shared::aws::AwsClients;
use shared::config::Environment;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = Refresh::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
