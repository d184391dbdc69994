//! `GET /uploads/{upload_id}`: one upload, with a download URL once it is ready.

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::uploads::routes::GetUpload;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = GetUpload::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
