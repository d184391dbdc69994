//! WebSocket $disconnect: removes the connection's records.

use shared::realtime::routes::Disconnect;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::realtime::socket::run::<Disconnect>().await
}
