//! `GET /uploads/{upload_id}`: one upload, with a download URL once it is ready.

use shared::route::Authenticated;
use shared::uploads::routes::GetUpload;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<GetUpload>>().await
}
