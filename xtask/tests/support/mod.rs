//! A small HTTP client for the end-to-end tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;

use serde_json::{Value, json};
use ureq::http::Response;
use xtask::pump::Mapping;
use xtask::stack::StackInfo;

pub mod load;
pub mod spec;

/// The API of the stack that `cargo xtask test` started (or of an instance).
pub struct Api {
    base: String,
    agent: ureq::Agent,
}

/// A response: status, headers and the JSON body (`Null` when there is none).
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
}

/// The password of every test user.
pub const PASSWORD: &str = "correct horse battery staple";

/// An email no other test uses.
pub fn unique_email() -> String {
    format!(
        "user-{}@example.com",
        shared::ids::new_id()
            .to_lowercase()
            .replace(['-', '_'], "x")
    )
}

impl Api {
    pub fn new() -> Self {
        let stack = StackInfo::from_env().expect("the local stack");
        Self::at(&stack.api_url)
    }

    /// The API served at `base`, e.g. an `Instance`'s `api_url`.
    pub fn at(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // The first call of a function starts its process.
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Self {
            base: base.to_string(),
            agent,
        }
    }

    /// Any request: method, path, bearer token, extra headers and a JSON body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        self.try_send(method, path, token, headers, body).unwrap()
    }

    /// `send`, with a transport failure (refused, reset, timed out) as an error.
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
    pub fn send_bytes(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        self.try_send_bytes(method, path, token, headers, Some(body))
            .unwrap()
    }

    fn try_send_bytes(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Reply, ureq::Error> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body.unwrap_or_default().to_vec()).unwrap();
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

    /// Registers a new user and logs in: (email, access token).
    pub fn new_user(&self) -> (String, String) {
        let email = unique_email();
        assert_eq!(self.register(&email), 201);
        let tokens = self.login(&email, PASSWORD);
        (email, tokens["access_token"].as_str().unwrap().to_string())
    }

    fn json(mut response: Response<ureq::Body>) -> (u16, Value) {
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn raw_get(&self, path: &str, token: Option<&str>) -> Response<ureq::Body> {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.call().unwrap()
    }

    pub fn raw_post(&self, path: &str, token: Option<&str>, body: &str) -> Response<ureq::Body> {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send(body).unwrap()
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        Self::json(self.raw_get(path, token))
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        Self::json(self.raw_post(path, token, &body.to_string()))
    }

    pub fn post_empty(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.agent.post(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        Self::json(request.send_empty().unwrap())
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.agent.delete(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        Self::json(request.call().unwrap())
    }

    pub fn refresh_with_cookie(&self, cookie: &str) -> (u16, Value) {
        let response = self
            .agent
            .post(format!("{}/auth/refresh", self.base))
            .header("cookie", cookie)
            .send_empty()
            .unwrap();
        Self::json(response)
    }

    /// Registers `email` with the tests' password; the status.
    pub fn register(&self, email: &str) -> u16 {
        let body = serde_json::json!({"email": email, "password": PASSWORD});
        self.post("/auth/register", None, &body).0
    }

    /// Logs in; the token response (panics unless 200).
    pub fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) = self.post(
            "/auth/login",
            None,
            &serde_json::json!({"email": email, "password": password}),
        );
        assert_eq!(status, 200, "login: {body}");
        body
    }
}

/// PUTs `bytes` to a presigned URL with exactly the headers the API listed
/// (the client derives Content-Length from the body; it must agree).
pub fn put_bytes(created: &Value, bytes: &[u8]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.put(created["url"].as_str().unwrap());
    for (name, value) in created["headers"].as_object().unwrap() {
        let value = value.as_str().unwrap();
        if name.eq_ignore_ascii_case("content-length") {
            assert_eq!(value, bytes.len().to_string());
        } else {
            request = request.header(name.as_str(), value);
        }
    }
    request.send(bytes).unwrap().status().as_u16()
}

/// GETs a (presigned) URL: status and body.
pub fn download(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// Calls `fetch` every quarter second until the body of its 200 satisfies
/// `done`, which it returns; fails on any other status, or after `within`.
pub fn poll_until(
    what: &str,
    within: Duration,
    mut fetch: impl FnMut() -> Reply,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let reply = fetch();
        assert_eq!(reply.status, 200, "{what}: {}", reply.body);
        if done(&reply.body) {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {} after {within:?}",
            reply.body
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A queue of the test's own in moto (a fresh name): (url, arn).
pub async fn private_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_seconds: u32,
    dead_letter: Option<(&str, u64)>,
) -> (String, String) {
    let mut request = sqs
        .create_queue()
        .queue_name(format!(
            "{name}-{}",
            shared::ids::new_id().replace(['-', '_'], "x")
        ))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_seconds.to_string(),
        );
    if let Some((arn, max_receive_count)) = dead_letter {
        let policy = json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count});
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = request.send().await.unwrap().queue_url.unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

/// How the pump plays `queue` to `function` of the instance at `api_url`.
pub fn queue_mapping(queue: &(String, String), function: &str, api_url: &str) -> Mapping {
    Mapping {
        queue_url: queue.0.clone(),
        queue_arn: queue.1.clone(),
        function: function.to_string(),
        invoke_url: format!("{api_url}/2015-03-31/functions/{function}/invocations"),
        batch_size: 10,
        report_batch_item_failures: true,
    }
}
