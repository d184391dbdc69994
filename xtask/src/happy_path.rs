//! The happy-path table: for every function, events that take its happy
//! path, used by the AWS call budget (`calls.rs`) and the bench alike.
//!
//! A user of the run's own has an upload and a job to read; the routes
//! that use up what they are given (a new account, a session to end, a
//! refresh token to rotate, an upload to delete, a user to log out
//! everywhere) get one of their own per event. Any other function gets its
//! sample event (`events/<binary>/`), with this run's token if the sample
//! carries one: a new route that needs nothing made first needs no entry
//! here. The journey of `cargo xtask prove` sends each as an HTTP request
//! too ([`HappyPath::http_calls`]), over whichever instances it is proving.

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::client::{Client, PASSWORD, text, unique_email};
use crate::events::{Call, sample};
use crate::stack::StackInfo;
use crate::template::Template;

/// A route's happy-path event as an HTTP request to the API.
#[derive(Debug, Clone)]
pub struct HttpCall {
    /// The function that serves it.
    pub binary: String,
    pub method: String,
    /// The path with its parameters and query.
    pub path: String,
    /// The bearer token, if the event carries one.
    pub token: Option<String>,
    /// The other headers a client sets (lower-case names).
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// Headers that API Gateway or the transport set, or that the client
/// sets from the token and the body itself.
const SET_BY_THE_CLIENT: &[&str] = &[
    "authorization",
    "content-type",
    "host",
    "content-length",
    "x-forwarded-for",
    "x-forwarded-port",
    "x-forwarded-proto",
];

/// A user of the run's own and what it owns, made through the API.
pub struct HappyPath {
    api: Client,
    credentials: Value,
    token: String,
    upload_id: String,
    job_id: String,
    /// A user with the `admin` role, for the catalog's writes (with a stack).
    admin: Option<String>,
}

/// Gives the user of `email` the `admin` role on `stack` (as `cargo xtask
/// admin grant` does), from any context: its own thread and runtime.
pub fn grant_admin(stack: &StackInfo, email: &str) -> Result<()> {
    let stack = stack.clone();
    let email = shared::accounts::email::Email::parse(email).map_err(anyhow::Error::msg)?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let env = stack.template_environment("me");
                    let store = shared::accounts::roles::RoleStore::new(
                        stack.aws_clients().await.dynamodb().clone(),
                        env.require("USERS_TABLE")?,
                    );
                    store
                        .grant(&email, shared::accounts::roles::Role::Admin)
                        .await?;
                    Ok(())
                })
            })
            .join()
            .map_err(|_| anyhow::anyhow!("granting admin panicked"))?
    })
}

impl HappyPath {
    /// Registers a user at `api_url` and gives it an upload and a job; with
    /// `stack`, an admin too (the catalog's writes need one).
    pub fn new(api_url: &str, stack: Option<&StackInfo>) -> Result<Self> {
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
        let admin = match stack {
            None => None,
            Some(stack) => {
                let email = unique_email();
                let credentials = json!({"email": email, "password": PASSWORD});
                api.register(&credentials)?;
                grant_admin(stack, &email)?;
                Some(text(&api.login(&credentials)?, "access_token")?)
            }
        };
        Ok(Self {
            api,
            credentials,
            token,
            upload_id,
            job_id,
            admin,
        })
    }

    /// The run's user's bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A new user's bearer token.
    pub fn new_user(&self) -> Result<String> {
        Ok(self.api.register_and_login()?.1)
    }

    fn login(&self) -> Result<Value> {
        self.api.login(&self.credentials)
    }

