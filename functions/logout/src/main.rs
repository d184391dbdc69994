//! `POST /auth/logout`: ends this session and revokes this access token.

use shared::accounts::routes::Logout;
use shared::aws::AwsClients;
use shared::config::Environment;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = Logout::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
