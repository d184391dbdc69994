//! Uploads on the local stack (moto): a URL, a PUT of the bytes with only the
//! headers the API returned, the S3 event through SQS and the local event
//! source to `upload-events`, the download, the delete; mismatching and
//! ownerless objects; other users; filenames that try to steer the key.
//! (moto does not check signatures: the presigner's signature is proven
//! elsewhere, against an S3 that does.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::sqs_batch::Consumer;
use shared::uploads::events::{Outcome, UploadEvents};
use xtask::stack::StackInfo;

use crate::helpers::{Api, Reply, poll_until, put_bytes};

/// The body of `POST /uploads` for a file.
fn upload(filename: &str, content_type: &str, size: u64) -> Value {
    json!({"filename": filename, "content_type": content_type, "size": size})
}

fn wait_for_status(api: &Api, token: &str, upload_id: &str, wanted: &str) -> Value {
    poll_until(
        &format!("/uploads/{upload_id}"),
        Duration::from_secs(60),
        || api.get_upload(token, upload_id),
        |upload| upload["status"] == wanted,
    )
}

/// The stack's S3 client and the uploads bucket's local name.
async fn bucket() -> (aws_sdk_s3::Client, String) {
    let stack = StackInfo::from_env().unwrap();
    let env = stack.template_environment("create-upload");
    let bucket = env.require("UPLOADS_BUCKET").unwrap().to_string();
    (stack.aws_clients().await.s3().clone(), bucket)
}

