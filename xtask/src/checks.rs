//! Guards on the project's structure: the template, the router of
//! `cargo lambda watch`, the function binaries and the sample events must
//! agree; no IAM policy may grant more than least privilege allows (README, "Security"); every log has
//! a retention, every bucket and queue refuses plain HTTP, and the tables
//! that hold lasting data cannot be deleted with the stack; every function
//! is traced and writes its metrics in the stack's namespace, and what an
//! operator must hear of has an alarm that notifies the alarm topic. Each
//! check returns the list of what is wrong (empty: all is well).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use crate::template::{Resource, Route, Template, get_att, referenced_id};

/// The routes of `[workspace.metadata.lambda.watch.router]`, as (route, function).
pub fn router_routes(root: &Path) -> Result<BTreeSet<(Route, String)>> {
    let output = crate::cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    let router = metadata
        .pointer("/metadata/lambda/watch/router")
        .cloned()
        .unwrap_or(Value::Null);
    parse_router(&router)
}

/// Reads a router table: `path = [{ method, function }, …]` or `path = "function"`.
pub fn parse_router(router: &Value) -> Result<BTreeSet<(Route, String)>> {
    let Some(paths) = router.as_object() else {
        bail!("[workspace.metadata.lambda.watch.router] is missing from Cargo.toml");
    };
    let mut routes = BTreeSet::new();
    for (path, target) in paths {
        match target {
            Value::String(function) => {
                routes.insert((
                    Route {
                        method: "ANY".into(),
                        path: path.clone(),
                    },
                    function.clone(),
                ));
            }
            Value::Array(entries) => {
                for entry in entries {
                    let method = entry.get("method").and_then(Value::as_str);
                    let function = entry.get("function").and_then(Value::as_str);
                    let (Some(method), Some(function)) = (method, function) else {
                        bail!("router entry for {path} needs method and function");
                    };
                    routes.insert((
                        Route {
                            method: method.to_ascii_uppercase(),
                            path: path.clone(),
                        },
                        function.to_string(),
                    ));
                }
            }
            _ => bail!("router entry for {path} is neither a function name nor a list"),
        }
    }
    Ok(routes)
}

/// The routes of the template's `HttpApi` events, as (route, binary).
pub fn template_routes(template: &Template) -> Result<BTreeSet<(Route, String)>> {
    let mut routes = BTreeSet::new();
    for function in template.functions()? {
        for route in function.routes {
            routes.insert((route, function.binary.clone()));
        }
    }
    Ok(routes)
}

/// Differences between the template's routes and the router's.
pub fn router_mismatches(
    template: &BTreeSet<(Route, String)>,
    router: &BTreeSet<(Route, String)>,
) -> Vec<String> {
    let show = |(route, function): &(Route, String)| {
        format!("{} {} -> {function}", route.method, route.path)
    };
    let mut problems: Vec<String> = template
        .difference(router)
        .map(|r| {
            format!(
                "template.yaml has {} but the Cargo.toml router does not",
                show(r)
            )
        })
        .collect();
    problems.extend(router.difference(template).map(|r| {
        format!(
            "the Cargo.toml router has {} but template.yaml does not",
            show(r)
        )
    }));
    problems
}

/// The binary targets of the packages under `functions/`, by package folder.
pub fn function_binaries(root: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut binaries = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("functions"))? {
        let dir = entry?.path();
        if !dir.join("Cargo.toml").is_file() {
            continue;
        }
        let folder = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut names = BTreeSet::new();
        // One binary per package: src/main.rs, named after the package (the folder).
        if dir.join("src/main.rs").is_file() {
            names.insert(folder.clone());
        }
        if let Ok(bins) = std::fs::read_dir(dir.join("src/bin")) {
            for bin in bins.filter_map(Result::ok) {
                if let Some(stem) = bin.path().file_stem() {
                    names.insert(stem.to_string_lossy().into_owned());
                }
            }
        }
        binaries.insert(folder, names);
    }
    Ok(binaries)
}

/// Template functions without a binary, and binaries without a template function.
pub fn binary_mismatches(template: &Template, root: &Path) -> Result<Vec<String>> {
    let in_template: BTreeSet<String> = template
        .functions()?
        .into_iter()
        .map(|f| f.binary)
        .collect();
    let built: BTreeSet<String> = function_binaries(root)?.into_values().flatten().collect();
    let mut problems: Vec<String> = in_template
        .difference(&built)
        .map(|b| {
            format!("template.yaml names binary {b}, but functions/{b}/src/main.rs does not exist")
        })
        .collect();
    problems.extend(
        built
            .difference(&in_template)
            .map(|b| format!("binary {b} is not a function in template.yaml")),
    );
    Ok(problems)
}

/// The sample events of each function: `events/<binary>/*.json`.
pub fn event_files(root: &Path, binary: &str) -> Result<Vec<std::path::PathBuf>> {
    let dir = root.join("events").join(binary);
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    Ok(files)
}

/// Functions without a sample event, and event folders of no function.
pub fn event_mismatches(template: &Template, root: &Path) -> Result<Vec<String>> {
    let binaries: BTreeSet<String> = template
        .functions()?
        .into_iter()
        .map(|f| f.binary)
        .collect();
    let mut problems = Vec::new();
    for binary in &binaries {
        if event_files(root, binary)?.is_empty() {
            problems.push(format!(
                "function {binary} has no sample event in events/{binary}/*.json"
            ));
        }
    }
    for entry in std::fs::read_dir(root.join("events"))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() && !binaries.contains(&name) {
            problems.push(format!(
                "events/{name}/ belongs to no function of template.yaml"
            ));
        }
    }
    Ok(problems)
}

/// Actions that AWS only grants on `Resource: "*"`, and are allowed there.
const RESOURCE_STAR_ONLY_ACTIONS: &[&str] = &["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

/// IAM statements that grant more than least privilege allows, anywhere in the template:
/// a wildcard in an action, `Resource: "*"` (but for actions that only exist on
/// `*`), a wildcard anywhere in a resource but a trailing `/*` below a named
/// prefix or index, and SAM policy templates or managed policies (which hide
/// what they grant) instead of explicit statements.
pub fn iam_violations(template: &Template) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for function in template.functions()? {
        let id = &function.logical_id;
        let policies = match &function.policies {
            Value::Null => continue,
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        for policy in policies {
            match policy.get("Statement") {
                Some(statements) => check_statements(id, statements, &mut problems),
                None => problems.push(format!(
                    "{id}: policy {policy} is a SAM policy template or managed policy; write explicit statements"
                )),
            }
        }
    }
    for (id, resource) in template.resources() {
        let document = match resource.kind.as_str() {
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                resource.properties.get("PolicyDocument")
            }
            "AWS::IAM::Role" => {
                if let Some(Value::Array(policies)) = resource.properties.get("Policies") {
                    for policy in policies {
                        if let Some(statements) = policy.pointer("/PolicyDocument/Statement") {
                            check_statements(id, statements, &mut problems);
                        }
                    }
                }
                None
            }
            _ => None,
        };
        if let Some(statements) = document.and_then(|d| d.get("Statement")) {
            check_statements(id, statements, &mut problems);
        }
    }
    Ok(problems)
}

/// The tables whose data lapses by itself, and why losing them loses nothing
/// lasting; every other table must survive the stack ([`table_protection_violations`]).
pub const EPHEMERAL_TABLES: &[(&str, &str)] = &[
    (
        "TokenKeysTable",
        "one item derived from the signing-key secret, published again at every rotation tick",
    ),
    (
        "SessionsTable",
        "sessions end within 30 days; losing them logs everyone out, nothing more",
    ),
    (
        "RevokedTokensTable",
        "an entry lives as long as the access token it refuses, 15 minutes by default",
    ),
    (
        "RateLimitsTable",
        "counters of windows of minutes, expiring with them",
    ),
    (
        "IdempotencyTable",
        "records of answers already given, kept 24 hours",
    ),
    (
        "CacheTable",
        "a cache of the catalog table: empty, it costs a recomputation, never a value",
    ),
    (
        "ConnectionsTable",
        "WebSocket tickets and connections, 2 hours at most: losing them closes nothing but makes clients reconnect",
    ),
];

/// The variable that gives a function the WebSocket API's Management API.
pub const MANAGEMENT_ENDPOINT_VARIABLE: &str = "REALTIME_MANAGEMENT_ENDPOINT";

