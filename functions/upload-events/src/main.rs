//! S3 `ObjectCreated` events through SQS: confirms or rejects uploads.

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::uploads::events::UploadEvents;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let confirm = UploadEvents::new(&Environment::from_process(), &AwsClients::from_env().await)?;
    shared::sqs_batch::serve_batches(|event, _| confirm.handle(event)).await
}
