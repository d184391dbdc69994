//! `GET /jobs/{job_id}`: one job, with a download URL once an export succeeded.

use shared::jobs::routes::GetJob;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<GetJob>>().await
}
