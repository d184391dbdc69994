//! POST /realtime/tickets: a single-use ticket to open a WebSocket connection.

use shared::accounts::routes::CreateTicket;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<CreateTicket>>().await
}
