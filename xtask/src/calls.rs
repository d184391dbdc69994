//! The AWS calls each route makes on its happy path, and in how many round
//! trips, counted by [`CallLog`], against the budget the route declares
//! beside its code (`Route::CALLS`).

use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use shared::route::{CallerCheck, Calls};

use crate::call_log::{CallLog, round_trips};
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
    /// The waves of calls it waited for, one after the other.
    pub round_trips: usize,
    /// What its calls read or wrote in each DynamoDB table: (the table's
    /// variable in the template, e.g. `SESSIONS_TABLE`, items, whether it
    /// was a write, whether in a transaction).
    pub items: Vec<RouteItems>,
    /// What the route declares it calls.
    pub budget: Calls,
    /// Whether its answer only reads (it runs alongside the caller's check).
    pub read_only: bool,
}

/// Items of one table a route's call touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteItems {
    /// The template variable naming the table (`SESSIONS_TABLE`).
    pub table: String,
    pub items: usize,
    pub write: bool,
    pub transactional: bool,
}

/// The operations that only read (a read-only route may call nothing else
/// but the caller's check).
pub fn reads(operation: &str) -> bool {
    let name = operation
        .split_once('.')
        .map_or(operation, |(_, name)| name);
    [
        "Get", "BatchGet", "Query", "Scan", "Head", "List", "Describe",
    ]
    .iter()
    .any(|verb| name.starts_with(verb))
}

impl RouteCalls {
    /// Whether it called more, or waited for more round trips, than it declares.
    pub fn over_budget(&self) -> bool {
        self.calls.len() > self.budget.total() || self.round_trips > self.budget.total_round_trips()
    }

    /// The calls a read-only route made that are neither reads nor the
    /// caller's check (its rate-limit counter).
    pub fn writes(&self) -> Vec<&str> {
        let mut writes: Vec<&str> = self
            .calls
            .iter()
            .map(String::as_str)
            .filter(|call| !reads(call))
            .collect();
        // The per-user budget's counter is the check's one write.
        if let Some(counter) = writes
            .iter()
            .position(|call| *call == "DynamoDB.UpdateItem")
        {
            writes.remove(counter);
        }
        writes
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
        let made = log.take_calls();
        let round_trips = round_trips(&made);
        let env = stack.environment_of(&binary);
        let variable_of = |table: &str| {
            env.iter()
                .find(|(name, value)| name.ends_with("_TABLE") && value.as_str() == table)
                .map_or_else(|| table.to_string(), |(name, _)| name.clone())
        };
        let items = made
            .iter()
            .flat_map(|call| {
                let write = !reads(&call.operation);
                call.tables.iter().map(move |t| RouteItems {
                    table: variable_of(&t.table),
                    items: t.items,
                    write,
                    transactional: t.transactional,
                })
            })
            .collect();
        let calls: Vec<String> = made.into_iter().map(|call| call.operation).collect();
        let status = response.status().as_u16();
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
        ensure!(status < 300, "{binary}: {status} {body} (calls {calls:?})");
        seen.push(RouteCalls {
            binary,
            status,
            calls,
            round_trips,
            items,
            budget,
            read_only: budget.check == CallerCheck::Alongside,
        });
    }
    Ok(seen)
}
