//! What the end-to-end tests share: the API client, presigned transfers,
//! polling, private queues.

#![allow(dead_code)]

use std::ops::Deref;
use std::time::Duration;

use serde_json::Value;
use xtask::event_sources;
use xtask::stack::StackInfo;

#[allow(unused_imports)]
pub use xtask::client::{Client, PASSWORD, Reply, unique_email};

pub mod spec;

/// The API of the stack that `cargo xtask test` started (or of an
/// instance), with calls that fail the test when no answer comes.
pub struct Api(Client);

impl Deref for Api {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.0
    }
}

impl Api {
    pub fn new() -> Self {
        let stack = StackInfo::from_env().expect("the local stack");
        Self::at(&stack.api_url)
    }

    /// The API served at `base`, e.g. an `Instance`'s `api_url`.
    pub fn at(base: &str) -> Self {
        Self(Client::at(base))
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

    /// Registers a new user and logs in: (email, access token).
    pub fn new_user(&self) -> (String, String) {
        self.register_and_login().unwrap()
    }

    fn pair(reply: Reply) -> (u16, Value) {
        (reply.status, reply.body)
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        Self::pair(self.send("GET", path, token, &[], None))
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        Self::pair(self.send("POST", path, token, &[], Some(&body.to_string())))
    }

    pub fn post_empty(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        Self::pair(self.send("POST", path, token, &[], None))
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        Self::pair(self.send("DELETE", path, token, &[], None))
    }

    /// Refreshes with the refresh cookie, as a page of the API's own origin would.
    pub fn refresh_with_cookie(&self, cookie: &str) -> (u16, Value) {
        self.refresh_with_cookie_from(cookie, &[("sec-fetch-site", "same-origin")])
    }

    /// Refreshes with the refresh cookie and these browser headers (`Origin`, `Sec-Fetch-Site`).
    pub fn refresh_with_cookie_from(&self, cookie: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut all = vec![("cookie", cookie)];
        all.extend_from_slice(headers);
        Self::pair(self.send("POST", "/auth/refresh", None, &all, None))
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

/// PUTs `bytes` to a presigned URL with exactly the headers the API listed.
pub fn put_bytes(created: &Value, bytes: &[u8]) -> u16 {
    xtask::client::put_presigned(created, bytes).unwrap()
}

/// GETs a (presigned) URL: status and body.
pub fn download(url: &str) -> (u16, String) {
    xtask::client::get_url(url).unwrap()
}

/// Calls `fetch` every quarter second until the body of its 200 satisfies
/// `done`, which it returns; fails on any other status, or after `within`.
pub fn poll_until(
    what: &str,
    within: Duration,
    mut fetch: impl FnMut() -> Reply,
    done: impl Fn(&Value) -> bool,
) -> Value {
    xtask::client::poll(what, within, || Ok(fetch()), done).unwrap()
}

/// A queue of the test's own in moto (a fresh name): (url, arn).
pub async fn private_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_seconds: u32,
    dead_letter: Option<(&str, u64)>,
) -> (String, String) {
    event_sources::private_queue(sqs, name, visibility_seconds, dead_letter)
        .await
        .unwrap()
}
