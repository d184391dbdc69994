//! The `export` job: everything the service holds about one user (profile,
//! sessions, cart, uploads, jobs) as one JSON document in S3.
//!
//! The document is written as it is read, never held whole: the profile,
//! the cart and the first page of each list are read concurrently, the rest
//! of each list a page at a time when the document reaches it, and every
//! record goes on to the upload as soon as it is read (see `exports` for how
//! the upload sends it in parts). A worker holds about one part of the
//! document and one page of each list, however much the user has.

use std::future::Future;

use serde::Serialize;

use super::export_bucket::{ExportObjects, ExportUpload, export_key};
use super::export_format::{self as format, EXPORT_FORMAT};
use super::records::JobRecord;
use super::store::JobStore;
use crate::accounts::routes::{StartupError, session_store, user_store};
use crate::accounts::sessions::SessionStore;
use crate::accounts::users::UserStore;
use crate::aws::{AwsClients, Page, StoreError};
use crate::cart::routes::cart_store;
use crate::cart::store::CartStore;
use crate::config::Environment;
use crate::ids::UserId;
use crate::time::Timestamp;
use crate::uploads::records::UploadStore;
use crate::uploads::routes::upload_store;

/// How many records of a list one read brings.
const PAGE_ITEMS: u32 = 100;

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

    /// Writes the document of `job`'s user; its key. A document that
    /// cannot be finished leaves nothing behind (its upload is aborted).
    pub async fn export(&self, job: &JobRecord, now: Timestamp) -> Result<String, StoreError> {
        let key = export_key(&job.user_id, &job.job_id);
        let mut upload = self.objects.upload(&key);
        // On the heap: the reads in flight make a large future, too large
        // for a small stack in debug builds.
        let written = Box::pin(self.write(&job.user_id, now, &mut upload)).await;
        if let Err(error) = written {
            upload.abort().await;
            return Err(error);
        }
        let parts = upload.finish().await?;
        tracing::info!(job_id = %job.job_id, parts, "export written");
        Ok(key)
    }

    async fn write(
        &self,
        user_id: &UserId,
        now: Timestamp,
        upload: &mut ExportUpload<'_>,
    ) -> Result<(), StoreError> {
        let (profile, cart, sessions, uploads, jobs) = tokio::try_join!(
            self.users.profile(user_id),
            self.carts.get(user_id),
            self.sessions.page(user_id, PAGE_ITEMS, None, now),
            self.uploads.list(user_id, PAGE_ITEMS, None, now),
            self.jobs.list(user_id, PAGE_ITEMS, None, now),
        )?;
        let mut document = ExportWriter {
            text: DocumentText::default(),
            piece: Vec::new(),
            upload,
        };
        document.field("format", &EXPORT_FORMAT).await?;
        document.field("exported_at", &now.rfc3339()).await?;
        document.field("user_id", &user_id).await?;
        document
            .field("profile", &profile.map(format::Profile::from))
            .await?;
        document
            .list(
                "sessions",
                sessions,
                |after| async move {
                    self.sessions
                        .page(user_id, PAGE_ITEMS, Some(&after), now)
                        .await
                },
                format::Session::from,
            )
            .await?;
        document.field("cart", &format::Cart::from(&cart)).await?;
        document
            .list(
                "uploads",
                uploads,
                |after| async move {
                    self.uploads
                        .list(user_id, PAGE_ITEMS, Some(&after), now)
                        .await
                },
                format::Upload::from,
            )
            .await?;
        document
            .list(
                "jobs",
                jobs,
                |after| async move { self.jobs.list(user_id, PAGE_ITEMS, Some(&after), now).await },
                format::Job::from,
            )
            .await?;
        document.end().await
    }
}

/// The document going into its upload, one piece at a time.
struct ExportWriter<'u, 'o> {
    text: DocumentText,
    /// The piece being written (one field or list item), reused.
    piece: Vec<u8>,
    upload: &'u mut ExportUpload<'o>,
}

impl ExportWriter<'_, '_> {
    async fn field(&mut self, name: &str, value: &impl Serialize) -> Result<(), StoreError> {
        self.piece.clear();
        self.text
            .field(&mut self.piece, name, value)
            .map_err(unwritable)?;
        self.upload.write(&self.piece).await
    }

    /// The list `name`: the records of `first`, then of each page `next`
    /// reads after it, each shown as `view` shows it.
    async fn list<T, V, Next, Read>(
        &mut self,
        name: &str,
        first: Page<T>,
        next: Next,
        view: impl Fn(T) -> V,
    ) -> Result<(), StoreError>
    where
        V: Serialize,
        Next: Fn(String) -> Read,
        Read: Future<Output = Result<Page<T>, StoreError>>,
    {
        self.piece.clear();
        self.text
            .open_list(&mut self.piece, name)
            .map_err(unwritable)?;
        self.upload.write(&self.piece).await?;
        let mut page = first;
        loop {
            for record in page.items {
                self.piece.clear();
                self.text
                    .item(&mut self.piece, &view(record))
                    .map_err(unwritable)?;
                self.upload.write(&self.piece).await?;
            }
            match page.next_after {
                Some(after) => page = next(after).await?,
                None => break,
            }
        }
        self.piece.clear();
        self.text.close_list(&mut self.piece);
        self.upload.write(&self.piece).await
    }

    async fn end(mut self) -> Result<(), StoreError> {
        self.piece.clear();
        self.text.end(&mut self.piece);
        self.upload.write(&self.piece).await
    }
}

fn unwritable(error: serde_json::Error) -> StoreError {
    StoreError::caused_by("export", error)
}