async fn object_exists(key: &str) -> bool {
    let (s3, bucket) = bucket().await;
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

async fn put_object_directly(key: &str, bytes: &[u8], content_type: &str) {
    let (s3, bucket) = bucket().await;
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(bytes.to_vec().into())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_goes_from_url_to_ready_to_download_and_away() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();

    // Wrapped in a right-to-left isolate, which the display name drops.
    let created = api.create_upload(
        &token,
        &upload(
            "\u{2067}Report 2026 (final).pdf\u{2069}",
            "application/pdf",
            5000,
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let upload_id = created.body["upload_id"].as_str().unwrap().to_string();
    assert_eq!(created.body["method"], "PUT");
    assert_eq!(
        created.body["headers"],
        json!({
            "Content-Length": "5000",
            "Content-Type": "application/pdf",
            "If-None-Match": "*",
            "X-Amz-Tagging": "upload=pending",
        })
    );
    assert_eq!(
        created.header("location"),
        Some(format!("/uploads/{upload_id}").as_str())
    );
    let pending = api.get_upload(&token, &upload_id);
    assert_eq!(pending.body["status"], "pending");
    assert!(pending.body.get("download_url").is_none());

    assert_eq!(put_bytes(&created.body, &bytes), 200);
    let ready = wait_for_status(&api, &token, &upload_id, "ready");
    assert_eq!(ready["filename"], "Report 2026 (final).pdf");
    assert_eq!(ready["size"], 5000);

    let download = ready["download_url"].as_str().unwrap();
    let disposition = download
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("response-content-disposition="))
        .unwrap();
    assert_eq!(
        percent_encoding::percent_decode_str(disposition).decode_utf8_lossy(),
        shared::uploads::files::attachment("Report 2026 (final).pdf"),
        "the download names the sanitised name"
    );
    assert!(download.contains("X-Amz-Expires=300"));
    let mut response = ureq::get(download).call().unwrap();
    let downloaded = response.body_mut().read_to_vec().unwrap();
    assert_eq!(downloaded, bytes, "the same bytes come back");

    let key = format!("users/{}/uploads/{upload_id}", api.user_id(&token));
    assert!(object_exists(&key).await);
    let (s3, bucket) = bucket().await;
    let tagging = s3
        .get_object_tagging()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tagging
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(
        tags,
        [("upload", "ready")],
        "confirmed objects leave the lifecycle rule for unconfirmed ones"
    );
    let deleted = api.delete_upload(&token, &upload_id);
    assert_eq!(deleted.status, 204);
    assert!(!object_exists(&key).await, "the object is gone");
    let gone = api.get_upload(&token, &upload_id);
    assert_eq!(gone.status, 404);
    let again = api.delete_upload(&token, &upload_id);
    assert_eq!(again.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_that_do_not_match_their_upload_are_rejected_and_deleted() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let user = api.user_id(&token);
    // moto does not enforce the signed length and type, so a mismatching
    // object is written the way a broken or hostile writer would.
    for (size, sent, sent_type) in [(10, 20usize, "text/plain"), (10, 10, "text/html")] {
        let created = api.create_upload(&token, &upload("notes.txt", "text/plain", size));
        let upload_id = created.body["upload_id"].as_str().unwrap().to_string();
        let key = format!("users/{user}/uploads/{upload_id}");
        put_object_directly(&key, &vec![b'x'; sent], sent_type).await;
        let rejected = wait_for_status(&api, &token, &upload_id, "rejected");
        assert!(rejected.get("download_url").is_none());
        assert!(!object_exists(&key).await, "a rejected object is deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_for_unknown_keys_do_no_harm_and_repeats_change_nothing() {
    let stack = StackInfo::from_env().unwrap();
    let confirm = UploadEvents::build(
        &stack.template_environment("upload-events"),
        &stack.aws_clients().await,
    )
    .await
    .unwrap();
    // An object no record names is removed.
    let orphan = format!(
        "users/{}/uploads/{}",
        shared::ids::new_id(),
        shared::ids::new_id()
    );
    put_object_directly(&orphan, b"stray", "text/plain").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while object_exists(&orphan).await {
        assert!(
            Instant::now() < deadline,
            "the orphan object was not removed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        confirm.object_created(&orphan).await.unwrap(),
        Outcome::Orphan
    );
    for foreign in [
        "users/../etc/passwd",
        "other/thing",
        "users/x/uploads/y",
        "",
    ] {
        assert_eq!(
            confirm.object_created(foreign).await.unwrap(),
            Outcome::Unchanged
        );
    }

    // The same event again, once the upload is settled, changes nothing.
    let api = Api::new();
    let (_, token) = api.new_user();
    let created = api.create_upload(&token, &upload("a.txt", "text/plain", 3));
    let upload_id = created.body["upload_id"].as_str().unwrap().to_string();
    assert_eq!(put_bytes(&created.body, b"abc"), 200);
    wait_for_status(&api, &token, &upload_id, "ready");
    let key = format!("users/{}/uploads/{upload_id}", api.user_id(&token));
    for _ in 0..3 {
        assert_eq!(
            confirm.object_created(&key).await.unwrap(),
            Outcome::Unchanged
        );
    }
    assert!(object_exists(&key).await);
    let still = api.get_upload(&token, &upload_id);
    assert_eq!(still.body["status"], "ready");
}

#[test]
fn someone_elses_upload_is_404_everywhere() {
    let api = Api::new();
    let (_, alice) = api.new_user();
    let (_, bob) = api.new_user();
    let created = api.create_upload(&alice, &upload("private.png", "image/png", 10));
    let upload_id = created.body["upload_id"].as_str().unwrap();
    assert_eq!(api.get_upload(&bob, upload_id).status, 404);
    assert_eq!(api.delete_upload(&bob, upload_id).status, 404);
    let list = api.list_uploads(&bob, "");
    assert_eq!(list.body, json!({"uploads": [], "next_cursor": null}));
    assert_eq!(api.get_upload(&alice, upload_id).status, 200);
    for malformed in ["x", "..%2F..%2Fetc", &format!("{upload_id}x")] {
        assert_eq!(
            api.get_upload(&alice, malformed).status,
            404,
            "/uploads/{malformed}"
        );
    }
}

#[test]
fn no_filename_changes_anything_about_the_key() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let user = api.user_id(&token);
    let long = "x".repeat(5000);
    for (filename, shown) in [
        ("../../etc/passwd", "passwd"),
        ("..%2F..%2Fsecret.png", "%2F..%2Fsecret.png"),
        ("a/b\\c.png", "c.png"),
        ("ünïcödé 😀.png", "ünïcödé 😀.png"),
        ("\u{0}\r\n.png", "png"),
        ("invoice\u{202E}gnp.exe", "invoicegnp.exe"),
        (long.as_str(), &"x".repeat(255)),
    ] {
        let created = api.create_upload(&token, &upload(filename, "image/png", 1));
        assert_eq!(created.status, 201, "{filename:?}: {}", created.body);
        let upload_id = created.body["upload_id"].as_str().unwrap();
        let url = created.body["url"].as_str().unwrap();
        let path = url.split_once('?').unwrap().0;
        assert!(
            path.ends_with(&format!("/users/{user}/uploads/{upload_id}")),
            "{filename:?}: {path}"
        );
        let record = api.get_upload(&token, upload_id);
        assert_eq!(record.body["filename"], shown, "{filename:?}");
    }
}

#[test]
fn types_and_sizes_outside_the_policy_are_400() {
    let api = Api::new();
    let (_, token) = api.new_user();
    for (content_type, size, code) in [
        ("text/html", 10, "content_type_not_allowed"),
        ("image/svg+xml", 10, "content_type_not_allowed"),
        ("image/png", 0, "size_out_of_range"),
        ("image/png", 10 * 1024 * 1024 + 1, "size_out_of_range"),
    ] {
        let reply = api.create_upload(&token, &upload("f", content_type, size));
        assert_eq!(reply.status, 400, "{content_type} {size}");
        assert_eq!(reply.body["code"], code);
    }
    assert_eq!(
        api.create_upload(&token, &upload("f", "image/png", 10 * 1024 * 1024))
            .status,
        201
    );
    // No token at all: the request's shape is the subject.
    let no_token = api.send("POST", "/uploads", None, &[], Some("{}"));
    assert_eq!(no_token.status, 401);
}

#[test]
fn uploads_are_listed_in_pages_with_an_opaque_cursor() {
    let api = Api::new();
    let (_, token) = api.new_user();
    let mut ids: Vec<String> = (0..3)
        .map(|i| {
            let reply = api.create_upload(&token, &upload(&format!("f{i}.txt"), "text/plain", 1));
            reply.body["upload_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    let first = api.list_uploads(&token, "limit=2");
    assert_eq!(first.status, 200);
    let page = |reply: &Reply| -> Vec<String> {
        reply.body["uploads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["upload_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(page(&first), ids[..2]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    assert!(!cursor.contains(&ids[1]), "the cursor is opaque");
    let second = api.list_uploads(&token, &format!("limit=2&cursor={cursor}"));
    assert_eq!(page(&second), ids[2..]);
    let rest = second.body["next_cursor"].clone();
    if let Some(cursor) = rest.as_str() {
        let last = api.list_uploads(&token, &format!("cursor={cursor}"));
        assert!(page(&last).is_empty());
    }
    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "cursor=abc",
        "cursor=%00",
    ] {
        let reply = api.list_uploads(&token, bad);
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.body["code"], "invalid_query");
    }
}