/// Who may post to or close WebSocket connections: `execute-api:ManageConnections`
/// only on `@connections` of a WebSocket API of the template
/// (`.../${<Api>}/<stage>/<METHOD>/@connections/*`), and only for the
/// functions given its Management API ([`MANAGEMENT_ENDPOINT_VARIABLE`]),
/// which each need it.
pub fn manage_connections_violations(template: &Template) -> Result<Vec<String>> {
    let websocket_apis: Vec<&str> = template
        .ids_of_kind("AWS::ApiGatewayV2::Api")
        .filter(|id| {
            template
                .resource(id)
                .and_then(|r| r.properties.get("ProtocolType"))
                .and_then(Value::as_str)
                == Some("WEBSOCKET")
        })
        .collect();
    let mut problems = Vec::new();
    for function in template.functions()? {
        let id = &function.logical_id;
        let mut granted = false;
        let policies = as_list(Some(&function.policies));
        for statement in policies
            .iter()
            .flat_map(|policy| as_list(policy.get("Statement")))
        {
            let actions = as_list(statement.get("Action"));
            let manages = actions.iter().any(|a| {
                a.as_str().is_some_and(|a| {
                    a.eq_ignore_ascii_case("execute-api:ManageConnections")
                        || a.to_ascii_lowercase().starts_with("execute-api:*")
                })
            });
            if !manages {
                continue;
            }
            granted = true;
            for resource in as_list(statement.get("Resource")) {
                let text = resource_text(&resource);
                let on_connections = websocket_apis.iter().any(|api| {
                    text.strip_prefix(&format!(
                        "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{api}}}/"
                    ))
                    .and_then(|rest| rest.split_once('/'))
                    .and_then(|(stage, rest)| (!stage.contains('*')).then_some(rest))
                    .and_then(|rest| rest.split_once('/'))
                    .is_some_and(|(method, rest)| {
                        ["POST", "GET", "DELETE"].contains(&method) && rest == "@connections/*"
                    })
                });
                if !on_connections {
                    problems.push(format!(
                        "{id}: execute-api:ManageConnections on {text}: only a WebSocket API's stage/<METHOD>/@connections/* of this template"
                    ));
                }
            }
        }
        let given = function
            .environment
            .contains_key(MANAGEMENT_ENDPOINT_VARIABLE);
        if granted && !given {
            problems.push(format!(
                "{id}: may manage WebSocket connections but is not given {MANAGEMENT_ENDPOINT_VARIABLE}: it neither posts nor closes"
            ));
        }
        if given && !granted {
            problems.push(format!(
                "{id}: is given {MANAGEMENT_ENDPOINT_VARIABLE} but may not execute-api:ManageConnections"
            ));
        }
    }
    Ok(problems)
}

/// Whether `value` names a log group of the template that has a `RetentionInDays`.
fn log_group_with_retention(template: &Template, value: Option<&Value>) -> Result<(), String> {
    let Some(id) = value.and_then(referenced_id) else {
        return Err("does not name a log group of the template (!Ref or !GetAtt)".into());
    };
    match template.resource(&id) {
        Some(group) if group.kind == "AWS::Logs::LogGroup" => {
            if group.properties.contains_key("RetentionInDays") {
                Ok(())
            } else {
                Err(format!("log group {id} has no RetentionInDays"))
            }
        }
        _ => Err(format!("{id} is not an AWS::Logs::LogGroup")),
    }
}

/// Functions whose logs would be kept forever, and HTTP APIs without access
/// logs kept for a while: each function's `LoggingConfig.LogGroup` must name
/// a log group of the template with a `RetentionInDays` (or such a group must
/// be named `/aws/lambda/${Function}`, where Lambda writes by default), and
/// each HTTP API's `AccessLogSettings.DestinationArn` likewise.
pub fn log_retention_violations(template: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, resource) in template.resources() {
        match resource.kind.as_str() {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                let named = nested(&resource.properties, "LoggingConfig", "LogGroup");
                if named.is_none() && has_default_log_group(template, id) {
                    continue;
                }
                if let Err(why) = log_group_with_retention(template, named) {
                    problems.push(format!("{id}: LoggingConfig.LogGroup {why}"));
                }
            }
            "AWS::Serverless::HttpApi" => {
                let destination =
                    nested(&resource.properties, "AccessLogSettings", "DestinationArn");
                if let Err(why) = log_group_with_retention(template, destination) {
                    problems.push(format!("{id}: AccessLogSettings.DestinationArn {why}"));
                }
            }
            _ => {}
        }
    }
    problems
}

/// `properties[outer][inner]`.
fn nested<'a>(properties: &'a Map<String, Value>, outer: &str, inner: &str) -> Option<&'a Value> {
    properties.get(outer)?.get(inner)
}

/// Whether a log group with a retention is named `/aws/lambda/${function}`.
fn has_default_log_group(template: &Template, function: &str) -> bool {
    let wanted = format!("/aws/lambda/${{{function}}}");
    template.resources().values().any(|r| {
        r.kind == "AWS::Logs::LogGroup"
            && r.properties.contains_key("RetentionInDays")
            && r.properties
                .get("LogGroupName")
                .and_then(|n| n.get("Fn::Sub"))
                .and_then(Value::as_str)
                == Some(wanted.as_str())
    })
}

/// Whether `statement` denies every action of `service` to everyone when
/// the request did not come over TLS.
fn denies_plain_http(statement: &Value, service: &str) -> bool {
    let everyone = match statement.get("Principal") {
        Some(Value::String(p)) => p == "*",
        Some(p) => p.get("AWS").and_then(Value::as_str) == Some("*"),
        None => false,
    };
    let all_actions = as_list(statement.get("Action"))
        .iter()
        .any(|a| a == "*" || a.as_str() == Some(format!("{service}:*").as_str()));
    let insecure = statement
        .pointer("/Condition/Bool/aws:SecureTransport")
        .is_some_and(|v| v == "false" || v == false);
    statement.get("Effect").and_then(Value::as_str) == Some("Deny")
        && everyone
        && all_actions
        && insecure
}

/// The statements of a resource policy's `PolicyDocument`.
fn policy_statements(policy: &Resource) -> Vec<Value> {
    as_list(nested(&policy.properties, "PolicyDocument", "Statement"))
}

/// Whether `resources` names `target` (a `!GetAtt <id>.Arn`, or `${<id>.Arn}/*`
/// when `objects`), or is `"*"`.
fn names_resource(resources: &[Value], id: &str, objects: bool) -> bool {
    resources.iter().any(|r| {
        if r == "*" {
            return true;
        }
        if objects {
            resource_text(r) == format!("${{{id}.Arn}}/*")
        } else {
            crate::template::get_att(r).is_some_and(|(of, attr)| of == id && attr == "Arn")
        }
    })
}

/// Buckets and queues that would answer a request made without TLS: each
/// bucket needs a bucket policy, and each queue the one queue policy that
/// names it (a queue has one policy; a second replaces the first), with a
/// statement that denies everything to everyone when `aws:SecureTransport`
/// is false, on the bucket and its objects, or on the queue.
pub fn tls_violations(template: &Template) -> Vec<String> {
    let resources = template.resources();
    let mut problems = Vec::new();
    for id in template.ids_of_kind("AWS::S3::Bucket") {
        let refuses = resources.values().any(|policy| {
            policy.kind == "AWS::S3::BucketPolicy"
                && policy
                    .properties
                    .get("Bucket")
                    .and_then(referenced_id)
                    .as_deref()
                    == Some(id)
                && policy_statements(policy).iter().any(|s| {
                    let targets = as_list(s.get("Resource"));
                    denies_plain_http(s, "s3")
                        && names_resource(&targets, id, false)
                        && names_resource(&targets, id, true)
                })
        });
        if !refuses {
            problems.push(format!(
                "{id}: no bucket policy denies s3:* on the bucket and its objects when aws:SecureTransport is false"
            ));
        }
    }
    for id in template.ids_of_kind("AWS::SQS::Queue") {
        let policies: Vec<(&String, &Resource)> = resources
            .iter()
            .filter(|(_, p)| {
                p.kind == "AWS::SQS::QueuePolicy"
                    && as_list(p.properties.get("Queues"))
                        .iter()
                        .any(|q| referenced_id(q).as_deref() == Some(id))
            })
            .collect();
        match policies.as_slice() {
            [] => problems.push(format!("{id}: no queue policy names it")),
            [(policy_id, policy)] => {
                let refuses = policy_statements(policy).iter().any(|s| {
                    denies_plain_http(s, "sqs")
                        && names_resource(&as_list(s.get("Resource")), id, false)
                });
                if !refuses {
                    problems.push(format!(
                        "{id}: its policy {policy_id} does not deny sqs:* on it when aws:SecureTransport is false"
                    ));
                }
            }
            several => {
                let ids: Vec<&String> = several.iter().map(|(p, _)| *p).collect();
                problems.push(format!(
                    "{id}: named by several queue policies {ids:?}; a queue has one policy, the last one written wins"
                ));
            }
        }
    }
    problems
}

