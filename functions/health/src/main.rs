//! `GET /health`: answers without a store call, so it measures the function
//! itself (cold start, routing) and nothing behind it.

use shared::health::Health;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Health>().await
}