/// One JSON object written a field, or a list item, at a time, in serde_json's
/// pretty layout (two spaces a level): byte for byte what
/// `serde_json::to_vec_pretty` makes of the whole object, without the whole.
#[derive(Debug, Default)]
struct DocumentText {
    /// Fields written so far.
    fields: usize,
    /// Items of the open list written so far.
    items: usize,
}

impl DocumentText {
    /// The field `name` with `value`.
    fn field(
        &mut self,
        out: &mut Vec<u8>,
        name: &str,
        value: &impl Serialize,
    ) -> Result<(), serde_json::Error> {
        self.key(out, name)?;
        nested(out, value, 1)
    }

    /// The field `name` as a list whose items follow.
    fn open_list(&mut self, out: &mut Vec<u8>, name: &str) -> Result<(), serde_json::Error> {
        self.key(out, name)?;
        out.push(b'[');
        self.items = 0;
        Ok(())
    }

    /// The next item of the open list.
    fn item(&mut self, out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), serde_json::Error> {
        out.extend_from_slice(if self.items == 0 { b"\n" } else { b",\n" });
        out.extend_from_slice(&INDENT.repeat(2));
        self.items += 1;
        nested(out, value, 2)
    }

    /// The end of the open list.
    fn close_list(&mut self, out: &mut Vec<u8>) {
        if self.items > 0 {
            out.push(b'\n');
            out.extend_from_slice(INDENT);
        }
        out.push(b']');
    }

    /// The end of the object.
    fn end(&mut self, out: &mut Vec<u8>) {
        if self.fields == 0 {
            out.push(b'{');
        } else {
            out.push(b'\n');
        }
        out.push(b'}');
    }

    fn key(&mut self, out: &mut Vec<u8>, name: &str) -> Result<(), serde_json::Error> {
        out.extend_from_slice(if self.fields == 0 { b"{\n" } else { b",\n" });
        out.extend_from_slice(INDENT);
        serde_json::to_writer(&mut *out, name)?;
        out.extend_from_slice(b": ");
        self.fields += 1;
        Ok(())
    }
}

/// One level of indentation.
const INDENT: &[u8] = b"  ";

/// `value` pretty-printed as it is `depth` levels down: every line after
/// its first indented by that much (a JSON string holds no raw newline, so
/// every newline is the layout's).
fn nested(
    out: &mut Vec<u8>,
    value: &impl Serialize,
    depth: usize,
) -> Result<(), serde_json::Error> {
    let text = serde_json::to_vec_pretty(value)?;
    let indent = INDENT.repeat(depth);
    let mut lines = text.split(|&b| b == b'\n');
    if let Some(first) = lines.next() {
        out.extend_from_slice(first);
    }
    for line in lines {
        out.push(b'\n');
        out.extend_from_slice(&indent);
        out.extend_from_slice(line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Line {
        sku: &'static str,
        quantity: u32,
        tags: Vec<&'static str>,
    }

    #[derive(Serialize)]
    struct Whole {
        format: &'static str,
        owner: Option<&'static str>,
        nobody: Option<&'static str>,
        lines: Vec<Line>,
        nothing: Vec<Line>,
        cart: Line,
        tricky: Vec<&'static str>,
    }

    fn line(sku: &'static str, tags: Vec<&'static str>) -> Line {
        Line {
            sku,
            quantity: 2,
            tags,
        }
    }

    /// `whole` written by `DocumentText` a field and an item at a time.
    fn piecewise(whole: Whole) -> Vec<u8> {
        let mut text = DocumentText::default();
        let mut out = Vec::new();
        text.field(&mut out, "format", &whole.format).unwrap();
        text.field(&mut out, "owner", &whole.owner).unwrap();
        text.field(&mut out, "nobody", &whole.nobody).unwrap();
        for (name, list) in [("lines", whole.lines), ("nothing", whole.nothing)] {
            text.open_list(&mut out, name).unwrap();
            for item in list {
                text.item(&mut out, &item).unwrap();
            }
            text.close_list(&mut out);
        }
        text.field(&mut out, "cart", &whole.cart).unwrap();
        text.open_list(&mut out, "tricky").unwrap();
        for item in whole.tricky {
            text.item(&mut out, &item).unwrap();
        }
        text.close_list(&mut out);
        text.end(&mut out);
        out
    }

    fn sample() -> Whole {
        Whole {
            format: EXPORT_FORMAT,
            owner: Some("u1"),
            nobody: None,
            lines: vec![line("A-1", vec!["x", "y"]), line("B-2", vec![])],
            nothing: vec![],
            cart: line("C-3", vec!["z"]),
            tricky: vec!["new\nline \"quoted\" \u{1F4C4}", "{\"not\": [\"json\"]}"],
        }
    }

    #[test]
    fn a_document_written_in_pieces_is_the_document_written_whole() {
        let whole = serde_json::to_vec_pretty(&sample()).unwrap();
        assert_eq!(
            String::from_utf8(piecewise(sample())).unwrap(),
            String::from_utf8(whole).unwrap()
        );
    }

    #[test]
    fn the_layout_is_serde_jsons_pretty_one() {
        let mut text = DocumentText::default();
        let mut out = Vec::new();
        text.field(&mut out, "a", &1).unwrap();
        text.open_list(&mut out, "b").unwrap();
        text.item(&mut out, &serde_json::json!({"c": [1]})).unwrap();
        text.close_list(&mut out);
        text.open_list(&mut out, "d").unwrap();
        text.close_list(&mut out);
        text.end(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n  \"a\": 1,\n  \"b\": [\n    {\n      \"c\": [\n        1\n      ]\n    }\n  ],\n  \"d\": []\n}"
        );
    }

    #[test]
    fn an_object_of_no_fields_is_empty_braces() {
        let mut out = Vec::new();
        DocumentText::default().end(&mut out);
        assert_eq!(out, b"{}");
    }
}
