//! The jobs queue's consumer: claims each job, runs it, finishes it; only
//! the messages that failed are reported back (`ReportBatchItemFailures`).

use shared::jobs::worker::JobWorker;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::sqs_batch::run::<JobWorker>().await
}
