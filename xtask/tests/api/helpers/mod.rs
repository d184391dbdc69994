//! What the end-to-end tests share: the API client with one method per
//! route, presigned transfers, polling, private queues.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
use xtask::event_sources;
use xtask::stack::StackInfo;

pub use xtask::client::{PASSWORD, Reply, unique_email};

pub mod spec;

/// The API of the stack that `cargo xtask test` started (or of an
/// instance), with calls that fail the test when no answer comes.
///
/// Each route has a method named after its function in `template.yaml`,
/// which answers the route's `Reply` whatever its status; `send` is for
/// tests whose subject is the request itself (a header left out, a
/// malformed body, no token).
pub struct Api(xtask::client::Client);

impl Deref for Api {
    type Target = xtask::client::Client;

    fn deref(&self) -> &xtask::client::Client {
        &self.0
    }
}

/// `{"email", "password"}` for `email` with the tests' password, as
/// register and login take them.
pub fn credentials(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD})
}

impl Api {
    pub fn new() -> Self {
        let stack = StackInfo::from_env().expect("the local stack");
        Self::at(&stack.api_url)
    }

    /// The API served at `base`, e.g. an `Instance`'s `api_url`.
    pub fn at(base: &str) -> Self {
        Self(xtask::client::Client::at(base))
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

    fn get(&self, path: &str, token: &str) -> Reply {
        self.send("GET", path, Some(token), &[], None)
    }

    fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send("POST", path, token, &[], Some(&body.to_string()))
    }

    fn post_empty(&self, path: &str, token: &str) -> Reply {
        self.send("POST", path, Some(token), &[], None)
    }

    fn delete(&self, path: &str, token: &str) -> Reply {
        self.send("DELETE", path, Some(token), &[], None)
    }

    /// Registers a new user and logs in: (email, access token).
    pub fn new_user(&self) -> (String, String) {
        self.register_and_login().unwrap()
    }

    /// Registers a new email with the tests' password (201, or the test
    /// fails): the email.
    pub fn new_account(&self) -> String {
        let email = unique_email();
        let created = self.register(&credentials(&email));
        assert_eq!(created.status, 201, "register: {}", created.body);
        email
    }

    /// Logs `email` in with the tests' password (200, or the test fails):
    /// the tokens and the session id.
    pub fn login_as(&self, email: &str) -> Value {
        let login = self.login(&credentials(email));
        assert_eq!(login.status, 200, "login: {}", login.body);
        login.body
    }

    /// The user id behind an access token (its `sub`), from `GET /me`.
    pub fn user_id(&self, token: &str) -> String {
        self.me(token).body["user_id"].as_str().unwrap().to_string()
    }

    /// `GET /health`.
    pub fn health(&self) -> Reply {
        self.send("GET", "/health", None, &[], None)
    }

    /// `POST /auth/register` with `body` (`{"email", "password", "name"?}`).
    pub fn register(&self, body: &Value) -> Reply {
        self.post("/auth/register", None, body)
    }

    /// `POST /auth/login` with `credentials` (`{"email", "password"}`).
    pub fn login(&self, credentials: &Value) -> Reply {
        self.post("/auth/login", None, credentials)
    }

    /// `POST /auth/refresh` with the refresh token in the body.
    pub fn refresh(&self, refresh_token: &str) -> Reply {
        self.post(
            "/auth/refresh",
            None,
            &json!({"refresh_token": refresh_token}),
        )
    }

    /// `POST /auth/refresh` with the refresh cookie, as a page of the API's
    /// own origin would send it.
    pub fn refresh_with_cookie(&self, cookie: &str) -> Reply {
        self.refresh_with_cookie_from(cookie, &[("sec-fetch-site", "same-origin")])
    }

    /// `POST /auth/refresh` with the refresh cookie and these browser
    /// headers (`Origin`, `Sec-Fetch-Site`).
    pub fn refresh_with_cookie_from(&self, cookie: &str, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![("cookie", cookie)];
        all.extend_from_slice(headers);
        self.send("POST", "/auth/refresh", None, &all, None)
    }

    /// `POST /auth/logout`.
    pub fn logout(&self, token: &str) -> Reply {
        self.post_empty("/auth/logout", token)
    }

