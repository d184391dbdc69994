//! What the template's names and intrinsics mean on the local stack: every
//! table, queue and bucket gets a local name, and `!Ref`, `!GetAtt`, `!Sub`
//! and `!Join` resolve to local names, URLs and ARNs.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

use crate::template::{Template, get_att};

/// The account id moto uses; ARNs and queue URLs carry it.
pub const ACCOUNT_ID: &str = "123456789012";
/// Dummy credentials of every local stack (the emulators accept any).
pub const LOCAL_ACCESS_KEY: &str = "local";
/// The region of every local stack.
pub const REGION: &str = "us-east-1";
/// `AWS::StackName` on a local stack.
pub const STACK_NAME: &str = "local";

/// The local identity of one provisioned resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResource {
    /// Physical name (table, queue or bucket name).
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Queue URL, for queues.
    pub url: Option<String>,
}

/// Resolves the template's references against what was provisioned locally.
#[derive(Debug, Clone)]
pub struct Resolver<'t> {
    template: &'t Template,
    prefix: String,
    resources: BTreeMap<String, LocalResource>,
    parameters: BTreeMap<String, String>,
}

impl<'t> Resolver<'t> {
    /// A resolver whose local names start with `prefix` (empty for a whole stack;
    /// tests that share emulators use their own).
    pub fn new(template: &'t Template, prefix: &str) -> Self {
        Self {
            template,
            prefix: prefix.to_string(),
            resources: BTreeMap::new(),
            parameters: BTreeMap::new(),
        }
    }

    /// Gives a template parameter its local value (over its `Default`).
    pub fn set_parameter(&mut self, name: &str, value: String) {
        self.parameters.insert(name.to_string(), value);
    }

