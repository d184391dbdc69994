//! WebSocket $default: an error frame for a frame that names no route.

use shared::realtime::routes::DefaultRoute;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::realtime::socket::run::<DefaultRoute>().await
}
