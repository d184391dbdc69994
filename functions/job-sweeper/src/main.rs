//! Run on a schedule (EventBridge through SQS): sends the jobs whose message
//! was never sent (their route died, or the queue failed, between the two).

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::jobs::worker::JobSweeper;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let sweep = JobSweeper::new(&Environment::from_process(), &AwsClients::from_env().await)?;
    shared::sqs_batch::serve_batches(|event, _| sweep.handle(event)).await
}
