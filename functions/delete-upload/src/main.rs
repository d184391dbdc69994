//! `DELETE /uploads/{upload_id}`: removes the object and the record.

use shared::route::Authenticated;
use shared::uploads::routes::DeleteUpload;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<DeleteUpload>>().await
}