    fn admin(&self) -> Result<&str> {
        self.admin
            .as_deref()
            .context("the catalog's writes need an admin: HappyPath::new with the stack")
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
                // A product of its own each, in a category of the happy path's.
                "put-product" => {
                    let sku = format!("HAPPY-{}", shared::ids::new_id());
                    Call {
                        token: Some(self.admin()?),
                        path: &[("sku", &sku)],
                        body: Some(happy_product()),
                        ..Call::new(binary)
                    }
                    .event()
                }
                "delete-product" => {
                    let sku = format!("HAPPY-{}", shared::ids::new_id());
                    let admin = self.admin()?;
                    self.api
                        .call(
                            "PUT",
                            &format!("/products/{sku}"),
                            Some(admin),
                            &[],
                            Some(&happy_product()),
                        )?
                        .expect(201, "PUT /products/{sku}")?;
                    Call {
                        token: Some(admin),
                        path: &[("sku", &sku)],
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
                // A ticket spends itself and a connection takes one of its
                // user's 10 slots: a user, a ticket and a connection id of its own each.
                "realtime-connect" => {
                    let access = self.new_user()?;
                    let ticket = self
                        .api
                        .call("POST", "/realtime/tickets", Some(&access), &[], None)?
                        .expect(201, "POST /realtime/tickets")?;
                    let mut event = sample(binary)?;
                    let ticket = text(&ticket, "ticket")?;
                    event["queryStringParameters"] = json!({ "ticket": ticket });
                    event["multiValueQueryStringParameters"] = json!({ "ticket": [ticket] });
                    event["requestContext"]["connectionId"] =
                        json!(format!("Happy{}=", shared::ids::new_id()));
                    Ok(event)
                }
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

impl HappyPath {
    /// Every route of `template` once, as an HTTP request that takes its
    /// happy path when sent (each made just before it is returned).
    pub fn http_calls(&self, template: &Template) -> Result<Vec<HttpCall>> {
        let mut calls = Vec::new();
        for function in template.functions()? {
            let Some(route) = function.routes.first() else {
                continue;
            };
            let events = self.events(&function.binary, 1)?;
            let event = events
                .first()
                .with_context(|| format!("no event for {}", function.binary))?;
            calls.push(http_call(
                &function.binary,
                &route.method,
                &route.path,
                event,
            )?);
        }
        Ok(calls)
    }
}

/// `event` (API Gateway v2) as the request that makes it, for the route
/// `method path` (its `{parameters}` from the event's).
fn http_call(binary: &str, method: &str, path: &str, event: &Value) -> Result<HttpCall> {
    let mut path = path.to_string();
    for (name, value) in event["pathParameters"].as_object().into_iter().flatten() {
        let value = value
            .as_str()
            .with_context(|| format!("{binary}: path parameter {name}"))?;
        path = path.replace(&format!("{{{name}}}"), value);
    }
    ensure!(
        !path.contains('{'),
        "{binary}: {path} lacks a path parameter"
    );
    if let Some(query) = event["rawQueryString"].as_str().filter(|q| !q.is_empty()) {
        path = format!("{path}?{query}");
    }
    let headers = event["headers"].as_object().into_iter().flatten();
    let token = event["headers"]["authorization"]
        .as_str()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_string);
    let body = match event["body"].as_str().filter(|b| !b.is_empty()) {
        None => None,
        Some(_) if event["isBase64Encoded"] == true => bail!("{binary}: a binary body"),
        Some(text) => Some(serde_json::from_str(text).with_context(|| format!("{binary}: body"))?),
    };
    Ok(HttpCall {
        binary: binary.to_string(),
        method: method.to_string(),
        path,
        token,
        headers: headers
            .filter(|(name, _)| !SET_BY_THE_CLIENT.contains(&name.as_str()))
            .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string())))
            .collect(),
        body,
    })
}

fn upload(api: &Client, token: &str) -> Result<String> {
    let created = api.call("POST", "/uploads", Some(token), &[], Some(&upload_body()))?;
    text(&created.expect(201, "POST /uploads")?, "upload_id")
}

fn happy_product() -> Value {
    json!({"name": "Happy-path mug", "price": {"amount": 1000, "currency": "EUR"}, "category": "happy-path"})
}

fn upload_body() -> Value {
    json!({"filename": "report.txt", "content_type": "text/plain", "size": 1024})
}

/// The sample event at `path` of function `binary`, made live on the stack
/// `happy` was made on: a function's first sample takes its happy path
/// (a token no key signed becomes the token of a user of the run's own,
/// the ids it names become that user's); any other
/// sample keeps what it tests, with a live token if it carries one.
pub fn live_event(happy: &HappyPath, binary: &str, path: &std::path::Path) -> Result<Value> {
    let files = crate::checks::event_files(&crate::workspace_root(), binary)?;
    if files.first().is_some_and(|first| first == path) {
        return happy
            .events(binary, 1)?
            .pop()
            .with_context(|| format!("no happy-path event for {binary}"));
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut event: Value =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    if let Some(authorization) = event
        .get_mut("headers")
        .and_then(|h| h.get_mut("authorization"))
        .filter(|a| a.as_str().is_some_and(|a| a.starts_with("Bearer ")))
    {
        *authorization = json!(format!("Bearer {}", happy.token()));
    }
    Ok(event)
}
