//! A small HTTP client of the service's API, for the tests and `cargo xtask
//! prove`: every call returns what happened (a transport failure is an
//! error, any status is an answer) and is counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::{Value, json};

/// The API served at one base URL (a stack's or an instance's `api_url`).
pub struct Client {
    base: String,
    agent: ureq::Agent,
    sent: AtomicU64,
}

/// A response: status, headers and the JSON body (`Null` when there is none).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body when the status is `status`; else an error that names
    /// `what` and shows the reply.
    pub fn expect(self, status: u16, what: &str) -> Result<Value> {
        ensure!(
            self.status == status,
            "{what}: {} {}",
            self.status,
            self.body
        );
        Ok(self.body)
    }

    /// A text field of the body, or an error that shows the reply.
    pub fn text(&self, field: &str) -> Result<String> {
        text(&self.body, field).with_context(|| format!("status {}", self.status))
    }
}

/// A text field of a JSON body, or an error that shows the body.
pub fn text(body: &Value, field: &str) -> Result<String> {
    body[field]
        .as_str()
        .map(String::from)
        .ok_or_else(|| anyhow!("no \"{field}\" in {body}"))
}

/// An HTTP agent that answers any status as a response; `timeout` bounds a
/// whole call.
fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .build()
        .into()
}

/// The password of every user the tests and `prove` make.
pub const PASSWORD: &str = "correct horse battery staple";

/// An email nobody else uses.
pub fn unique_email() -> String {
    format!(
        "user-{}@example.com",
        shared::ids::new_id()
            .to_lowercase()
            .replace(['-', '_'], "x")
    )
}

impl Client {
    pub fn at(base: &str) -> Self {
        Self {
            base: base.to_string(),
            // The first call of a function starts its process.
            agent: agent(Some(Duration::from_secs(60))),
            sent: AtomicU64::new(0),
        }
    }

    /// The base URL it calls.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// How many requests this client has sent.
    pub fn requests(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Any request: method, path, bearer token, extra headers and a JSON
    /// body; a transport failure (refused, reset, timed out) is an error.
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Reply, ureq::Error> {
        let mut all = headers.to_vec();
        if body.is_some() {
            all.insert(0, ("content-type", "application/json"));
        }
        self.try_send_bytes(method, path, token, &all, body.map(str::as_bytes))
    }

    /// Any body as bytes, with exactly the `headers` given (no content type unless among them).
    pub fn try_send_bytes(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Reply, ureq::Error> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body.unwrap_or_default().to_vec())?;
        let mut response = self.agent.run(request)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.body_mut().read_to_string()?;
        Ok(Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        })
    }

    /// `try_send` that expects an answer, as an `anyhow` result.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply> {
        let body = body.map(Value::to_string);
        self.try_send(method, path, token, headers, body.as_deref())
            .with_context(|| format!("{method} {}{path}", self.base))
    }

    /// Registers a new user and logs in: (email, access token).
    pub fn register_and_login(&self) -> Result<(String, String)> {
        let email = unique_email();
        let credentials = json!({"email": email, "password": PASSWORD});
        self.register(&credentials)?;
        let tokens = self.login(&credentials)?;
        Ok((email, text(&tokens, "access_token")?))
    }

    /// Creates the account of `credentials` (`{"email", "password"}`).
    pub fn register(&self, credentials: &Value) -> Result<()> {
        self.call("POST", "/auth/register", None, &[], Some(credentials))?
            .expect(201, "register")
            .map(drop)
    }

    /// Logs in with `credentials`: the answer (tokens and session id).
    pub fn login(&self, credentials: &Value) -> Result<Value> {
        self.call("POST", "/auth/login", None, &[], Some(credentials))?
            .expect(200, "login")
    }
}

/// Calls `fetch` every quarter second until the body of its 200 satisfies
/// `done`, which it returns; an error on any other status, or after `within`.
pub fn poll(
    what: &str,
    within: Duration,
    mut fetch: impl FnMut() -> Result<Reply>,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = Instant::now() + within;
    loop {
        let body = fetch()?.expect(200, what)?;
        if done(&body) {
            return Ok(body);
        }
        if Instant::now() >= deadline {
            bail!("{what}: still {body} after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// PUTs `bytes` to a presigned URL with exactly the headers the API listed
/// (the client derives Content-Length from the body; it must agree).
pub fn put_presigned(created: &Value, bytes: &[u8]) -> Result<u16> {
    let url = created["url"].as_str().context("no url")?;
    let headers = created["headers"].as_object().context("no headers")?;
    let mut request = agent(None).put(url);
    for (name, value) in headers {
        let value = value.as_str().context("a header that is not text")?;
        if name.eq_ignore_ascii_case("content-length") {
            ensure!(value == bytes.len().to_string(), "content-length {value}");
        } else {
            request = request.header(name.as_str(), value);
        }
    }
    Ok(request.send(bytes)?.status().as_u16())
}

/// GETs a (presigned) URL: status and body.
pub fn get_url(url: &str) -> Result<(u16, String)> {
    let mut response = agent(None).get(url).call()?;
    let status = response.status().as_u16();
    Ok((
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    ))
}

/// The `sku` and `quantity` of each line of a priced cart's `items` (what
/// a writer sent), without the prices the catalog adds.
pub fn cart_lines(items: &Value) -> Value {
    Value::Array(
        items
            .as_array()
            .into_iter()
            .flatten()
            .map(|line| serde_json::json!({"sku": line["sku"], "quantity": line["quantity"]}))
            .collect(),
    )
}

/// Skus of the sample catalog (`xtask/seed/catalog.json`) the writers use.
pub const SEEDED_SKUS: &[&str] = &[
    "TSHIRT-S",
    "TSHIRT-M",
    "TSHIRT-L",
    "MUG-01",
    "KETTLE-01",
    "BOOK-RUST",
    "PEN-01",
];