/// Queues not encrypted at rest: each needs `SqsManagedSseEnabled: true` or
/// a `KmsMasterKeyId` (checkov's CKV_AWS_27, skipped in `.checkov.yaml`,
/// counts only the second).
pub fn queue_encryption_violations(template: &Template) -> Vec<String> {
    template
        .ids_of_kind("AWS::SQS::Queue")
        .filter(|id| {
            let props = &template.resources()[*id].properties;
            let managed = props
                .get("SqsManagedSseEnabled")
                .is_some_and(|v| v == true || v == "true");
            !managed && !props.contains_key("KmsMasterKeyId")
        })
        .map(|id| format!("{id}: neither SqsManagedSseEnabled: true nor a KmsMasterKeyId"))
        .collect()
}

/// Tables of lasting data that a stack deletion, a replacement or a
/// `DeleteTable` would take away: every table not listed in `ephemeral`
/// needs `DeletionPolicy: Retain`, `UpdateReplacePolicy: Retain` and
/// `DeletionProtectionEnabled: true`. A listed table the template lacks is
/// a stale entry.
pub fn table_protection_violations(template: &Template, ephemeral: &[(&str, &str)]) -> Vec<String> {
    let mut problems = Vec::new();
    for id in template.ids_of_kind("AWS::DynamoDB::Table") {
        if ephemeral.iter().any(|(name, _)| *name == id) {
            continue;
        }
        let table = &template.resources()[id];
        if table.deletion_policy.as_deref() != Some("Retain") {
            problems.push(format!(
                "{id}: holds lasting data but has no DeletionPolicy: Retain"
            ));
        }
        if table.update_replace_policy.as_deref() != Some("Retain") {
            problems.push(format!(
                "{id}: holds lasting data but has no UpdateReplacePolicy: Retain"
            ));
        }
        let protected = table
            .properties
            .get("DeletionProtectionEnabled")
            .is_some_and(|v| v == true || v == "true");
        if !protected {
            problems.push(format!(
                "{id}: holds lasting data but has no DeletionProtectionEnabled: true"
            ));
        }
    }
    for (name, _) in ephemeral {
        if template
            .resource(name)
            .is_none_or(|r| r.kind != "AWS::DynamoDB::Table")
        {
            problems.push(format!(
                "{name} is listed as ephemeral but is no table of the template"
            ));
        }
    }
    problems
}

/// The variable that names a function's metrics namespace (`shared::metrics`).
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";

