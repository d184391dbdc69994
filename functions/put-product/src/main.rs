//! `PUT /products/{sku}`: creates or replaces a product (role admin).

use shared::catalog::routes::PutProduct;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<PutProduct>>().await
}
