//! The jobs dead-letter queue's consumer: a message that failed
//! `maxReceiveCount` times marks its job `failed`, with a readable error.

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::jobs::worker::FailJobs;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let failures = FailJobs::new(&Environment::from_process(), &AwsClients::from_env().await)?;
    shared::queue::serve_batches(|event, _| failures.handle(event)).await
}
