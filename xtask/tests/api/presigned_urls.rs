//! The project's own presigner against an S3 that checks signatures
//! (`s3s-fs`, which this test starts on loopback and stops): the upload it
//! signed succeeds and downloads intact; a wrong length, a wrong type, a
//! tampered URL and an expired URL are each refused by S3 itself, and leave
//! no object behind; a second signed PUT cannot overwrite the object
//! (`If-None-Match: *`). moto cannot prove this: it checks no signature.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use shared::presign::{PresignedRequest, Presigner};
use xtask::process::{Managed, Output};
use xtask::stack::{StackInfo, free_port};
use xtask::tools::Tools;

const ACCESS_KEY: &str = "presign-test";
const SECRET_KEY: &str = "presign-test-secret-key";
const BUCKET: &str = "uploads-under-test";

/// s3s-fs on a free loopback port over a fresh folder; stopped on drop.
struct SignatureCheckingS3 {
    endpoint: String,
    root: PathBuf,
    _process: Managed,
}

impl SignatureCheckingS3 {
    fn start() -> Self {
        let stack = StackInfo::from_env().unwrap();
        let root = stack
            .logs_dir
            .join(format!("s3s-fs-{}", shared::ids::new_id()));
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let port = free_port().unwrap();
        let tools = Tools::new(&xtask::workspace_root());
        let mut command = std::process::Command::new(tools.s3s_fs());
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root);
        let mut process = Managed::spawn("s3s-fs", &mut command, &stack.logs_dir, Output::LogFile)
            .expect("s3s-fs starts (cargo xtask install builds it)");
        process
            .wait_for_port(
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                Duration::from_secs(30),
            )
            .unwrap();
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
            _process: process,
        }
    }

    fn presigner(&self, secret: &str) -> Presigner {
        let credentials = Credentials::new(ACCESS_KEY, secret, None, None, "test");
        Presigner::new(
            SharedCredentialsProvider::new(credentials),
            "us-east-1",
            BUCKET,
            Some(&self.endpoint),
        )
    }

    fn stored(&self, key: &str) -> bool {
        self.root.join(BUCKET).join(key).exists()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// PUTs `body` to `url` with `headers`, except that the client itself sets
/// Content-Length from the body, as any HTTP client does.
fn put(url: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    let mut request = agent().put(url);
    for (name, value) in headers {
        if name != "content-length" {
            request = request.header(name.as_str(), value.as_str());
        }
    }
    request.send(body).unwrap().status().as_u16()
}

fn with_header(signed: &PresignedRequest, name: &str, value: &str) -> Vec<(String, String)> {
    signed
        .headers
        .iter()
        .map(|(n, v)| {
            let v = if n == name { value } else { v.as_str() };
            (n.clone(), v.to_string())
        })
        .collect()
}

#[tokio::test]
async fn s3_refuses_every_upload_but_the_signed_one() {
    let s3 = SignatureCheckingS3::start();
    let presigner = s3.presigner(SECRET_KEY);
    let body = b"%PDF-1.7 exactly these bytes".to_vec();
    let ten_minutes = Duration::from_secs(600);
    let sign = |key: &'static str, at: SystemTime| {
        let presigner = presigner.clone();
        let length = body.len() as u64;
        async move {
            presigner
                .put(
                    key,
                    "application/pdf",
                    length,
                    "upload=pending",
                    ten_minutes,
                    at,
                )
                .await
                .unwrap()
        }
    };

    let signed = sign("users/a/uploads/wrong-length", SystemTime::now()).await;
    let longer = [body.as_slice(), b"!"].concat();
    assert_eq!(put(&signed.url, &signed.headers, &longer), 403);
    assert!(!s3.stored("users/a/uploads/wrong-length"));

    let signed = sign("users/a/uploads/wrong-type", SystemTime::now()).await;
    let html = with_header(&signed, "content-type", "text/html");
    assert_eq!(put(&signed.url, &html, &body), 403);
    assert!(!s3.stored("users/a/uploads/wrong-type"));

    let signed = sign("users/a/uploads/tampered", SystemTime::now()).await;
    let steered = signed
        .url
        .replace("/uploads/tampered", "/uploads/elsewhere");
    let status = put(&steered, &signed.headers, &body);
    assert!(
        (400..500).contains(&status),
        "another key with the same signature: {status}"
    );
    let mut forged = signed.url.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let status = put(&forged, &signed.headers, &body);
    assert!(
        (400..500).contains(&status),
        "a changed signature: {status}"
    );
    assert!(!s3.stored("users/a/uploads/tampered") && !s3.stored("users/a/uploads/elsewhere"));

    let twenty_minutes_ago = SystemTime::now() - Duration::from_secs(1200);
    let signed = sign("users/a/uploads/expired", twenty_minutes_ago).await;
    assert_eq!(put(&signed.url, &signed.headers, &body), 403);
    assert!(!s3.stored("users/a/uploads/expired"));

    let wrong_key = s3.presigner("not-the-secret");
    let signed = wrong_key
        .put(
            "users/a/uploads/foreign",
            "application/pdf",
            body.len() as u64,
            "upload=pending",
            ten_minutes,
            SystemTime::now(),
        )
        .await
        .unwrap();
    assert_eq!(put(&signed.url, &signed.headers, &body), 403);

    let signed = sign("users/a/uploads/right", SystemTime::now()).await;
    assert_eq!(put(&signed.url, &signed.headers, &body), 200);
    assert!(s3.stored("users/a/uploads/right"));
    // A second URL for the same key cannot replace what is there.
    let again = sign("users/a/uploads/right", SystemTime::now()).await;
    let other_bytes = vec![b'!'; body.len()];
    assert_eq!(put(&again.url, &again.headers, &other_bytes), 412);

    let download = presigner
        .get(
            "users/a/uploads/right",
            &shared::uploads::files::attachment("résumé.pdf"),
            Duration::from_secs(300),
            SystemTime::now(),
        )
        .await
        .unwrap();
    let mut response = agent().get(&download.url).call().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_mut().read_to_vec().unwrap(), body);
    let mut tampered = agent()
        .get(download.url.replace("r_sum_", "evil_"))
        .call()
        .unwrap();
    assert!(
        tampered.status().is_client_error(),
        "the download name is signed too: {}",
        tampered.body_mut().read_to_string().unwrap_or_default()
    );
}
