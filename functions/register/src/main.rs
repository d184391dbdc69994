//! `POST /auth/register`: creates an account.

use shared::accounts::routes::Register;
use shared::aws::AwsClients;
use shared::config::Environment;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = Register::new(&Environment::from_process(), &AwsClients::from_env().await)?;
    shared::http::serve(|request| route.handle(request)).await
}
