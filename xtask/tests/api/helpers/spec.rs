//! `shared/openapi.yaml`, read once per test and walked the same way by
//! every test that holds the API to it.

use std::path::PathBuf;

use serde_json::Value;

/// Where the spec is.
pub fn path() -> PathBuf {
    xtask::workspace_root().join("shared/openapi.yaml")
}

/// The spec, as JSON.
pub fn load() -> Value {
    serde_norway::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap()
}

/// One operation: upper-case method, path, and the operation object.
pub struct Operation<'a> {
    pub method: String,
    pub path: &'a str,
    pub operation: &'a Value,
}

/// Every operation of `spec` (every key under a path is a method: the
/// route test of `openapi.rs` holds the spec to that).
pub fn operations(spec: &Value) -> Vec<Operation<'_>> {
    let mut all = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push(Operation {
                method: method.to_uppercase(),
                path,
                operation,
            });
        }
    }
    all
}

/// `value`, or what its `$ref` names in `spec`.
pub fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => spec.pointer(&reference[1..]).unwrap(),
        None => value,
    }
}
