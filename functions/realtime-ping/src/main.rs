//! WebSocket ping: pong.

use shared::realtime::routes::Ping;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::realtime::socket::run::<Ping>().await
}
