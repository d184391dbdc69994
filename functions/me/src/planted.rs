//! `GET /me` as `src/main.rs` builds it, but with the test-only feature
//! `planted-tmp-session-cache` on: a function with a statelessness bug, for
//! the test that proves the statelessness suite catches one.

use shared::accounts::routes::Me;
use shared::aws::AwsClients;
use shared::config::Environment;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::http::LambdaError> {
    shared::telemetry::init()?;
    let route = Me::new(&Environment::from_process(), &AwsClients::from_env().await).await?;
    shared::http::serve(|request| route.handle(request)).await
}
