//! The AWS calls each route makes on its happy path, counted by
//! [`CallLog`], against the budget the route declares beside its code
//! (`Route::CALLS`).

use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use shared::route::Calls;

use crate::call_log::CallLog;
use crate::handlers::Handler;
use crate::happy_path::HappyPath;
use crate::stack::StackInfo;
use crate::template::Template;

/// What one route's handler asked of AWS for one request on its happy path.
#[derive(Debug, Clone)]
pub struct RouteCalls {
    /// The function's binary.
    pub binary: String,
    /// Its answer's status.
    pub status: u16,
    /// `Service.Operation`, one per attempt, in order.
    pub calls: Vec<String>,
    /// What the route declares it calls.
    pub budget: Calls,
}

impl RouteCalls {
    /// Whether it called more than it declares.
    pub fn over_budget(&self) -> bool {
        self.calls.len() > self.budget.total()
    }
}

/// Every route of the template once on its happy path (its event from the
/// happy-path table), through a handler built as its function builds it but
/// with clients that log their calls; what each called, in template order.
pub async fn per_route(stack: &StackInfo) -> Result<Vec<RouteCalls>> {
    let template = Template::load(&crate::workspace_root().join("template.yaml"))?;
    let routes: Vec<String> = template
        .functions()?
        .into_iter()
        .filter(|function| !function.routes.is_empty())
        .map(|function| function.binary)
        .collect();
    let api = stack.api_url.clone();
    let info = stack.clone();
    // The table calls the API with a blocking client.
    let happy =
        Arc::new(tokio::task::spawn_blocking(move || HappyPath::new(&api, Some(&info))).await??);
    let log = CallLog::default();
    let aws = stack.aws_clients_logged(&log).await;
    let mut seen = Vec::new();
    for binary in routes {
        let event = {
            let (happy, binary) = (happy.clone(), binary.clone());
            tokio::task::spawn_blocking(move || happy.events(&binary, 1)).await??
        };
        let event = event.into_iter().next().context("no happy-path event")?;
        let handler = Handler::build(&binary, &stack.template_environment(&binary), &aws)
            .await?
            .with_context(|| format!("no handler for {binary}"))?;
        let budget = handler
            .calls()
            .with_context(|| format!("{binary} is not a route"))?;
        let request = lambda_http::request::from_str(&event.to_string())
            .with_context(|| format!("{binary}'s happy-path event"))?;
        // Only the request's own calls count, not its cold start's.
        log.take();
        let response = handler
            .http(request)
            .await
            .with_context(|| format!("{binary} is not a route"))?;
        let calls = log.take();
        let status = response.status().as_u16();
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
        ensure!(status < 300, "{binary}: {status} {body} (calls {calls:?})");
        seen.push(RouteCalls {
            binary,
            status,
            calls,
            budget,
        });
    }
    Ok(seen)
}
