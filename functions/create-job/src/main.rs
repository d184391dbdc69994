//! `POST /jobs`: records a job and queues its message, at most once per `Idempotency-Key`.

use shared::jobs::routes::CreateJob;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<CreateJob>>().await
}
