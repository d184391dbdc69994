//! `POST /uploads`: records a pending upload and hands out its presigned PUT URL.

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::uploads::routes::CreateUpload;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route =
        CreateUpload::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
