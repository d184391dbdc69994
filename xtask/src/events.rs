//! Events made from the samples in `events/`: a function's first sample,
//! as it is or with a request of this run's own (token, path parameters,
//! headers, body), for handlers called in-process and processes started
//! cold alike.

use anyhow::{Context, Result};
use lambda_http::Request;
use serde_json::{Map, Value, json};

/// The first sample event of `binary` (`events/<binary>/*.json`, by name).
pub fn sample(binary: &str) -> Result<Value> {
    let files = crate::checks::event_files(&crate::workspace_root(), binary)?;
    let file = files
        .first()
        .with_context(|| format!("{binary} has no sample event"))?;
    let text = std::fs::read_to_string(file)?;
    serde_json::from_str(&text).with_context(|| format!("{}", file.display()))
}

/// A request to one route's function: its sample API Gateway event with a
/// bearer token (or none), path parameters, headers and a JSON body of
/// this run's own.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The function's binary.
    pub binary: &'a str,
    /// The bearer token; without one, the sample's is removed too.
    pub token: Option<&'a str>,
    /// Path parameters.
    pub path: &'a [(&'a str, &'a str)],
    /// Headers set over the sample's (lower-case names).
    pub headers: &'a [(&'a str, &'a str)],
    /// A JSON body in place of the sample's.
    pub body: Option<Value>,
}

impl<'a> Call<'a> {
    /// The sample of `binary` without a token.
    pub fn new(binary: &'a str) -> Self {
        Self {
            binary,
            token: None,
            path: &[],
            headers: &[],
            body: None,
        }
    }

    /// The API Gateway HTTP API (v2) event.
    pub fn event(&self) -> Result<Value> {
        let mut event = sample(self.binary)?;
        let object = event
            .as_object_mut()
            .with_context(|| format!("{}'s sample is not an object", self.binary))?;
        let headers = object
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .with_context(|| format!("{}'s sample headers are not an object", self.binary))?;
        headers.remove("authorization");
        if let Some(token) = self.token {
            headers.insert("authorization".into(), json!(format!("Bearer {token}")));
        }
        for (name, value) in self.headers {
            headers.insert(name.to_ascii_lowercase(), json!(value));
        }
        if let Some(body) = &self.body {
            headers.insert("content-type".into(), json!("application/json"));
            object.insert("body".into(), json!(body.to_string()));
            object.insert("isBase64Encoded".into(), json!(false));
        }
        if !self.path.is_empty() {
            let parameters: Map<String, Value> = self
                .path
                .iter()
                .map(|(name, value)| (name.to_string(), json!(value)))
                .collect();
            object.insert("pathParameters".into(), Value::Object(parameters));
        }
        Ok(event)
    }

    /// The event as the function's handler receives it.
    pub fn request(&self) -> Result<Request> {
        lambda_http::request::from_str(&self.event()?.to_string())
            .with_context(|| format!("{}'s event", self.binary))
    }
}
