//! `template.yaml` read as data: the functions with their routes, queue
//! sources and environment, and the tables, queues and buckets the local
//! stack creates. CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`, …)
//! are turned into their long forms (`{"Ref": …}`, `{"Fn::GetAtt": …}`) on load.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};

/// The parameter that gives the functions' architecture (`arm64` when
/// deployed, this machine's under `sam local`).
pub const ARCHITECTURE_PARAMETER: &str = "Architecture";

/// The parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    parameters: Map<String, Value>,
    conditions: Map<String, Value>,
    globals_function: Map<String, Value>,
    resources: BTreeMap<String, Resource>,
}

/// One entry of `Resources`.
#[derive(Debug, Clone)]
pub struct Resource {
    /// `Type`, e.g. `AWS::DynamoDB::Table`.
    pub kind: String,
    /// `Properties` (an empty object when absent).
    pub properties: Map<String, Value>,
    /// `Metadata` (an empty object when absent).
    pub metadata: Map<String, Value>,
    /// `DeletionPolicy`, e.g. `Retain` (absent: CloudFormation deletes).
    pub deletion_policy: Option<String>,
    /// `UpdateReplacePolicy`, e.g. `Retain` (absent: CloudFormation deletes).
    pub update_replace_policy: Option<String>,
}

/// An `AWS::Serverless::Function`.
#[derive(Debug, Clone)]
pub struct Function {
    /// The logical id, e.g. `HealthFunction`.
    pub logical_id: String,
    /// The binary built for it (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    /// `Globals.Function.Environment` overlaid with the function's own, unresolved.
    pub environment: BTreeMap<String, Value>,
    /// Its `HttpApi` events.
    pub routes: Vec<Route>,
    /// Its `SQS` events.
    pub queue_sources: Vec<QueueSource>,
    /// `Policies`, as written (absent: `Null`).
    pub policies: Value,
    /// `Timeout` in seconds (function's own, or the global one).
    pub timeout_seconds: u64,
    /// `Tracing` (function's own, or the global one), when written as text, e.g. `Active`.
    pub tracing: Option<String>,
    /// `MemorySize` in MB (function's own, or the global one; Lambda's default 128).
    pub memory_mb: u32,
}

/// An HTTP API route: method and path as API Gateway writes them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Path with `{parameters}`, e.g. `/jobs/{job_id}`.
    pub path: String,
}

/// A route of a WebSocket API (`AWS::ApiGatewayV2::Route` of an API with
/// `ProtocolType: WEBSOCKET`), integrated with a function of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRoute {
    /// `$connect`, `$disconnect`, `$default` or an `action`.
    pub route_key: String,
    /// The function's logical id.
    pub function: String,
    /// Its binary.
    pub binary: String,
    /// Whether it has a route response: the function's answer goes back on
    /// the connection.
    pub two_way: bool,
}

/// An SQS event source mapping of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSource {
    /// Logical id of the queue.
    pub queue: String,
    /// Messages per invocation (SAM's default is 10).
    pub batch_size: u32,
    /// Whether the function reports `batchItemFailures`.
    pub report_batch_item_failures: bool,
}

