//! `GET /cart`: the caller's cart and its ETag.

use shared::cart::routes::GetCart;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<GetCart>().await
}
