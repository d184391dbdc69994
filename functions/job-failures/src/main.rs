//! The jobs dead-letter queue's consumer: a message that failed
//! `maxReceiveCount` times marks its job `failed`, with a readable error.

use shared::jobs::worker::JobFailures;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::sqs_batch::run::<JobFailures>().await
}
