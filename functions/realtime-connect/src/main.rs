//! WebSocket $connect: spends the ticket, records the connection or refuses the handshake.

use shared::realtime::routes::Connect;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::realtime::socket::run::<Connect>().await
}
