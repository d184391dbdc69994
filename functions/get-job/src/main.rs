//! `GET /jobs/{job_id}`: one job, with a download URL once an export succeeded.

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::jobs::routes::GetJob;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = GetJob::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
