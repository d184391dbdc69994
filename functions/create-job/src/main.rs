//! `POST /jobs`: records a job and queues its message, at most once per `Idempotency-Key`.

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::jobs::routes::CreateJob;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = CreateJob::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
