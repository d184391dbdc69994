//! Run on a schedule (EventBridge through SQS): moves the access-token
//! signing keys one step along their rotation, or withdraws a compromised
//! key at once (`{"withdraw": "<kid>"}` on its queue).

use shared::accounts::rotation::RotateKeys;
use shared::aws::AwsClients;
use shared::config::Environment;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let rotation = RotateKeys::new(&Environment::from_process(), &AwsClients::from_env().await)?;
    shared::sqs_batch::serve_batches(|event, _| rotation.handle(event)).await
}
