//! `shared/openapi.yaml`, the service's contract, read and walked the same
//! way by every check that holds the API to it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::template::Route;

/// Where the spec of the tree at `root` is.
pub fn path(root: &Path) -> PathBuf {
    root.join("shared").join("openapi.yaml")
}

/// The spec of the tree at `root`, as JSON.
pub fn load(root: &Path) -> Result<Value> {
    let path = path(root);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_norway::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// One operation: upper-case method, path, and the operation object.
pub struct Operation<'a> {
    pub method: String,
    pub path: &'a str,
    pub operation: &'a Value,
}

/// Every operation of `spec` (every key under a path is taken for a method:
/// the route check holds the spec to that).
pub fn operations(spec: &Value) -> Vec<Operation<'_>> {
    let mut all = Vec::new();
    let paths = spec["paths"].as_object().into_iter().flatten();
    for (path, item) in paths {
        for (method, operation) in item.as_object().into_iter().flatten() {
            all.push(Operation {
                method: method.to_uppercase(),
                path,
                operation,
            });
        }
    }
    all
}

/// `value`, or what its `$ref` names in `spec` (`value` itself if the
/// reference names nothing).
pub fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    value["$ref"]
        .as_str()
        .and_then(|reference| reference.strip_prefix('#'))
        .and_then(|pointer| spec.pointer(pointer))
        .unwrap_or(value)
}

/// The example body of the operation `method path` (`requestBody`'s JSON
/// example), if it takes one: a body the route accepts.
pub fn request_example(spec: &Value, method: &str, path: &str) -> Option<Value> {
    let operation = &spec["paths"][path][method.to_lowercase()];
    let body = resolve(spec, &operation["requestBody"]);
    body["content"]["application/json"]["example"]
        .as_object()
        .map(|example| Value::Object(example.clone()))
}

/// The routes `spec` describes.
pub fn routes(spec: &Value) -> BTreeSet<Route> {
    operations(spec)
        .into_iter()
        .map(|Operation { method, path, .. }| Route {
            method,
            path: path.to_string(),
        })
        .collect()
}
