//! `GET /products`: a page of the catalog, by category, by name or price.

use shared::catalog::routes::ListProducts;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<ListProducts>().await
}
