//! Run on a schedule (EventBridge through SQS): moves the access-token
//! signing keys one step along their rotation, or withdraws a compromised
//! key at once (`{"withdraw": "<kid>"}` on its queue).

use shared::accounts::rotation::RotateKeys;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::sqs_batch::run::<RotateKeys>().await
}
