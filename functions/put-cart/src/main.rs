//! `PUT /cart`: replaces the cart if it is still at the `If-Match` version.

use shared::cart::routes::PutCart;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<PutCart>>().await
}
