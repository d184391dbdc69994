//! The `export` job: everything the service holds about one user (profile,
//! sessions, cart, uploads, jobs) as one JSON document in S3. The reads run
//! concurrently; the document is built in memory and written in one call.

use serde::Serialize;

use super::exports::{ExportObjects, export_key};
use super::records::{JobRecord, JobStore};
use super::routes::JobView;
use crate::accounts::routes::{SessionView, StartupError, UserView, session_store, user_store};
use crate::accounts::sessions::SessionStore;
use crate::accounts::users::UserStore;
use crate::aws::{AwsClients, StoreError};
use crate::cart::routes::{CartView, cart_store};
use crate::cart::store::CartStore;
use crate::config::Environment;
use crate::time::Timestamp;
use crate::uploads::records::UploadStore;
use crate::uploads::routes::{UploadView, upload_store};

/// The `format` of every export document; bumped when its shape changes.
pub const EXPORT_FORMAT: &str = "stateless-lambda.export.v1";

#[derive(Serialize)]
struct ExportDocument<'a> {
    format: &'static str,
    exported_at: String,
    user_id: &'a str,
    profile: Option<UserView>,
    sessions: Vec<SessionView>,
    cart: CartView<'a>,
    uploads: Vec<UploadView>,
    jobs: Vec<JobView>,
}

/// Writes export documents.
pub struct Exporter {
    users: UserStore,
    sessions: SessionStore,
    carts: CartStore,
    uploads: UploadStore,
    jobs: JobStore,
    objects: ExportObjects,
}

impl Exporter {
    /// Built from the tables it reads and `EXPORTS_BUCKET`.
    pub fn new(env: &Environment, aws: &AwsClients, jobs: JobStore) -> Result<Self, StartupError> {
        Ok(Self {
            users: user_store(env, aws)?,
            sessions: session_store(env, aws)?,
            carts: cart_store(env, aws)?,
            uploads: upload_store(env, aws)?,
            jobs,
            objects: ExportObjects::new(aws.s3().clone(), env.require("EXPORTS_BUCKET")?),
        })
    }

    /// Gathers `job`'s user's data and writes the document; its key.
    pub async fn export(&self, job: &JobRecord, now: Timestamp) -> Result<String, StoreError> {
        let user_id = job.user_id.as_str();
        let (profile, sessions, cart, uploads, jobs) = tokio::try_join!(
            self.users.profile(user_id),
            self.sessions.list(user_id, now),
            self.carts.get(user_id),
            self.uploads.all(user_id, now),
            self.jobs.all(user_id, now),
        )?;
        let document = ExportDocument {
            format: EXPORT_FORMAT,
            exported_at: now.rfc3339(),
            user_id,
            profile: profile.map(UserView::from),
            sessions: sessions
                .into_iter()
                .map(|s| SessionView::of(s, None))
                .collect(),
            cart: CartView::of(&cart),
            uploads: uploads
                .into_iter()
                .map(|u| UploadView::of(u, None))
                .collect(),
            jobs: jobs.into_iter().map(|j| JobView::of(j, None)).collect(),
        };
        let body = serde_json::to_vec_pretty(&document)
            .map_err(|e| StoreError::corrupt("export", e.to_string()))?;
        let key = export_key(user_id, &job.job_id);
        self.objects.put(&key, body).await?;
        Ok(key)
    }
}
