//! `GET /uploads`: a page of the caller's uploads.

use shared::route::Authenticated;
use shared::uploads::routes::ListUploads;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<ListUploads>>().await
}
