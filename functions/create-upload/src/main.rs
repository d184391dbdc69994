//! `POST /uploads`: records a pending upload and hands out its presigned PUT URL.

use shared::route::Authenticated;
use shared::uploads::routes::CreateUpload;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<CreateUpload>>().await
}
