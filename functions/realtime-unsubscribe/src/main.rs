//! WebSocket unsubscribe: the connection leaves a room.

use shared::realtime::routes::Unsubscribe;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::realtime::socket::run::<Unsubscribe>().await
}
