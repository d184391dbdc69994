//! `shared/openapi.yaml` for the tests that hold the API to it: read with
//! `xtask::openapi`, which walks it the same way for every check.

use std::path::PathBuf;

use serde_json::Value;
pub use xtask::openapi::{Operation, operations, resolve};

/// Where the spec is.
pub fn path() -> PathBuf {
    xtask::openapi::path(&xtask::workspace_root())
}

/// The spec, as JSON.
pub fn load() -> Value {
    xtask::openapi::load(&xtask::workspace_root()).unwrap()
}
