//! The jobs queue's consumer: claims each job, runs it, finishes it; only
//! the messages that failed are reported back (`ReportBatchItemFailures`).

use shared::aws::AwsClients;
use shared::config::Environment;
use shared::jobs::worker::JobWorker;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let worker = JobWorker::new(&Environment::from_process(), &AwsClients::from_env().await)?;
    shared::sqs_batch::serve_batches(|event, context| worker.handle(event, context)).await
}
