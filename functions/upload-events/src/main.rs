//! S3 `ObjectCreated` events through SQS: confirms or rejects uploads.

use shared::uploads::events::UploadEvents;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::sqs_batch::run::<UploadEvents>().await
}
