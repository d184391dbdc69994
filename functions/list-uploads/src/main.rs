//! `GET /uploads`: a page of the caller's uploads.

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::uploads::routes::ListUploads;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route =
        ListUploads::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
