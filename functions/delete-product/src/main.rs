//! `DELETE /products/{sku}`: deletes a product (role admin).

use shared::catalog::routes::DeleteProduct;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<DeleteProduct>>().await
}
