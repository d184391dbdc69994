//! `GET /products/{sku}`: one product, with its ETag.

use shared::catalog::routes::GetProduct;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<GetProduct>().await
}
