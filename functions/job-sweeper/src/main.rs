//! Run on a schedule (EventBridge through SQS): sends the jobs whose message
//! was never sent (their route died, or the queue failed, between the two).

use shared::jobs::worker::JobSweeper;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::sqs_batch::run::<JobSweeper>().await
}