/// Functions whose metric lines would land among another stack's: each
/// needs a `METRICS_NAMESPACE` (its own or the global one) that names the
/// stack (`${AWS::StackName}` in a `!Sub`), so that two stacks never mix.
pub fn metrics_namespace_violations(template: &Template) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for function in template.functions()? {
        let id = &function.logical_id;
        match function.environment.get(METRICS_NAMESPACE) {
            None => problems.push(format!("{id}: no {METRICS_NAMESPACE} in its environment")),
            Some(namespace) if !resource_text(namespace).contains("${AWS::StackName}") => {
                problems.push(format!(
                    "{id}: {METRICS_NAMESPACE} {namespace} does not name the stack (${{AWS::StackName}}), so two stacks' metrics would mix"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(problems)
}

/// Functions whose invocations X-Ray would not see, or whose policy does
/// not say what tracing needs: each needs `Tracing: Active` (its own or the
/// global one) and an `Allow` of `xray:PutTraceSegments` and
/// `xray:PutTelemetryRecords` in its `Policies`. SAM attaches its managed
/// AWSXrayWriteOnlyAccess beside them, out of the template's sight; the
/// statement keeps what the role needs written where it is reviewed.
pub fn tracing_violations(template: &Template) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for function in template.functions()? {
        let id = &function.logical_id;
        if function.tracing.as_deref() != Some("Active") {
            problems.push(format!(
                "{id}: Tracing is {:?}, not Active",
                function.tracing.as_deref().unwrap_or("absent")
            ));
        }
        let statements: Vec<Value> = as_list(Some(&function.policies))
            .iter()
            .flat_map(|policy| as_list(policy.get("Statement")))
            .collect();
        let allows = |action: &str| {
            statements.iter().any(|s| {
                s.get("Effect").and_then(Value::as_str) == Some("Allow")
                    && as_list(s.get("Action")).iter().any(|a| a == action)
            })
        };
        for action in RESOURCE_STAR_ONLY_ACTIONS {
            if !allows(action) {
                problems.push(format!(
                    "{id}: its policy does not allow {action}, which active tracing needs"
                ));
            }
        }
    }
    Ok(problems)
}

/// One metric an alarm reads: its own, or one of its metric math's.
#[derive(Debug)]
struct AlarmMetric {
    namespace: Value,
    name: String,
    dimensions: Vec<(String, Value)>,
    /// `Statistic` or `ExtendedStatistic` (`Stat` in metric math), e.g. `Sum`, `p99`.
    statistic: Option<String>,
}

impl AlarmMetric {
    fn is(&self, namespace: &str, name: &str) -> bool {
        self.namespace == namespace && self.name == name
    }

    /// The value of its dimension `name`.
    fn dimension(&self, name: &str) -> Option<&Value> {
        self.dimensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value)
    }

    /// Whether its `FunctionName` is `!Ref <function>`.
    fn of_function(&self, function: &str) -> bool {
        self.dimension("FunctionName")
            .and_then(|v| v.get("Ref"))
            .and_then(Value::as_str)
            == Some(function)
    }
}

/// The metric described by `metric` (`Namespace`, `MetricName`,
/// `Dimensions`), read with `statistic`.
fn metric_of(metric: &Value, statistic: Option<&Value>) -> Option<AlarmMetric> {
    let dimensions = as_list(metric.get("Dimensions"))
        .iter()
        .filter_map(|d| {
            Some((
                d.get("Name")?.as_str()?.to_string(),
                d.get("Value")?.clone(),
            ))
        })
        .collect();
    Some(AlarmMetric {
        namespace: metric.get("Namespace")?.clone(),
        name: metric.get("MetricName")?.as_str()?.to_string(),
        dimensions,
        statistic: statistic.and_then(Value::as_str).map(String::from),
    })
}

/// Every metric `alarm` reads.
fn alarm_metrics(alarm: &Resource) -> Vec<AlarmMetric> {
    let props = Value::Object(alarm.properties.clone());
    let statistic = props
        .get("ExtendedStatistic")
        .or_else(|| props.get("Statistic"));
    let mut metrics: Vec<AlarmMetric> = metric_of(&props, statistic).into_iter().collect();
    for query in as_list(props.get("Metrics")) {
        if let Some(stat) = query.get("MetricStat")
            && let Some(metric) = stat
                .get("Metric")
                .and_then(|m| metric_of(m, stat.get("Stat")))
        {
            metrics.push(metric);
        }
    }
    metrics
}

/// Whether `alarm` fires as soon as what it watches is above zero.
fn fires_above_zero(alarm: &Resource) -> bool {
    let threshold = alarm.properties.get("Threshold").and_then(|t| match t {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    match (
        alarm
            .properties
            .get("ComparisonOperator")
            .and_then(Value::as_str),
        threshold,
    ) {
        (Some("GreaterThanThreshold"), Some(t)) => t == 0.0,
        (Some("GreaterThanOrEqualToThreshold"), Some(t)) => t > 0.0 && t <= 1.0,
        _ => false,
    }
}

/// The template's alarms, by logical id.
fn alarms(template: &Template) -> impl Iterator<Item = (&str, &Resource)> {
    template
        .ids_of_kind("AWS::CloudWatch::Alarm")
        .map(|id| (id, &template.resources()[id]))
}

/// Whether some alarm reads a metric that `matches`, and fires above zero
/// when `above_zero`.
fn watched(template: &Template, above_zero: bool, matches: impl Fn(&AlarmMetric) -> bool) -> bool {
    alarms(template).any(|(_, alarm)| {
        (!above_zero || fires_above_zero(alarm)) && alarm_metrics(alarm).iter().any(&matches)
    })
}

/// Deploys run on arm64 (Graviton), and only a local run may say
/// otherwise: every function's `Architectures` is the `Architecture`
/// parameter (which `sam local` sets to this machine's), whose default is
/// `arm64`.
pub fn architecture_violations(template: &Template) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let parameter = crate::template::ARCHITECTURE_PARAMETER;
    if template.parameter_default(parameter).as_deref() != Some("arm64") {
        problems.push(format!(
            "parameter {parameter} must exist with Default arm64 (deploys run on Graviton)"
        ));
    }
    let wanted = serde_json::json!([{ "Ref": parameter }]);
    for function in template.functions()? {
        let architectures = template
            .resource(&function.logical_id)
            .and_then(|r| r.properties.get("Architectures"))
            .or_else(|| template.globals_function().get("Architectures"));
        if architectures != Some(&wanted) {
            problems.push(format!(
                "{}: Architectures must be [!Ref {parameter}], not {architectures:?}",
                function.logical_id
            ));
        }
    }
    Ok(problems)
}

/// The queues that receive another queue's dead letters, each with the
/// queues that send them there (`RedrivePolicy.deadLetterTargetArn`).
pub fn dead_letter_queues(template: &Template) -> BTreeMap<String, BTreeSet<String>> {
    let mut queues: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for id in template.ids_of_kind("AWS::SQS::Queue") {
        let target = template.resources()[id]
            .properties
            .get("RedrivePolicy")
            .and_then(|r| r.get("deadLetterTargetArn"))
            .and_then(referenced_id);
        if let Some(target) = target {
            queues.entry(target).or_default().insert(id.to_string());
        }
    }
    queues
}

/// Dead letters nobody would hear of: every queue that is some queue's
/// `deadLetterTargetArn` needs an alarm that reads its `AWS/SQS`
/// `ApproximateNumberOfMessagesVisible` (by `QueueName`, `!GetAtt
/// <queue>.QueueName`) and fires above zero.
pub fn dead_letter_alarm_violations(template: &Template) -> Vec<String> {
    dead_letter_queues(template)
        .into_iter()
        .filter(|(queue, _)| {
            !watched(template, true, |m| {
                m.is("AWS/SQS", "ApproximateNumberOfMessagesVisible")
                    && m.dimension("QueueName")
                        .and_then(crate::template::get_att)
                        .is_some_and(|(of, attr)| of == *queue && attr == "QueueName")
            })
        })
        .map(|(queue, sources)| {
            format!(
                "{queue}: the dead-letter queue of {sources:?} has no alarm on its AWS/SQS ApproximateNumberOfMessagesVisible above zero"
            )
        })
        .collect()
}

/// The prefix of every alarm's name: the alarm topic's and its key's
/// policies admit the alarms named so (`aws:SourceArn`).
pub const ALARM_NAME_PREFIX: &str = "${AWS::StackName}-";

/// Alarms an operator would not hear of, or could not act on: every alarm
/// needs `AlarmActions` and `OKActions` that name the template's one SNS
/// topic, an `AlarmName` under [`ALARM_NAME_PREFIX`] (the topic's policy
/// admits no other), an `AlarmDescription`, and a `TreatMissingData`
/// chosen (CloudWatch's default, `missing`, is seldom what silence means).
pub fn alarm_notification_violations(template: &Template) -> Vec<String> {
    let alarms: Vec<(&str, &Resource)> = alarms(template).collect();
    if alarms.is_empty() {
        return Vec::new();
    }
    let topics: Vec<&str> = template.ids_of_kind("AWS::SNS::Topic").collect();
    let [topic] = topics.as_slice() else {
        return vec![format!(
            "the alarms need one SNS topic to notify, and the template has {topics:?}"
        )];
    };
    let mut problems = Vec::new();
    for (id, alarm) in alarms {
        let props = &alarm.properties;
        for key in ["AlarmActions", "OKActions"] {
            let notifies = as_list(props.get(key))
                .iter()
                .any(|action| action.get("Ref").and_then(Value::as_str) == Some(topic));
            if !notifies {
                problems.push(format!("{id}: its {key} do not name the topic {topic}"));
            }
        }
        let named = props
            .get("AlarmName")
            .map(resource_text)
            .is_some_and(|name| name.starts_with(ALARM_NAME_PREFIX));
        if !named {
            problems.push(format!(
                "{id}: its AlarmName must start with {ALARM_NAME_PREFIX} (a !Sub): the topic admits no other alarm"
            ));
        }
        let described = props
            .get("AlarmDescription")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.trim().is_empty());
        if !described {
            problems.push(format!(
                "{id}: no AlarmDescription: say what it means and what to do"
            ));
        }
        if !props.contains_key("TreatMissingData") {
            problems.push(format!(
                "{id}: no TreatMissingData: choose what a period without data means"
            ));
        }
    }
    problems
}

/// The binaries whose `main` serves an `Authenticated<R>`: the routes
/// behind the bearer check.
pub fn authenticated_binaries(root: &Path) -> Result<BTreeSet<String>> {
    let mains = crate::function_mains::read(root).map_err(anyhow::Error::msg)?;
    Ok(mains
        .into_iter()
        .filter(|main| {
            main.kind == crate::function_mains::Kind::Route
                && main
                    .handler
                    .split('<')
                    .next()
                    .is_some_and(|outer| outer.trim().ends_with("Authenticated"))
        })
        .map(|main| main.binary)
        .collect())
}

/// Authenticated routes that could turn slow unnoticed: the function of
/// each binary in `authenticated` needs an alarm on its `AWS/Lambda`
/// `Duration` p99 (by `FunctionName`, `!Ref` the function). A binary the
/// template lacks is named too.
pub fn latency_alarm_violations(
    template: &Template,
    authenticated: &BTreeSet<String>,
) -> Result<Vec<String>> {
    let functions = template.functions()?;
    let mut problems = Vec::new();
    for binary in authenticated {
        let Some(function) = functions.iter().find(|f| &f.binary == binary) else {
            problems.push(format!(
                "{binary} serves an authenticated route but is no function of the template"
            ));
            continue;
        };
        let id = &function.logical_id;
        let alarmed = watched(template, false, |m| {
            m.is("AWS/Lambda", "Duration")
                && m.statistic.as_deref() == Some("p99")
                && m.of_function(id)
        });
        if !alarmed {
            problems.push(format!(
                "{id}: an authenticated route ({binary}) with no alarm on its AWS/Lambda Duration p99"
            ));
        }
    }
    Ok(problems)
}

/// The users table and the only attributes the standing check may read of it.
pub const ROLE_READ: (&str, &[&str]) = ("UsersTable", &["pk", "roles"]);

/// Authenticated routes that could not read their caller's roles, or could
/// read more of the users table than the roles: each one's function needs
/// `USERS_TABLE` and a `dynamodb:BatchGetItem` statement on the users table
/// whose `dynamodb:Attributes` condition allows [`ROLE_READ`]'s attributes
/// only and whose `dynamodb:LeadingKeys` condition allows `user#` keys only
/// (never an email's credentials item).
pub fn role_read_violations(
    template: &Template,
    authenticated: &BTreeSet<String>,
) -> Result<Vec<String>> {
    let (table, attributes) = ROLE_READ;
    let mut problems = Vec::new();
    for function in template.functions()? {
        if !authenticated.contains(&function.binary) {
            continue;
        }
        let id = &function.logical_id;
        if !function.environment.contains_key("USERS_TABLE") {
            problems.push(format!(
                "{id}: authenticated, but without USERS_TABLE (its standing check reads the roles)"
            ));
        }
        let statements: Vec<Value> = as_list(Some(&function.policies))
            .iter()
            .flat_map(|policy| as_list(policy.get("Statement")))
            .collect();
        let reads_roles = statements.iter().any(|statement| {
            let batch = as_list(statement.get("Action"))
                .iter()
                .any(|a| a.as_str() == Some("dynamodb:BatchGetItem"));
            let resources = as_list(statement.get("Resource"));
            let on_users = !resources.is_empty()
                && resources
                    .iter()
                    .all(|r| get_att(r).is_some_and(|(t, _)| t == table));
            let condition = statement.get("Condition");
            let only_roles = condition
                .and_then(|c| c.pointer("/ForAllValues:StringEquals/dynamodb:Attributes"))
                .is_some_and(|allowed| {
                    let allowed = as_list(Some(allowed));
                    !allowed.is_empty()
                        && allowed
                            .iter()
                            .all(|a| a.as_str().is_some_and(|a| attributes.contains(&a)))
                });
            let only_users = condition
                .and_then(|c| c.pointer("/ForAllValues:StringLike/dynamodb:LeadingKeys"))
                .is_some_and(|keys| {
                    let keys = as_list(Some(keys));
                    !keys.is_empty() && keys.iter().all(|k| k.as_str() == Some("user#*"))
                });
            batch && on_users && only_roles && only_users
        });
        if !reads_roles {
            problems.push(format!(
                "{id}: authenticated, but no dynamodb:BatchGetItem on {table} limited to the attributes {attributes:?} of user# keys (the roles of its standing check)"
            ));
        }
    }
    Ok(problems)
}

/// Throttles nobody would hear of: every function needs an alarm on its
/// `AWS/Lambda` `Throttles` (by `FunctionName`) that fires above zero.
pub fn throttle_alarm_violations(template: &Template) -> Result<Vec<String>> {
    Ok(template
        .functions()?
        .into_iter()
        .filter(|f| {
            !watched(template, true, |m| {
                m.is("AWS/Lambda", "Throttles") && m.of_function(&f.logical_id)
            })
        })
        .map(|f| {
            format!(
                "{}: no alarm on its AWS/Lambda Throttles above zero",
                f.logical_id
            )
        })
        .collect())
}

/// The binary of the jobs dead-letter queue's consumer, which counts `JobsFailed`.
pub const JOB_FAILURES_BINARY: &str = "job-failures";

/// A job given up with nobody told: the function of [`JOB_FAILURES_BINARY`]
/// needs an alarm on its `JobsFailed` (its metric lines, in the namespace
/// its `METRICS_NAMESPACE` names, by `FunctionName`) that fires above zero.
pub fn jobs_failed_alarm_violations(template: &Template) -> Result<Vec<String>> {
    let functions = template.functions()?;
    let Some(function) = functions.iter().find(|f| f.binary == JOB_FAILURES_BINARY) else {
        return Ok(vec![format!(
            "no function of the template runs {JOB_FAILURES_BINARY}"
        )]);
    };
    let id = &function.logical_id;
    let Some(namespace) = function.environment.get(METRICS_NAMESPACE) else {
        return Ok(vec![format!("{id}: no {METRICS_NAMESPACE} to alarm in")]);
    };
    let alarmed = watched(template, true, |m| {
        m.namespace == *namespace && m.name == "JobsFailed" && m.of_function(id)
    });
    Ok(if alarmed {
        Vec::new()
    } else {
        vec![format!(
            "{id}: no alarm on its JobsFailed above zero, in its namespace {namespace}, by FunctionName"
        )]
    })
}

fn as_list(value: Option<&Value>) -> Vec<Value> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

fn check_statements(owner: &str, statements: &Value, problems: &mut Vec<String>) {
    for statement in as_list(Some(statements)) {
        if statement.get("Effect").and_then(Value::as_str) == Some("Deny") {
            continue;
        }
        if statement.get("NotAction").is_some() || statement.get("NotResource").is_some() {
            problems.push(format!(
                "{owner}: NotAction/NotResource grant everything else"
            ));
        }
        let actions: Vec<String> = as_list(statement.get("Action"))
            .iter()
            .map(|a| {
                a.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| a.to_string())
            })
            .collect();
        for action in &actions {
            if action.contains('*') {
                problems.push(format!(
                    "{owner}: action {action} is a wildcard; name each action"
                ));
            }
        }
        for resource in as_list(statement.get("Resource")) {
            let text = resource_text(&resource);
            if text == "*" {
                let allowed = !actions.is_empty()
                    && actions
                        .iter()
                        .all(|a| RESOURCE_STAR_ONLY_ACTIONS.contains(&a.as_str()));
                if !allowed {
                    problems.push(format!(
                        "{owner}: Resource \"*\" for {actions:?}; name the resources"
                    ));
                }
            } else if !resource_wildcard_allowed(&text) {
                problems.push(format!("{owner}: resource {text} has a wildcard beyond a trailing /* below a named prefix"));
            }
        }
    }
}

/// A resource as text: literal, or the string inside `!Sub`, or the parts of `!Join`.
fn resource_text(resource: &Value) -> String {
    match resource {
        Value::String(s) => s.clone(),
        Value::Object(map) => {
            if let Some(Value::String(sub)) = map.get("Fn::Sub") {
                return sub.clone();
            }
            if let Some(Value::Array(args)) = map.get("Fn::Sub") {
                return args
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
            }
            if let Some(Value::Array(args)) = map.get("Fn::Join")
                && let [Value::String(sep), Value::Array(parts)] = args.as_slice()
            {
                return parts
                    .iter()
                    .map(resource_text)
                    .collect::<Vec<_>>()
                    .join(sep);
            }
            // A !Ref or !GetAtt names one resource.
            "<reference>".to_string()
        }
        other => other.to_string(),
    }
}

/// The only wildcard allowed in a resource: a final `/*` after a fixed,
/// non-empty path segment (objects under a bucket prefix, a table's indexes).
fn resource_wildcard_allowed(text: &str) -> bool {
    let Some(head) = text.strip_suffix("/*") else {
        return !text.contains('*');
    };
    if head.contains('*') {
        return false;
    }
    // `${Bucket.Arn}/*` would be the whole bucket: a prefix must follow the reference.
    let last = head.rsplit('/').next().unwrap_or_default();
    !last.is_empty() && !last.ends_with('}')
}

/// The response headers a page of another origin must be able to read.
pub const EXPOSED_HEADERS: [&str; 7] = [
    "etag",
    "location",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "idempotent-replayed",
];

/// Where the HTTP API's CORS is not exactly what its routes take: its
/// methods are the routes' methods, its headers `authorization`,
/// `content-type` and the header parameters of the spec's operations, it
/// exposes [`EXPOSED_HEADERS`], and it never lets credentials go to `*`.
pub fn cors_violations(template: &Template, spec: &Value) -> Result<Vec<String>> {
    // Its configuration as a deployment that allows an origin has it.
    let mut resolver = crate::local_names::Resolver::new(template, "");
    resolver.set_parameter("AllowedOrigins", "https://guard.example".into());
    let policy = crate::cors::Policy::api(template, &resolver)?;
    let Some(rule) = policy.rules.first() else {
        return Ok(vec!["the HttpApi has no CorsConfiguration".into()]);
    };
    let mut problems = Vec::new();
    let methods: BTreeSet<String> = template_routes(template)?
        .into_iter()
        .map(|(route, _)| route.method)
        .collect();
    let allowed: BTreeSet<String> = rule.methods.iter().cloned().collect();
    if allowed != methods {
        problems.push(format!(
            "HttpApi CORS AllowMethods {allowed:?}, but the routes take {methods:?}"
        ));
    }
    let mut headers: BTreeSet<String> = ["authorization", "content-type"].map(String::from).into();
    for operation in crate::openapi::operations(spec) {
        for parameter in operation.operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let parameter = crate::openapi::resolve(spec, parameter);
            if parameter["in"] == "header"
                && let Some(name) = parameter["name"].as_str()
            {
                headers.insert(name.to_ascii_lowercase());
            }
        }
    }
    let allowed: BTreeSet<String> = rule.headers.iter().cloned().collect();
    if allowed != headers {
        problems.push(format!(
            "HttpApi CORS AllowHeaders {allowed:?}, but the routes take {headers:?} (shared/openapi.yaml)"
        ));
    }
    for header in EXPOSED_HEADERS {
        if !rule.expose.iter().any(|h| h == header) {
            problems.push(format!("HttpApi CORS does not expose {header}"));
        }
    }
    if rule.credentials && rule.origins.iter().any(|o| o.contains('*')) {
        problems.push("HttpApi CORS lets credentials go to a wildcard origin".into());
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn router_and_template_must_hold_the_same_routes() {
        let router = parse_router(&json!({
            "/health": [{"method": "GET", "function": "health"}],
            "/extra": "extra",
        }))
        .unwrap();
        let template = Template::parse(
            r#"
Resources:
  Health:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: health } }
    Properties:
      Events:
        Get: { Type: HttpApi, Properties: { Path: /health, Method: GET } }
  Jobs:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: get-job } }
    Properties:
      Events:
        Get: { Type: HttpApi, Properties: { Path: "/jobs/{job_id}", Method: GET } }
