//! `GET /cart`: the caller's cart and its ETag.

use shared::cart::routes::GetCart;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<GetCart>>().await
}
