//! `GET /app/{file}`: the web client, served from the API's own origin so
//! that its page may use the `SameSite=Strict` refresh cookie.

use shared::web_client::WebClient;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<WebClient>().await
}