    /// The local physical name of a resource: its logical id in kebab case.
    pub fn local_name(&self, logical_id: &str) -> String {
        let mut name = self.prefix.clone();
        for (i, c) in logical_id.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    name.push('-');
                }
                name.push(c.to_ascii_lowercase());
            } else if c.is_ascii_alphanumeric() || c == '-' {
                name.push(c);
            } else {
                name.push('-');
            }
        }
        name
    }

    /// Records what provisioning created for `logical_id`.
    pub fn record(&mut self, logical_id: &str, resource: LocalResource) {
        self.resources.insert(logical_id.to_string(), resource);
    }

    /// Records `logical_id` as provisioned under `name`, at the ARN it was
    /// known to have, with no URL (a table, a bucket).
    pub fn record_named(&mut self, logical_id: &str, name: String) -> Result<()> {
        let arn = self.arn_of(logical_id)?;
        self.record(
            logical_id,
            LocalResource {
                name,
                arn,
                url: None,
            },
        );
        Ok(())
    }

    /// What was provisioned for `logical_id`.
    pub fn provisioned(&self, logical_id: &str) -> Option<&LocalResource> {
        self.resources.get(logical_id)
    }

    /// The ARN a resource will have locally, known before it is created.
    pub fn arn_of(&self, logical_id: &str) -> Result<String> {
        let resource = self
            .template
            .resource(logical_id)
            .ok_or_else(|| anyhow!("no resource {logical_id} in the template"))?;
        let name = self.local_name(logical_id);
        Ok(match resource.kind.as_str() {
            "AWS::SQS::Queue" => format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"),
            "AWS::DynamoDB::Table" => {
                format!("arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}")
            }
            "AWS::S3::Bucket" => format!("arn:aws:s3:::{name}"),
            other => bail!("{logical_id}: no local ARN for {other}"),
        })
    }

    /// Resolves a template value (a literal or an intrinsic) to a string.
    pub fn resolve(&self, value: &Value) -> Result<String> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Object(map) if map.len() == 1 => {
                if let Some(target) = map.get("Ref").and_then(Value::as_str) {
                    return self.reference(target);
                }
                if let Some((id, attr)) = get_att(value) {
                    return self.attribute(&id, &attr);
                }
                if let Some(sub) = map.get("Fn::Sub") {
                    return self.substitute(sub);
                }
                if let Some(Value::Array(args)) = map.get("Fn::Join")
                    && let [Value::String(sep), Value::Array(parts)] = args.as_slice()
                {
                    let parts = parts
                        .iter()
                        .map(|p| self.resolve(p))
                        .collect::<Result<Vec<_>>>()?;
                    return Ok(parts.join(sep));
                }
                bail!("the local stack cannot resolve {value}")
            }
            other => bail!("the local stack cannot resolve {other}"),
        }
    }

    fn reference(&self, target: &str) -> Result<String> {
        match target {
            "AWS::Region" => return Ok(REGION.into()),
            "AWS::AccountId" => return Ok(ACCOUNT_ID.into()),
            "AWS::StackName" => return Ok(STACK_NAME.into()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            _ => {}
        }
        if let Some(value) = self.parameters.get(target) {
            return Ok(value.clone());
        }
        if let Some(default) = self.template.parameter_default(target) {
            return Ok(default);
        }
        if self.template.has_parameter(target) {
            bail!("parameter {target} has no Default and no local value");
        }
        let resource = self
            .template
            .resource(target)
            .ok_or_else(|| anyhow!("!Ref {target}: no such parameter or resource"))?;
        match resource.kind.as_str() {
            // Ref of a queue is its URL, as in CloudFormation.
            "AWS::SQS::Queue" => self.attribute(target, "QueueUrl"),
            "AWS::DynamoDB::Table" | "AWS::S3::Bucket" => Ok(self.local_name(target)),
            other => bail!("!Ref {target}: the local stack has no value for a {other}"),
        }
    }

    fn attribute(&self, id: &str, attr: &str) -> Result<String> {
        match attr {
            "Arn" => self.arn_of(id),
            "QueueName" => Ok(self.local_name(id)),
            "QueueUrl" => self
                .provisioned(id)
                .and_then(|r| r.url.clone())
                .ok_or_else(|| anyhow!("!GetAtt {id}.QueueUrl: the queue is not provisioned")),
            other => bail!("!GetAtt {id}.{other}: not supported by the local stack"),
        }
    }

    fn substitute(&self, sub: &Value) -> Result<String> {
        let (text, vars) = match sub {
            Value::String(text) => (text.as_str(), None),
            Value::Array(args) => match args.as_slice() {
                [Value::String(text), Value::Object(vars)] => (text.as_str(), Some(vars)),
                _ => bail!("Fn::Sub: expected a string or [string, variables]"),
            },
            _ => bail!("Fn::Sub: expected a string or [string, variables]"),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("Fn::Sub: unclosed ${{ in {text}"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = vars.and_then(|v| v.get(name)) {
                out.push_str(&self.resolve(value)?);
            } else if let Some((id, attr)) = name.split_once('.') {
                out.push_str(&self.attribute(id, attr)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SAMPLE: &str = r#"
Parameters:
  TokenMinutes: { Type: Number, Default: 15 }
Resources:
  SessionsTable: { Type: AWS::DynamoDB::Table }
  JobsQueue: { Type: AWS::SQS::Queue }
  UploadsBucket: { Type: AWS::S3::Bucket }
"#;

    fn resolver(template: &Template) -> Resolver<'_> {
        let mut resolver = Resolver::new(template, "");
        resolver.record(
            "JobsQueue",
            LocalResource {
                name: "jobs-queue".into(),
                arn: "arn:aws:sqs:us-east-1:123456789012:jobs-queue".into(),
                url: Some("http://127.0.0.1:5000/123456789012/jobs-queue".into()),
            },
        );
        resolver
    }

    #[test]
    fn names_are_kebab_case_logical_ids() {
        let template = Template::parse(SAMPLE).unwrap();
        let r = Resolver::new(&template, "t1-");
        assert_eq!(r.local_name("SessionsTable"), "t1-sessions-table");
    }

    #[test]
    fn refs_resolve_like_cloudformation() {
        let template = Template::parse(SAMPLE).unwrap();
        let r = resolver(&template);
        assert_eq!(
            r.resolve(&json!({"Ref": "SessionsTable"})).unwrap(),
            "sessions-table"
        );
        assert_eq!(
            r.resolve(&json!({"Ref": "JobsQueue"})).unwrap(),
            "http://127.0.0.1:5000/123456789012/jobs-queue"
        );
        assert_eq!(r.resolve(&json!({"Ref": "TokenMinutes"})).unwrap(), "15");
        assert_eq!(
            r.resolve(&json!({"Fn::GetAtt": ["UploadsBucket", "Arn"]}))
                .unwrap(),
            "arn:aws:s3:::uploads-bucket"
        );
    }

    #[test]
    fn sub_and_join_resolve_their_parts() {
        let template = Template::parse(SAMPLE).unwrap();
        let r = resolver(&template);
        assert_eq!(
            r.resolve(&json!({"Fn::Sub": "${UploadsBucket.Arn}/users/*"}))
                .unwrap(),
            "arn:aws:s3:::uploads-bucket/users/*"
        );
        assert_eq!(
            r.resolve(&json!({"Fn::Sub": ["${AWS::StackName}-${X}-${!Keep}", {"X": {"Ref": "SessionsTable"}}]}))
                .unwrap(),
            "local-sessions-table-${Keep}"
        );
        assert_eq!(
            r.resolve(&json!({"Fn::Join": ["/", ["a", {"Ref": "AWS::Region"}]]}))
                .unwrap(),
            "a/us-east-1"
        );
    }

    #[test]
    fn unknown_references_are_errors() {
        let template = Template::parse(SAMPLE).unwrap();
        let r = resolver(&template);
        assert!(r.resolve(&json!({"Ref": "Nope"})).is_err());
        assert!(r.resolve(&json!({"Fn::If": ["C", "a", "b"]})).is_err());
    }
}
