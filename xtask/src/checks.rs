//! Guards on the project's structure: the template, the router of
//! `cargo lambda watch`, the function binaries and the sample events must
//! agree, and no IAM policy may grant more than DESIGN.md allows. Each check
//! returns the list of what is wrong (empty: all is well).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::template::{Route, Template};

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

/// IAM statements that grant more than DESIGN.md allows, anywhere in the template:
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

    #[test]
    fn policy_templates_and_managed_policies_are_refused() {
        let template = function_with("        - DynamoDBCrudPolicy: { TableName: !Ref Table }");
        assert_eq!(iam_violations(&template).unwrap().len(), 1);
        let template = function_with("        - AmazonS3FullAccess");
        assert_eq!(iam_violations(&template).unwrap().len(), 1);
    }
}
