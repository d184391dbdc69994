//! WebSocket subscribe: the connection joins a room.

use shared::realtime::routes::Subscribe;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::realtime::socket::run::<Subscribe>().await
}
