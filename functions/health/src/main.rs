//! `GET /health`: answers without a store call, so it measures the function
//! itself (cold start, routing) and nothing behind it.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    shared::http::serve(shared::health::handle).await
}
