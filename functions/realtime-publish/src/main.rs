//! WebSocket publish: a message to every connection of a room.

use shared::realtime::routes::Publish;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::realtime::socket::run::<Publish>().await
}
