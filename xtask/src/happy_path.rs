//! The happy-path table: for every function, events that take its happy
//! path, used by the AWS call budget (`calls.rs`) and the bench alike.
//!
//! A user of the run's own has an upload and a job to read; the routes
//! that use up what they are given (a new account, a session to end, a
//! refresh token to rotate, an upload to delete, a user to log out
//! everywhere) get one of their own per event. Any other function gets its
//! sample event (`events/<binary>/`), with this run's token if the sample
//! carries one: a new route that needs nothing made first needs no entry
//! here.

use anyhow::Result;
use serde_json::{Value, json};

use crate::client::{Client, PASSWORD, text, unique_email};
use crate::events::{Call, sample};

/// A user of the run's own and what it owns, made through the API.
pub struct HappyPath {
    api: Client,
    credentials: Value,
    token: String,
    upload_id: String,
    job_id: String,
}

impl HappyPath {
    /// Registers a user at `api_url` and gives it an upload and a job.
    pub fn new(api_url: &str) -> Result<Self> {
        let api = Client::at(api_url);
        let credentials = json!({"email": unique_email(), "password": PASSWORD});
        api.register(&credentials)?;
        let token = text(&api.login(&credentials)?, "access_token")?;
        let upload_id = upload(&api, &token)?;
        let job = api.call(
            "POST",
            "/jobs",
            Some(&token),
            &[("idempotency-key", "happy-path-job")],
            Some(&json!({"type": "export"})),
        )?;
        let job_id = text(&job.expect(202, "POST /jobs")?, "job_id")?;
        Ok(Self {
            api,
            credentials,
            token,
            upload_id,
            job_id,
        })
    }

    /// A new user's bearer token.
    pub fn new_user(&self) -> Result<String> {
        Ok(self.api.register_and_login()?.1)
    }

    fn login(&self) -> Result<Value> {
        self.api.login(&self.credentials)
    }

    fn upload(&self) -> Result<String> {
        upload(&self.api, &self.token)
    }

    /// `count` events for `binary`, each one that takes the function's
    /// happy path when it comes (the event sources' samples as they are).
    pub fn events(&self, binary: &str, count: usize) -> Result<Vec<Value>> {
        let token = Some(self.token.as_str());
        let cart_owner = if binary == "put-cart" {
            self.new_user()?
        } else {
            String::new()
        };
        let authed = Call {
            token,
            ..Call::new(binary)
        };
        (0..count)
            .map(|number| match binary {
                "register" => Call {
                    body: Some(json!({"email": unique_email(), "password": PASSWORD})),
                    ..Call::new(binary)
                }
                .event(),
                "login" => Call {
                    body: Some(self.credentials.clone()),
                    ..Call::new(binary)
                }
                .event(),
                "refresh" => {
                    let refresh = text(&self.login()?, "refresh_token")?;
                    Call {
                        body: Some(json!({ "refresh_token": refresh })),
                        ..Call::new(binary)
                    }
                    .event()
                }
                "logout" => {
                    let access = text(&self.login()?, "access_token")?;
                    Call {
                        token: Some(&access),
                        ..Call::new(binary)
                    }
                    .event()
                }
                // Ends every session of its user: a user of its own each.
                "logout-all" => {
                    let access = self.new_user()?;
                    Call {
                        token: Some(&access),
                        ..Call::new(binary)
                    }
                    .event()
                }
                "delete-session" => {
                    let session = text(&self.login()?, "session_id")?;
                    Call {
                        path: &[("session_id", &session)],
                        ..authed.clone()
                    }
                    .event()
                }
                // A user of this batch's own whose cart is at version
                // `number` when event `number` comes (events come in order).
                "put-cart" => {
                    let version = format!("\"{number}\"");
                    Call {
                        token: Some(&cart_owner),
                        headers: &[("if-match", &version)],
                        body: Some(
                            json!({"items": [{"sku": "MUG-01", "quantity": number % 9 + 1}]}),
                        ),
                        ..Call::new(binary)
                    }
                    .event()
                }
                "create-upload" => Call {
                    body: Some(upload_body()),
                    ..authed.clone()
                }
                .event(),
                "get-upload" => Call {
                    path: &[("upload_id", &self.upload_id)],
                    ..authed.clone()
                }
                .event(),
                "delete-upload" => {
                    let upload = self.upload()?;
                    Call {
                        path: &[("upload_id", &upload)],
                        ..authed.clone()
                    }
                    .event()
                }
                "create-job" => {
                    let key = format!("happy-path-{}", shared::ids::new_id());
                    Call {
                        headers: &[("idempotency-key", &key)],
                        body: Some(json!({"type": "export"})),
                        ..authed.clone()
                    }
                    .event()
                }
                "get-job" => Call {
                    path: &[("job_id", &self.job_id)],
                    ..authed.clone()
                }
                .event(),
                // The sample as it is; a route's sample with a bearer
                // token gets this run's (`me`, the lists, a new route).
                _ => {
                    let sample = sample(binary)?;
                    if sample["headers"]["authorization"].is_string() {
                        authed.event()
                    } else {
                        Ok(sample)
                    }
                }
            })
            .collect()
    }
}

fn upload(api: &Client, token: &str) -> Result<String> {
    let created = api.call("POST", "/uploads", Some(token), &[], Some(&upload_body()))?;
    text(&created.expect(201, "POST /uploads")?, "upload_id")
}

fn upload_body() -> Value {
    json!({"filename": "report.txt", "content_type": "text/plain", "size": 1024})
}
