//! `GET /jobs`: a page of the caller's jobs.

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::jobs::routes::ListJobs;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = ListJobs::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