impl Template {
    /// Reads and parses the template at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses template text.
    pub fn parse(text: &str) -> Result<Self> {
        let yaml: serde_norway::Value = serde_norway::from_str(text).context("invalid YAML")?;
        let Value::Object(mut root) = to_json(yaml)? else {
            bail!("the template is not a mapping");
        };
        let mut object = |key: &str| match root.remove(key) {
            Some(Value::Object(map)) => Ok(map),
            None | Some(Value::Null) => Ok(Map::new()),
            Some(_) => Err(anyhow!("`{key}` is not a mapping")),
        };
        let parameters = object("Parameters")?;
        let conditions = object("Conditions")?;
        let globals = object("Globals")?;
        let raw_resources = object("Resources")?;
        let globals_function = match globals.get("Function") {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        let mut resources = BTreeMap::new();
        for (id, value) in raw_resources {
            let Value::Object(mut entry) = value else {
                bail!("resource {id} is not a mapping");
            };
            let kind = match entry.remove("Type") {
                Some(Value::String(kind)) => kind,
                _ => bail!("resource {id} has no Type"),
            };
            let take = |entry: &mut Map<String, Value>, key: &str| match entry.remove(key) {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            let properties = take(&mut entry, "Properties");
            let metadata = take(&mut entry, "Metadata");
            let policy = |key: &str| entry.get(key).and_then(Value::as_str).map(String::from);
            let deletion_policy = policy("DeletionPolicy");
            let update_replace_policy = policy("UpdateReplacePolicy");
            resources.insert(
                id,
                Resource {
                    kind,
                    properties,
                    metadata,
                    deletion_policy,
                    update_replace_policy,
                },
            );
        }
        Ok(Self {
            parameters,
            conditions,
            globals_function,
            resources,
        })
    }

    /// Every resource, by logical id.
    pub fn resources(&self) -> &BTreeMap<String, Resource> {
        &self.resources
    }

    /// The resource with this logical id.
    pub fn resource(&self, logical_id: &str) -> Option<&Resource> {
        self.resources.get(logical_id)
    }

    /// The logical ids of every resource of this type.
    pub fn ids_of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.resources
            .iter()
            .filter(move |(_, r)| r.kind == kind)
            .map(|(id, _)| id.as_str())
    }

    /// The default of a template parameter, as a string.
    pub fn parameter_default(&self, name: &str) -> Option<String> {
        match self.parameters.get(name)?.get("Default")? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The expression of condition `name` (`Conditions:`).
    pub fn condition(&self, name: &str) -> Option<&Value> {
        self.conditions.get(name)
    }

    /// The type of a template parameter (`String`, `CommaDelimitedList`, …).
    pub fn parameter_type(&self, name: &str) -> Option<&str> {
        self.parameters.get(name)?.get("Type")?.as_str()
    }

    /// Whether the template declares this parameter.
    pub fn has_parameter(&self, name: &str) -> bool {
        self.parameters.contains_key(name)
    }

    /// `Globals.Function`: what every function gets unless it says otherwise.
    pub fn globals_function(&self) -> &Map<String, Value> {
        &self.globals_function
    }

    /// The routes of the template's WebSocket APIs, with their functions.
    pub fn socket_routes(&self) -> Result<Vec<SocketRoute>> {
        let websocket_apis: Vec<&str> = self
            .ids_of_kind("AWS::ApiGatewayV2::Api")
            .filter(|id| {
                self.resources[*id]
                    .properties
                    .get("ProtocolType")
                    .and_then(Value::as_str)
                    == Some("WEBSOCKET")
            })
            .collect();
        let functions = self.functions()?;
        let mut routes = Vec::new();
        for id in self.ids_of_kind("AWS::ApiGatewayV2::Route") {
            let props = &self.resources[id].properties;
            let api = props.get("ApiId").and_then(referenced_id);
            if !api.is_some_and(|api| websocket_apis.contains(&api.as_str())) {
                continue;
            }
            let route_key = props
                .get("RouteKey")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("route {id} has no RouteKey"))?
                .to_string();
            // Target: !Sub "integrations/${<Integration>}".
            let integration = props
                .get("Target")
                .and_then(|t| t.get("Fn::Sub"))
                .and_then(Value::as_str)
                .and_then(|t| t.strip_prefix("integrations/${"))
                .and_then(|t| t.strip_suffix('}'))
                .ok_or_else(|| {
                    anyhow!("route {id}: Target must be !Sub \"integrations/${{<Integration>}}\"")
                })?;
            let uri = self
                .resource(integration)
                .and_then(|i| i.properties.get("IntegrationUri"))
                .and_then(|u| u.get("Fn::Sub"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    anyhow!("route {id}: integration {integration} has no !Sub IntegrationUri")
                })?;
            let function = uri
                .split("/functions/${")
                .nth(1)
                .and_then(|rest| rest.split_once(".Arn}"))
                .map(|(function, _)| function.to_string())
                .ok_or_else(|| {
                    anyhow!("route {id}: integration {integration} names no function's Arn")
                })?;
            let binary = functions
                .iter()
                .find(|f| f.logical_id == function)
                .map(|f| f.binary.clone())
                .ok_or_else(|| {
                    anyhow!("route {id}: {function} is not a function of the template")
                })?;
            let two_way = self
                .ids_of_kind("AWS::ApiGatewayV2::RouteResponse")
                .any(|response| {
                    self.resources[response]
                        .properties
                        .get("RouteId")
                        .and_then(referenced_id)
                        .is_some_and(|route| route == id)
                });
            routes.push(SocketRoute {
                route_key,
                function,
                binary,
                two_way,
            });
        }
        Ok(routes)
    }

    /// Every serverless function, in logical-id order.
    pub fn functions(&self) -> Result<Vec<Function>> {
        self.ids_of_kind("AWS::Serverless::Function")
            .map(|id| self.function(id))
            .collect()
    }

    fn function(&self, id: &str) -> Result<Function> {
        let resource = &self.resources[id];
        let props = &resource.properties;
        let binary = resource
            .metadata
            .get("BuildProperties")
            .and_then(|b| b.get("Binary"))
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("function {id} has no Metadata.BuildProperties.Binary"))?
            .to_string();

        let mut environment = BTreeMap::new();
        for source in [&self.globals_function, props] {
            if let Some(Value::Object(vars)) =
                source.get("Environment").and_then(|e| e.get("Variables"))
            {
                environment.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }

        let mut routes = Vec::new();
        let mut queue_sources = Vec::new();
        if let Some(Value::Object(events)) = props.get("Events") {
            for (name, event) in events {
                let kind = event
                    .get("Type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let event_props = event.get("Properties").cloned().unwrap_or(Value::Null);
                let field = |key: &str| event_props.get(key);
                match kind {
                    "HttpApi" => {
                        let method = field("Method").and_then(Value::as_str);
                        let path = field("Path").and_then(Value::as_str);
                        let (Some(method), Some(path)) = (method, path) else {
                            bail!("function {id}, event {name}: HttpApi needs Method and Path");
                        };
                        routes.push(Route {
                            method: method.to_ascii_uppercase(),
                            path: path.to_string(),
                        });
                    }
                    "SQS" => {
                        let queue = field("Queue").and_then(referenced_id).ok_or_else(|| {
                            anyhow!(
                                "function {id}, event {name}: Queue must be !GetAtt <Queue>.Arn"
                            )
                        })?;
                        let batch_size = match field("BatchSize") {
                            None => 10,
                            Some(v) => number(v)
                                .and_then(|n| u32::try_from(n).ok())
                                .ok_or_else(|| anyhow!("function {id}, event {name}: BatchSize"))?,
                        };
                        let report_batch_item_failures = field("FunctionResponseTypes")
                            .and_then(Value::as_array)
                            .is_some_and(|types| {
                                types.iter().any(|t| t == "ReportBatchItemFailures")
                            });
                        queue_sources.push(QueueSource {
                            queue,
                            batch_size,
                            report_batch_item_failures,
                        });
                    }
                    other => bail!(
                        "function {id}, event {name}: event type {other} is not supported by the local stack"
                    ),
                }
            }
        }

        let timeout_seconds = props
            .get("Timeout")
            .or_else(|| self.globals_function.get("Timeout"))
            .and_then(number)
            .unwrap_or(3);
        let tracing = props
            .get("Tracing")
            .or_else(|| self.globals_function.get("Tracing"))
            .and_then(Value::as_str)
            .map(String::from);
        let memory_mb = props
            .get("MemorySize")
            .or_else(|| self.globals_function.get("MemorySize"))
            .and_then(number)
            .and_then(|mb| u32::try_from(mb).ok())
            .unwrap_or(128);

        Ok(Function {
            logical_id: id.to_string(),
            binary,
            environment,
            routes,
            queue_sources,
            policies: props.get("Policies").cloned().unwrap_or(Value::Null),
            timeout_seconds,
            tracing,
            memory_mb,
        })
    }
}

/// A number written as a YAML number or a string of digits.
pub fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The logical id named by `{"Ref": id}` or `{"Fn::GetAtt": [id, attr]}`.
pub fn referenced_id(value: &Value) -> Option<String> {
    if let Some(id) = value.get("Ref").and_then(Value::as_str) {
        return Some(id.to_string());
    }
    let (id, _) = get_att(value)?;
    Some(id)
}

/// `(logical id, attribute)` of a `Fn::GetAtt`, in list or dotted form.
pub fn get_att(value: &Value) -> Option<(String, String)> {
    match value.get("Fn::GetAtt")? {
        Value::Array(parts) => match parts.as_slice() {
            [Value::String(id), Value::String(attr)] => Some((id.clone(), attr.clone())),
            _ => None,
        },
        Value::String(dotted) => {
            let (id, attr) = dotted.split_once('.')?;
            Some((id.to_string(), attr.to_string()))
        }
        _ => None,
    }
}

/// YAML (with CloudFormation tags) to JSON (with long-form intrinsics).
fn to_json(value: serde_norway::Value) -> Result<Value> {
    use serde_norway::Value as Yaml;
    Ok(match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_u64() {
                Value::from(i)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                n.as_f64().map(Value::from).unwrap_or(Value::Null)
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_>>()?)
        }
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s,
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => bail!("unsupported mapping key {other:?}"),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value)?;
            let (key, inner) = match name {
                "Ref" => ("Ref".to_string(), inner),
                "GetAtt" => {
                    let inner = match inner {
                        Value::String(dotted) => match dotted.split_once('.') {
                            Some((id, attr)) => Value::from(vec![id, attr]),
                            None => bail!("!GetAtt {dotted}: expected Resource.Attribute"),
                        },
                        other => other,
                    };
                    ("Fn::GetAtt".to_string(), inner)
                }
                other => (format!("Fn::{other}"), inner),
            };
            let mut out = Map::new();
            out.insert(key, inner);
            Value::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
Parameters:
  Stage: { Type: String, Default: dev }
Globals:
  Function:
    Timeout: 10
    Tracing: Active
    Environment:
      Variables:
        LOG_LEVEL: info
        TABLE: !Ref Table
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    Properties:
      TableName: !Sub "${AWS::StackName}-table"
  Jobs:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties: { Binary: worker }
    Properties:
      Timeout: 30
      Tracing: PassThrough
      Environment:
        Variables:
          QUEUE_URL: !GetAtt Jobs.QueueUrl
          LOG_LEVEL: debug
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  Api:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties: { Binary: get-job }
    Properties:
      Events:
        Get:
          Type: HttpApi
          Properties: { Path: "/jobs/{job_id}", Method: get }
"#;

    #[test]
    fn reads_functions_routes_and_queue_sources() {
        let template = Template::parse(SAMPLE).unwrap();
        let functions = template.functions().unwrap();
        assert_eq!(functions.len(), 2);
        let api = &functions[0];
        assert_eq!(api.binary, "get-job");
        assert_eq!(
            api.routes,
            vec![Route {
                method: "GET".into(),
                path: "/jobs/{job_id}".into()
            }]
        );
        assert_eq!(api.timeout_seconds, 10);
        assert_eq!(api.tracing.as_deref(), Some("Active"));
        let worker = &functions[1];
        assert_eq!(worker.timeout_seconds, 30);
        assert_eq!(worker.tracing.as_deref(), Some("PassThrough"));
        assert_eq!(
            worker.queue_sources,
            vec![QueueSource {
                queue: "Jobs".into(),
                batch_size: 5,
                report_batch_item_failures: true
            }]
        );
    }

    #[test]
    fn function_environment_overlays_the_globals() {
        let template = Template::parse(SAMPLE).unwrap();
        let worker = template.functions().unwrap().remove(1);
        assert_eq!(worker.environment["LOG_LEVEL"], "debug");
        assert_eq!(
            worker.environment["TABLE"],
            serde_json::json!({"Ref": "Table"})
        );
        assert_eq!(
            worker.environment["QUEUE_URL"],
            serde_json::json!({"Fn::GetAtt": ["Jobs", "QueueUrl"]})
        );
    }

    #[test]
    fn short_tags_become_long_forms() {
        let template = Template::parse(SAMPLE).unwrap();
        let table = template.resource("Table").unwrap();
        assert_eq!(
            table.properties["TableName"],
            serde_json::json!({"Fn::Sub": "${AWS::StackName}-table"})
        );
        assert_eq!(template.parameter_default("Stage").as_deref(), Some("dev"));
    }

    #[test]
    fn reads_the_deletion_policies() {
        let template = Template::parse(SAMPLE).unwrap();
        let table = template.resource("Table").unwrap();
        assert_eq!(table.deletion_policy.as_deref(), Some("Retain"));
        assert_eq!(table.update_replace_policy, None);
        assert_eq!(template.resource("Jobs").unwrap().deletion_policy, None);
    }

    #[test]
    fn a_function_without_a_binary_is_an_error() {
        let text = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {}\n";
        let err = Template::parse(text).unwrap().functions().unwrap_err();
        assert!(err.to_string().contains("BuildProperties.Binary"), "{err}");
    }
}
