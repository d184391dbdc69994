//! The jobs dead-letter queue's consumer: a message that failed
//! `maxReceiveCount` times marks its job `failed`, with a readable error.

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::jobs::worker::JobFailures;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let failures = JobFailures::new(&Environment::from_process(), &AwsClients::from_env().await)?;
    shared::sqs_batch::serve_batches(|event, _| failures.handle(event)).await
}
