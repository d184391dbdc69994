//! `GET /jobs`: a page of the caller's jobs.

use shared::jobs::routes::ListJobs;
use shared::route::Authenticated;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::route::run::<Authenticated<ListJobs>>().await
}