"#,
        )
        .unwrap();
        let problems = router_mismatches(&template_routes(&template).unwrap(), &router);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("GET /jobs/{job_id} -> get-job"));
        assert!(problems[1].contains("ANY /extra -> extra"));
    }

    fn function_with(policies: &str) -> Template {
        Template::parse(&format!(
            r#"
Resources:
  Bucket: {{ Type: AWS::S3::Bucket }}
  F:
    Type: AWS::Serverless::Function
    Metadata: {{ BuildProperties: {{ Binary: f }} }}
    Properties:
      Policies:
{policies}
"#
        ))
        .unwrap()
    }

    fn manager(variables: &str, resource: &str) -> Template {
        Template::parse(&format!(
            r#"
Resources:
  Ws: {{ Type: AWS::ApiGatewayV2::Api, Properties: {{ ProtocolType: WEBSOCKET }} }}
  Http: {{ Type: AWS::ApiGatewayV2::Api, Properties: {{ ProtocolType: HTTP }} }}
  F:
    Type: AWS::Serverless::Function
    Metadata: {{ BuildProperties: {{ Binary: f }} }}
    Properties:
      Environment: {{ Variables: {{ {variables} }} }}
      Policies:
        - Statement:
            - Effect: Allow
              Action: execute-api:ManageConnections
              Resource: !Sub "{resource}"
"#
        ))
        .unwrap()
    }

    #[test]
    fn manage_connections_is_only_on_this_apis_connections_for_who_posts_or_closes() {
        let arn = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:";
        let given = "REALTIME_MANAGEMENT_ENDPOINT: x";
        let good = manager(given, &format!("{arn}${{Ws}}/live/POST/@connections/*"));
        assert_eq!(
            manage_connections_violations(&good).unwrap(),
            Vec::<String>::new()
        );
        for resource in [
            format!("{arn}${{Ws}}/*"),
            format!("{arn}${{Ws}}/*/POST/@connections/*"),
            format!("{arn}${{Http}}/live/POST/@connections/*"),
            format!("{arn}${{Ws}}/live/*/@connections/*"),
            format!("{arn}other/live/POST/@connections/*"),
        ] {
            let problems = manage_connections_violations(&manager(given, &resource)).unwrap();
            assert_eq!(problems.len(), 1, "{resource}: {problems:?}");
        }
        let not_given = manager(
            "OTHER: x",
            &format!("{arn}${{Ws}}/live/POST/@connections/*"),
        );
        assert_eq!(manage_connections_violations(&not_given).unwrap().len(), 1);
    }

    #[test]
    fn explicit_narrow_statements_pass() {
        let template = function_with(
            r#"        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt Table.Arn
            - Effect: Allow
              Action: s3:PutObject
              Resource: !Sub "${Bucket.Arn}/users/*"
            - Effect: Allow
              Action: dynamodb:Query
              Resource: !Sub "${Table.Arn}/index/*"
            - Effect: Allow
              Action: [xray:PutTraceSegments, xray:PutTelemetryRecords]
              Resource: "*""#,
        );
        assert_eq!(iam_violations(&template).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn wildcards_are_caught() {
        for (policy, expected) in [
            (
                "Action: dynamodb:*\n              Resource: !GetAtt Table.Arn",
                "wildcard",
            ),
            (
                "Action: s3:Get*\n              Resource: !GetAtt Bucket.Arn",
                "wildcard",
            ),
            (
                "Action: dynamodb:GetItem\n              Resource: \"*\"",
                "Resource \"*\"",
            ),
            (
                "Action: s3:GetObject\n              Resource: !Sub \"${Bucket.Arn}/*\"",
                "trailing",
            ),
            (
                "Action: s3:GetObject\n              Resource: !Sub \"${Bucket.Arn}/*/x\"",
                "trailing",
            ),
            (
                "Action: s3:GetObject\n              Resource: arn:aws:s3:::b*",
                "trailing",
            ),
            (
                "NotAction: s3:GetObject\n              Resource: arn:aws:s3:::b/x",
                "NotAction",
            ),
        ] {
            let template = function_with(&format!(
                "        - Statement:\n            - Effect: Allow\n              {policy}"
            ));
            let problems = iam_violations(&template).unwrap();
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{policy}: {problems:?}"
            );
        }
    }

    /// A function, an HTTP API, a bucket, two queues and two tables with
    /// every protection; each test below takes one away.
    const HARDENED: &str = r#"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      AccessLogSettings: { DestinationArn: !GetAtt ApiLogs.Arn, Format: "{}" }
  ApiLogs:
    Type: AWS::Logs::LogGroup
    Properties: { RetentionInDays: 30 }
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
    Properties:
      LoggingConfig: { LogGroup: !Ref FLogs }
  FLogs:
    Type: AWS::Logs::LogGroup
    Properties: { RetentionInDays: 30 }
  Bucket: { Type: AWS::S3::Bucket }
  BucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: "s3:*"
            Resource: [!GetAtt Bucket.Arn, !Sub "${Bucket.Arn}/*"]
            Condition: { Bool: { aws:SecureTransport: "false" } }
  Queue:
    Type: AWS::SQS::Queue
    Properties: { SqsManagedSseEnabled: true }
  Dlq:
    Type: AWS::SQS::Queue
    Properties: { KmsMasterKeyId: alias/aws/sqs }
  QueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Queue, !Ref Dlq]
      PolicyDocument:
        Statement:
          - Effect: Deny
            Principal: { AWS: "*" }
            Action: "sqs:*"
            Resource: [!GetAtt Queue.Arn, !GetAtt Dlq.Arn]
            Condition: { Bool: { aws:SecureTransport: false } }
  Users:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties: { DeletionProtectionEnabled: true }
  Counters: { Type: AWS::DynamoDB::Table }
