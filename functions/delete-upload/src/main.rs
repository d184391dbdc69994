//! `DELETE /uploads/{upload_id}`: removes the object and the record.

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::uploads::routes::DeleteUpload;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route =
        DeleteUpload::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
