//! The export document's format, [`EXPORT_FORMAT`]: types of its own, apart
//! from the routes' answers, so a change to the API never changes a
//! document users keep. A change here is a new format: bump the version.
//! The unit tests below pin each part; `xtask/tests` pins a whole document.

use serde::Serialize;

use super::records::{JobRecord, JobStatus};
use crate::accounts::sessions::SessionRecord;
use crate::accounts::users::UserProfile;
use crate::cart::store::Cart as CartRecord;
use crate::ids::{JobId, SessionId, UploadId, UserId};
use crate::uploads::records::UploadRecord;

/// The `format` of every export document; bumped when its shape changes.
pub const EXPORT_FORMAT: &str = "stateless-lambda.export.v1";

/// `profile`.
#[derive(Debug, Serialize)]
pub(super) struct Profile {
    user_id: UserId,
    email: String,
    name: Option<String>,
    created_at: String,
}

impl From<UserProfile> for Profile {
    fn from(profile: UserProfile) -> Self {
        Self {
            user_id: profile.user_id,
            email: profile.email,
            name: profile.name,
            created_at: profile.created_at.rfc3339(),
        }
    }
}

/// One of `sessions`.
#[derive(Debug, Serialize)]
pub(super) struct Session {
    session_id: SessionId,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    user_agent: String,
    ip: String,
}

impl From<SessionRecord> for Session {
    fn from(session: SessionRecord) -> Self {
        Self {
            created_at: session.created_at.rfc3339(),
            last_seen_at: session.last_seen_at.rfc3339(),
            expires_at: session.ends_at().rfc3339(),
            session_id: session.session_id,
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}

/// `cart`.
#[derive(Debug, Serialize)]
pub(super) struct Cart {
    items: Vec<CartLine>,
    version: u64,
}

/// One of `cart.items`.
#[derive(Debug, Serialize)]
struct CartLine {
    sku: String,
    quantity: u16,
}

impl From<&CartRecord> for Cart {
    fn from(cart: &CartRecord) -> Self {
        Self {
            items: cart
                .items
                .lines()
                .iter()
                .map(|line| CartLine {
                    sku: line.sku.as_str().to_string(),
                    quantity: line.quantity.get(),
                })
                .collect(),
            version: cart.version,
        }
    }
}

/// One of `uploads`.
#[derive(Debug, Serialize)]
pub(super) struct Upload {
    upload_id: UploadId,
    filename: String,
    content_type: String,
    size: u64,
    status: &'static str,
    created_at: String,
}

impl From<UploadRecord> for Upload {
    fn from(record: UploadRecord) -> Self {
        Self {
            status: record.status.as_str(),
            created_at: record.created_at.rfc3339(),
            upload_id: record.upload_id,
            filename: record.filename,
            content_type: record.content_type,
            size: record.size,
        }
    }
}

/// One of `jobs`.
#[derive(Debug, Serialize)]
pub(super) struct Job {
    job_id: JobId,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    attempts: u32,
    created_at: String,
    updated_at: String,
    /// Why it failed, for a failed job only.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<JobRecord> for Job {
    fn from(record: JobRecord) -> Self {
        Self {
            kind: record.kind.as_str(),
            status: record.status.as_str(),
            attempts: record.attempts,
            created_at: record.created_at.rfc3339(),
            updated_at: record.updated_at.rfc3339(),
            error: match record.status {
                JobStatus::Failed => record.error,
                _ => None,
            },
            job_id: record.job_id,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Value, json};

    use super::*;
    use crate::cart::items::{CartItems, RawLine};
    use crate::jobs::records::JobKind;
    use crate::time::Timestamp;
    use crate::uploads::records::UploadStatus;

    fn shown(value: impl Serialize) -> Value {
        serde_json::to_value(value).unwrap()
    }

    const T: u64 = 1_700_000_000;

    fn at(seconds: u64) -> String {
        Timestamp(seconds).rfc3339()
    }

    #[test]
    fn the_profile_and_a_session_read_as_v1() {
        let profile = UserProfile {
            user_id: "u1".into(),
            email: "ada@example.com".into(),
            name: None,
            created_at: Timestamp(T),
        };
        assert_eq!(
            shown(Profile::from(profile)),
            json!({"user_id": "u1", "email": "ada@example.com", "name": null, "created_at": at(T)})
        );
        let session = SessionRecord {
            user_id: "u1".into(),
            session_id: "s1".into(),
            created_at: Timestamp(T),
            last_seen_at: Timestamp(T + 1),
            user_agent: "curl/8.5".into(),
            ip: "192.0.2.1".into(),
            refresh_nonce: "never shown".into(),
            refresh_generation: 3,
            rotated_at: None,
            idle_expires_at: Timestamp(T + 2),
            expires_at: Timestamp(T + 3),
        };
        let expires_at = session.ends_at().rfc3339();
        assert_eq!(
            shown(Session::from(session)),
            json!({
                "session_id": "s1", "created_at": at(T), "last_seen_at": at(T + 1),
                "expires_at": expires_at, "user_agent": "curl/8.5", "ip": "192.0.2.1",
            })
        );
    }

    #[test]
    fn the_cart_an_upload_and_jobs_read_as_v1() {
        let cart = CartRecord {
            items: CartItems::parse(vec![RawLine::new("MUG-01", 2)]).unwrap(),
            version: 4,
        };
        assert_eq!(
            shown(Cart::from(&cart)),
            json!({"items": [{"sku": "MUG-01", "quantity": 2}], "version": 4})
        );
        let upload = UploadRecord {
            user_id: "u1".into(),
            upload_id: "x1".into(),
            filename: "a.txt".into(),
            content_type: "text/plain".into(),
            size: 3,
            status: UploadStatus::Ready,
            created_at: Timestamp(T),
            expires_at: None,
        };
        assert_eq!(
            shown(Upload::from(upload)),
            json!({
                "upload_id": "x1", "filename": "a.txt", "content_type": "text/plain",
                "size": 3, "status": "ready", "created_at": at(T),
            })
        );
        let mut job = JobRecord::queued(&"u1".into(), &"j1".into(), JobKind::Export, Timestamp(T));
        job.error = Some("only shown once failed".into());
        assert_eq!(
            shown(Job::from(job.clone())),
            json!({
                "job_id": "j1", "type": "export", "status": "queued", "attempts": 0,
                "created_at": at(T), "updated_at": at(T),
            })
        );
        job.status = JobStatus::Failed;
        assert_eq!(
            shown(Job::from(job))["error"],
            json!("only shown once failed")
        );
    }
}
