//! `DELETE /auth/sessions/{session_id}`: ends one of the caller's sessions.

use shared::accounts::routes::DeleteSession;
use shared::aws::AwsClients;
use shared::config::Environment;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route =
        DeleteSession::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