    /// `POST /realtime/tickets`.
    pub fn create_realtime_ticket(&self, token: &str) -> Reply {
        self.post_empty("/realtime/tickets", token)
    }

    /// `POST /auth/logout-all`.
    pub fn logout_all(&self, token: &str) -> Reply {
        self.post_empty("/auth/logout-all", token)
    }

    /// `GET /auth/sessions`.
    pub fn list_sessions(&self, token: &str) -> Reply {
        self.get("/auth/sessions", token)
    }

    /// `DELETE /auth/sessions/{session_id}`.
    pub fn delete_session(&self, token: &str, session_id: &str) -> Reply {
        self.delete(&format!("/auth/sessions/{session_id}"), token)
    }

    /// `GET /me`.
    pub fn me(&self, token: &str) -> Reply {
        self.get("/me", token)
    }

    /// `GET /.well-known/jwks.json`.
    pub fn jwks(&self) -> Reply {
        self.send("GET", "/.well-known/jwks.json", None, &[], None)
    }

    /// `GET /cart`.
    pub fn get_cart(&self, token: &str) -> Reply {
        self.get("/cart", token)
    }

    /// `PUT /cart` with `If-Match: <if_match>` (an ETag, or a list of them).
    pub fn put_cart(&self, token: &str, if_match: &str, body: &Value) -> Reply {
        self.send(
            "PUT",
            "/cart",
            Some(token),
            &[("if-match", if_match)],
            Some(&body.to_string()),
        )
    }

    /// `GET /products?<query>` (`category`, `sort`, `limit`, `cursor`); public.
    pub fn list_products(&self, query: &str) -> Reply {
        self.send("GET", &format!("/products?{query}"), None, &[], None)
    }

    /// `GET /products/{sku}`; public.
    pub fn get_product(&self, sku: &str) -> Reply {
        self.send("GET", &format!("/products/{sku}"), None, &[], None)
    }

    /// `PUT /products/{sku}` with `body` (`{"name", "price", "category"}`).
    pub fn put_product(&self, token: &str, sku: &str, body: &Value) -> Reply {
        self.send(
            "PUT",
            &format!("/products/{sku}"),
            Some(token),
            &[],
            Some(&body.to_string()),
        )
    }

    /// `DELETE /products/{sku}`.
    pub fn delete_product(&self, token: &str, sku: &str) -> Reply {
        self.delete(&format!("/products/{sku}"), token)
    }

    /// `POST /uploads` with `body` (`{"filename", "content_type", "size"}`).
    pub fn create_upload(&self, token: &str, body: &Value) -> Reply {
        self.post("/uploads", Some(token), body)
    }

    /// `GET /uploads?<query>` (`limit`, `cursor`), or `GET /uploads` for
    /// an empty query.
    pub fn list_uploads(&self, token: &str, query: &str) -> Reply {
        match query {
            "" => self.get("/uploads", token),
            query => self.get(&format!("/uploads?{query}"), token),
        }
    }

    /// `GET /uploads/{upload_id}`.
    pub fn get_upload(&self, token: &str, upload_id: &str) -> Reply {
        self.get(&format!("/uploads/{upload_id}"), token)
    }

    /// `DELETE /uploads/{upload_id}`.
    pub fn delete_upload(&self, token: &str, upload_id: &str) -> Reply {
        self.delete(&format!("/uploads/{upload_id}"), token)
    }

    /// `POST /jobs` with `body` (`{"type": "export"}`), without an
    /// idempotency key.
    pub fn create_job(&self, token: &str, body: &Value) -> Reply {
        self.post("/jobs", Some(token), body)
    }

    /// `POST /jobs` with `body` under `Idempotency-Key: <key>`.
    pub fn create_job_with_key(&self, token: &str, key: &str, body: &Value) -> Reply {
        self.send(
            "POST",
            "/jobs",
            Some(token),
            &[("idempotency-key", key)],
            Some(&body.to_string()),
        )
    }

    /// `GET /jobs?<query>` (`limit`, `cursor`).
    pub fn list_jobs(&self, token: &str, query: &str) -> Reply {
        self.get(&format!("/jobs?{query}"), token)
    }

    /// `GET /jobs/{job_id}`.
    pub fn get_job(&self, token: &str, job_id: &str) -> Reply {
        self.get(&format!("/jobs/{job_id}"), token)
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