"#;

    const EPHEMERAL: &[(&str, &str)] = &[("Counters", "windows of a minute")];

    /// `HARDENED` with `from` replaced by `to` (which must change it).
    fn hardened_but(from: &str, to: &str) -> Template {
        assert!(HARDENED.contains(from), "{from}");
        Template::parse(&HARDENED.replacen(from, to, 1)).unwrap()
    }

    /// Asserts that `guard` names `expected` for `HARDENED` with each `from` made `to`.
    fn assert_caught<const N: usize>(
        guard: impl Fn(&Template) -> Vec<String>,
        cases: [(&str, &str, &str); N],
    ) {
        for (from, to, expected) in cases {
            let problems = guard(&hardened_but(from, to));
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{to}: {problems:?}"
            );
        }
    }

    #[test]
    fn a_hardened_template_passes_every_guard() {
        let template = Template::parse(HARDENED).unwrap();
        assert_eq!(log_retention_violations(&template), Vec::<String>::new());
        assert_eq!(tls_violations(&template), Vec::<String>::new());
        assert_eq!(queue_encryption_violations(&template), Vec::<String>::new());
        assert_eq!(
            table_protection_violations(&template, EPHEMERAL),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_function_or_api_without_a_retained_log_group_is_caught() {
        assert_caught(
            log_retention_violations,
            [
                (
                    "      LoggingConfig: { LogGroup: !Ref FLogs }\n",
                    "",
                    "F: LoggingConfig",
                ),
                (
                    "LogGroup: !Ref FLogs",
                    "LogGroup: /aws/lambda/f",
                    "F: LoggingConfig",
                ),
                (
                    "LogGroup: !Ref FLogs",
                    "LogGroup: !Ref Bucket",
                    "not an AWS::Logs::LogGroup",
                ),
                (
                    "FLogs:\n    Type: AWS::Logs::LogGroup\n    Properties: { RetentionInDays: 30 }",
                    "FLogs: { Type: AWS::Logs::LogGroup }",
                    "FLogs has no RetentionInDays",
                ),
                (
                    "DestinationArn: !GetAtt ApiLogs.Arn, ",
                    "",
                    "Api: AccessLogSettings",
                ),
                (
                    "ApiLogs:\n    Type: AWS::Logs::LogGroup\n    Properties: { RetentionInDays: 30 }",
                    "ApiLogs: { Type: AWS::Logs::LogGroup }",
                    "ApiLogs has no RetentionInDays",
                ),
            ],
        );
    }

    #[test]
    fn lambdas_default_log_group_counts_when_it_has_a_retention() {
        let named = "FLogs:\n    Type: AWS::Logs::LogGroup\n    Properties: { RetentionInDays: 30, LogGroupName: !Sub \"/aws/lambda/${F}\" }";
        let from = "FLogs:\n    Type: AWS::Logs::LogGroup\n    Properties: { RetentionInDays: 30 }";
        let text = HARDENED
            .replacen("      LoggingConfig: { LogGroup: !Ref FLogs }\n", "", 1)
            .replacen(from, named, 1);
        let template = Template::parse(&text).unwrap();
        assert_eq!(log_retention_violations(&template), Vec::<String>::new());
        let template = Template::parse(&text.replacen("RetentionInDays: 30, ", "", 1)).unwrap();
        assert_eq!(log_retention_violations(&template).len(), 1);
    }

    #[test]
    fn a_bucket_that_answers_plain_http_is_caught() {
        let cases = [
            ("Bucket: !Ref Bucket", "Bucket: !Ref Other"),
            (
                "Effect: Deny\n            Principal: \"*\"",
                "Effect: Allow\n            Principal: \"*\"",
            ),
            (
                "Principal: \"*\"",
                "Principal: { Service: s3.amazonaws.com }",
            ),
            ("Action: \"s3:*\"", "Action: s3:PutObject"),
            (
                "Resource: [!GetAtt Bucket.Arn, !Sub \"${Bucket.Arn}/*\"]",
                "Resource: !GetAtt Bucket.Arn",
            ),
            (
                "Resource: [!GetAtt Bucket.Arn, !Sub \"${Bucket.Arn}/*\"]",
                "Resource: !Sub \"${Bucket.Arn}/*\"",
            ),
            (
                "aws:SecureTransport: \"false\"",
                "aws:SecureTransport: \"true\"",
            ),
            (
                "Condition: { Bool: { aws:SecureTransport: \"false\" } }",
                "Condition: {}",
            ),
        ];
        assert_caught(
            tls_violations,
            cases.map(|(from, to)| (from, to, "Bucket: no bucket policy")),
        );
    }

    #[test]
    fn a_queue_that_answers_plain_http_is_caught() {
        assert_caught(
            tls_violations,
            [
                (
                    "Queues: [!Ref Queue, !Ref Dlq]",
                    "Queues: [!Ref Queue]",
                    "Dlq: no queue policy",
                ),
                (
                    "Resource: [!GetAtt Queue.Arn, !GetAtt Dlq.Arn]",
                    "Resource: !GetAtt Queue.Arn",
                    "Dlq: its policy QueuePolicy does not deny",
                ),
                (
                    "Action: \"sqs:*\"",
                    "Action: sqs:SendMessage",
                    "Queue: its policy QueuePolicy",
                ),
                (
                    "aws:SecureTransport: false",
                    "aws:SecureTransport: true",
                    "Queue: its policy QueuePolicy",
                ),
                (
                    "  Users:\n",
                    "  Second:\n    Type: AWS::SQS::QueuePolicy\n    Properties: { Queues: [!Ref Queue] }\n  Users:\n",
                    "Queue: named by several queue policies",
                ),
            ],
        );
    }

    #[test]
    fn an_unencrypted_queue_is_caught() {
        for (from, to) in [
            (
                "{ SqsManagedSseEnabled: true }",
                "{ SqsManagedSseEnabled: false }",
            ),
            ("{ SqsManagedSseEnabled: true }", "{}"),
        ] {
            assert_eq!(
                queue_encryption_violations(&hardened_but(from, to)),
                vec!["Queue: neither SqsManagedSseEnabled: true nor a KmsMasterKeyId".to_string()]
            );
        }
    }

    #[test]
    fn a_lasting_table_without_protection_is_caught() {
        for (from, to, expected) in [
            (
                "    DeletionPolicy: Retain\n",
                "",
                "Users: holds lasting data but has no DeletionPolicy",
            ),
            (
                "    UpdateReplacePolicy: Retain\n",
                "",
                "Users: holds lasting data but has no UpdateReplacePolicy",
            ),
            (
                "DeletionPolicy: Retain",
                "DeletionPolicy: Snapshot",
                "no DeletionPolicy: Retain",
            ),
            (
                "{ DeletionProtectionEnabled: true }",
                "{}",
                "no DeletionProtectionEnabled",
            ),
        ] {
            let problems = table_protection_violations(&hardened_but(from, to), EPHEMERAL);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains(expected), "{problems:?}");
        }
        // A table is lasting unless it is listed as ephemeral, and a listed one must exist.
        let template = Template::parse(HARDENED).unwrap();
        let problems = table_protection_violations(&template, &[]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().all(|p| p.starts_with("Counters:")));
        let problems = table_protection_violations(&template, &[("Counters", "x"), ("Gone", "y")]);
        assert_eq!(
            problems,
            vec!["Gone is listed as ephemeral but is no table of the template".to_string()]
        );
    }

    #[test]
    fn policy_templates_and_managed_policies_are_refused() {
        let template = function_with("        - DynamoDBCrudPolicy: { TableName: !Ref Table }");
        assert_eq!(iam_violations(&template).unwrap().len(), 1);
        let template = function_with("        - AmazonS3FullAccess");
        assert_eq!(iam_violations(&template).unwrap().len(), 1);
    }

    /// Two functions, a queue with its dead-letter queue, the topic and
    /// every alarm the observability guards ask for; each test below takes
    /// one thing away.
    const OBSERVED: &str = r#"
Globals:
  Function:
    Tracing: Active
    Environment:
      Variables:
        METRICS_NAMESPACE: !Sub "StatelessLambda/${AWS::StackName}"
Resources:
  Me:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: me } }
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: [xray:PutTraceSegments, xray:PutTelemetryRecords]
              Resource: "*"
  Failures:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: job-failures } }
    Properties:
      Policies:
        - Statement:
            - { Effect: Allow, Action: [xray:PutTraceSegments, xray:PutTelemetryRecords], Resource: "*" }
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: { deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 5 }
  Dlq: { Type: AWS::SQS::Queue }
  Topic: { Type: AWS::SNS::Topic }
  MeLatency:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub "${AWS::StackName}-me-p99"
      AlarmDescription: GET /me is slow.
      Namespace: AWS/Lambda
      MetricName: Duration
      Dimensions: [{ Name: FunctionName, Value: !Ref Me }]
      ExtendedStatistic: p99
      ComparisonOperator: GreaterThanThreshold
      Threshold: 1000
      TreatMissingData: notBreaching
      AlarmActions: [!Ref Topic]
      OKActions: [!Ref Topic]
  Throttles:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub "${AWS::StackName}-throttles"
      AlarmDescription: Lambda throttled a function.
      Metrics:
        - Id: me
          MetricStat:
            Metric: { Namespace: AWS/Lambda, MetricName: Throttles, Dimensions: [{ Name: FunctionName, Value: !Ref Me }] }
            Stat: Sum
        - Id: failures
          MetricStat:
            Metric: { Namespace: AWS/Lambda, MetricName: Throttles, Dimensions: [{ Name: FunctionName, Value: !Ref Failures }] }
            Stat: Sum
        - { Id: all, Expression: me + failures }
      ComparisonOperator: GreaterThanThreshold
      Threshold: 0
      TreatMissingData: notBreaching
      AlarmActions: [!Ref Topic]
      OKActions: [!Ref Topic]
  DlqDepth:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub "${AWS::StackName}-dead-letters"
      AlarmDescription: Jobs gave up.
      Metrics:
        - Id: visible
          MetricStat:
            Metric: { Namespace: AWS/SQS, MetricName: ApproximateNumberOfMessagesVisible, Dimensions: [{ Name: QueueName, Value: !GetAtt Dlq.QueueName }] }
            Stat: Maximum
        - { Id: messages, Expression: "FILL(visible, 0)" }
      ComparisonOperator: GreaterThanOrEqualToThreshold
      Threshold: 1
      TreatMissingData: notBreaching
      AlarmActions: [!Ref Topic]
      OKActions: [!Ref Topic]
  JobsFailed:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub "${AWS::StackName}-jobs-failed"
      AlarmDescription: A job failed.
      Namespace: !Sub "StatelessLambda/${AWS::StackName}"
      MetricName: JobsFailed
      Dimensions: [{ Name: FunctionName, Value: !Ref Failures }]
      Statistic: Sum
      ComparisonOperator: GreaterThanThreshold
      Threshold: 0
      TreatMissingData: notBreaching
      AlarmActions: [!Ref Topic]
      OKActions: [!Ref Topic]
