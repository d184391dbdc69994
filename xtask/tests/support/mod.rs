//! A small HTTP client for the end-to-end tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;
use ureq::http::Response;
use xtask::stack::StackInfo;

/// The API of the stack that `cargo xtask test` started.
pub struct Api {
    base: String,
    agent: ureq::Agent,
}

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
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // The first call of a function starts its process.
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Self {
            base: stack.api_url,
            agent,
        }
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
        let body = serde_json::json!({"email": email, "password": "correct horse battery staple"});
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