"#;

    /// `OBSERVED` with `from` replaced by `to` (which must change it).
    fn observed_but(from: &str, to: &str) -> Template {
        assert!(OBSERVED.contains(from), "{from}");
        Template::parse(&OBSERVED.replacen(from, to, 1)).unwrap()
    }

    /// Asserts that `guard` names `expected` for `OBSERVED` with each `from` made `to`.
    fn assert_observed_catches<const N: usize>(
        guard: impl Fn(&Template) -> Vec<String>,
        cases: [(&str, &str, &str); N],
    ) {
        for (from, to, expected) in cases {
            let problems = guard(&observed_but(from, to));
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{to}: {problems:?}"
            );
        }
    }

    fn authenticated() -> BTreeSet<String> {
        BTreeSet::from(["me".to_string()])
    }

    #[test]
    fn an_observed_template_passes_every_observability_guard() {
        let template = Template::parse(OBSERVED).unwrap();
        let none = Vec::<String>::new();
        assert_eq!(metrics_namespace_violations(&template).unwrap(), none);
        assert_eq!(tracing_violations(&template).unwrap(), none);
        assert_eq!(dead_letter_alarm_violations(&template), none);
        assert_eq!(alarm_notification_violations(&template), none);
        assert_eq!(
            latency_alarm_violations(&template, &authenticated()).unwrap(),
            none
        );
        assert_eq!(throttle_alarm_violations(&template).unwrap(), none);
        assert_eq!(jobs_failed_alarm_violations(&template).unwrap(), none);
    }

    #[test]
    fn a_function_without_the_stacks_namespace_is_caught() {
        let guard = |t: &Template| metrics_namespace_violations(t).unwrap();
        assert_observed_catches(
            guard,
            [
                (
                    "        METRICS_NAMESPACE: !Sub \"StatelessLambda/${AWS::StackName}\"\n",
                    "        OTHER: x\n",
                    "Me: no METRICS_NAMESPACE",
                ),
                (
                    "!Sub \"StatelessLambda/${AWS::StackName}\"\nResources",
                    "StatelessLambda\nResources",
                    "Me: METRICS_NAMESPACE \"StatelessLambda\" does not name the stack",
                ),
            ],
        );
    }

    #[test]
    fn a_function_not_traced_or_without_the_xray_statement_is_caught() {
        let guard = |t: &Template| tracing_violations(t).unwrap();
        assert_observed_catches(
            guard,
            [
                ("    Tracing: Active\n", "", "Me: Tracing is \"absent\""),
                (
                    "Tracing: Active",
                    "Tracing: PassThrough",
                    "Failures: Tracing is \"PassThrough\"",
                ),
                (
                    "Action: [xray:PutTraceSegments, xray:PutTelemetryRecords]\n",
                    "Action: xray:PutTraceSegments\n",
                    "Me: its policy does not allow xray:PutTelemetryRecords",
                ),
                (
                    "- { Effect: Allow, Action: [xray:",
                    "- { Effect: Deny, Action: [xray:",
                    "Failures: its policy does not allow xray:PutTraceSegments",
                ),
            ],
        );
        // A function's own Tracing overrides the global one.
        let template = observed_but(
            "    Metadata: { BuildProperties: { Binary: me } }\n    Properties:\n",
            "    Metadata: { BuildProperties: { Binary: me } }\n    Properties:\n      Tracing: PassThrough\n",
        );
        assert_eq!(
            tracing_violations(&template).unwrap(),
            ["Me: Tracing is \"PassThrough\", not Active"]
        );
    }

    #[test]
    fn a_dead_letter_queue_without_a_depth_alarm_is_caught() {
        assert_observed_catches(
            dead_letter_alarm_violations,
            [
                (
                    "Value: !GetAtt Dlq.QueueName",
                    "Value: !GetAtt Jobs.QueueName",
                    "Dlq: the dead-letter queue of {\"Jobs\"}",
                ),
                (
                    "MetricName: ApproximateNumberOfMessagesVisible",
                    "MetricName: ApproximateAgeOfOldestMessage",
                    "Dlq:",
                ),
                (
                    "GreaterThanOrEqualToThreshold\n      Threshold: 1",
                    "GreaterThanOrEqualToThreshold\n      Threshold: 5",
                    "Dlq:",
                ),
                ("Namespace: AWS/SQS", "Namespace: Custom/SQS", "Dlq:"),
            ],
        );
        // A queue nobody redrives into needs none.
        let template = observed_but(
            "      RedrivePolicy: { deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 5 }\n",
            "      VisibilityTimeout: 60\n",
        );
        assert!(dead_letter_queues(&template).is_empty());
    }

    #[test]
    fn an_alarm_that_notifies_nobody_or_says_nothing_is_caught() {
        assert_observed_catches(
            alarm_notification_violations,
            [
                (
                    "      AlarmActions: [!Ref Topic]\n      OKActions: [!Ref Topic]\n  Throttles:",
                    "      OKActions: [!Ref Topic]\n  Throttles:",
                    "MeLatency: its AlarmActions do not name the topic Topic",
                ),
                (
                    "OKActions: [!Ref Topic]\n  DlqDepth:",
                    "OKActions: [!Ref Elsewhere]\n  DlqDepth:",
                    "Throttles: its OKActions do not name the topic Topic",
                ),
                (
                    "AlarmName: !Sub \"${AWS::StackName}-jobs-failed\"",
                    "AlarmName: jobs-failed",
                    "JobsFailed: its AlarmName must start with ${AWS::StackName}-",
                ),
                (
                    "      AlarmDescription: A job failed.\n",
                    "",
                    "JobsFailed: no AlarmDescription",
                ),
                (
                    "Threshold: 1000\n      TreatMissingData: notBreaching\n",
                    "Threshold: 1000\n",
                    "MeLatency: no TreatMissingData",
                ),
                (
                    "  Topic: { Type: AWS::SNS::Topic }\n",
                    "",
                    "the alarms need one SNS topic to notify",
                ),
            ],
        );
    }

    const READS_ROLES: &str = r#"
Resources:
  UsersTable: { Type: AWS::DynamoDB::Table }
  Me:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: me } }
    Properties:
      Environment: { Variables: { USERS_TABLE: !Ref UsersTable } }
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:BatchGetItem
              Resource: !GetAtt UsersTable.Arn
              Condition:
                ForAllValues:StringLike:
                  dynamodb:LeadingKeys: ["user#*"]
                ForAllValues:StringEquals:
                  dynamodb:Attributes: [pk, roles]
"#;

    #[test]
    fn an_authenticated_route_that_cannot_read_its_roles_or_reads_more_is_caught() {
        let guard = |text: &str| {
            role_read_violations(&Template::parse(text).unwrap(), &authenticated()).unwrap()
        };
        assert_eq!(guard(READS_ROLES), Vec::<String>::new());
        for (from, to, expected) in [
            (
                "[pk, roles]",
                "[pk, roles, password_hash]",
                "no dynamodb:BatchGetItem on UsersTable",
            ),
            (
                "[\"user#*\"]",
                "[\"*\"]",
                "no dynamodb:BatchGetItem on UsersTable",
            ),
            (
                "                ForAllValues:StringEquals:\n                  dynamodb:Attributes: [pk, roles]\n",
                "",
                "no dynamodb:BatchGetItem",
            ),
            (
                "Action: dynamodb:BatchGetItem",
                "Action: dynamodb:GetItem",
                "no dynamodb:BatchGetItem",
            ),
            (
                "{ USERS_TABLE: !Ref UsersTable }",
                "{ OTHER: x }",
                "without USERS_TABLE",
            ),
        ] {
            let text = READS_ROLES.replace(from, to);
            assert_ne!(text, READS_ROLES, "{from}");
            let problems = guard(&text);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{from} -> {to}: {problems:?}"
            );
        }
        // Routes that are not authenticated need nothing of it.
        let none = BTreeSet::new();
        let text = READS_ROLES.replace("Action: dynamodb:BatchGetItem", "Action: dynamodb:GetItem");
        assert!(
            role_read_violations(&Template::parse(&text).unwrap(), &none)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_authenticated_route_without_its_p99_alarm_is_caught() {
        let guard = |t: &Template| latency_alarm_violations(t, &authenticated()).unwrap();
        assert_observed_catches(
            guard,
            [
                (
                    "ExtendedStatistic: p99",
                    "ExtendedStatistic: p50",
                    "Me: an authenticated route (me) with no alarm on its AWS/Lambda Duration p99",
                ),
                (
                    "MetricName: Duration",
                    "MetricName: Invocations",
                    "Me: an authenticated route",
                ),
                (
                    "Value: !Ref Me }]\n      ExtendedStatistic",
                    "Value: !Ref Failures }]\n      ExtendedStatistic",
                    "Me: an authenticated route",
                ),
            ],
        );
        // A binary the template does not run is named too.
        let template = Template::parse(OBSERVED).unwrap();
        let stale = BTreeSet::from(["gone".to_string()]);
        assert_eq!(
            latency_alarm_violations(&template, &stale).unwrap(),
            ["gone serves an authenticated route but is no function of the template"]
        );
    }

    #[test]
    fn a_function_without_a_throttle_alarm_is_caught() {
        let guard = |t: &Template| throttle_alarm_violations(t).unwrap();
        assert_observed_catches(
            guard,
            [
                (
                    "Value: !Ref Failures }] }",
                    "Value: !Ref Me }] }",
                    "Failures: no alarm on its AWS/Lambda Throttles",
                ),
                (
                    "ComparisonOperator: GreaterThanThreshold\n      Threshold: 0\n      TreatMissingData: notBreaching\n      AlarmActions: [!Ref Topic]\n      OKActions: [!Ref Topic]\n  DlqDepth",
                    "ComparisonOperator: GreaterThanThreshold\n      Threshold: 10\n      TreatMissingData: notBreaching\n      AlarmActions: [!Ref Topic]\n      OKActions: [!Ref Topic]\n  DlqDepth",
                    "Me: no alarm on its AWS/Lambda Throttles above zero",
                ),
            ],
        );
    }

    #[test]
    fn a_jobs_failed_alarm_that_is_missing_or_reads_elsewhere_is_caught() {
        let guard = |t: &Template| jobs_failed_alarm_violations(t).unwrap();
        assert_observed_catches(
            guard,
            [
                (
                    "      Namespace: !Sub \"StatelessLambda/${AWS::StackName}\"\n",
                    "      Namespace: StatelessLambda\n",
                    "Failures: no alarm on its JobsFailed above zero",
                ),
                (
                    "MetricName: JobsFailed",
                    "MetricName: JobsSucceeded",
                    "Failures:",
                ),
                (
                    "Value: !Ref Failures }]\n      Statistic",
                    "Value: !Ref Me }]\n      Statistic",
                    "Failures:",
                ),
                (
                    "Binary: job-failures",
                    "Binary: job-dead-letters",
                    "no function of the template runs job-failures",
                ),
            ],
        );
    }
}
