//! The developer tool behind `cargo xtask`: installs the local tools, reads
//! `template.yaml`, runs the whole service on loopback, and runs every check.
//! Tests use it as a library to reach the stack they run against.

pub mod bench;
pub mod call_log;
pub mod calls;
pub mod checks;
pub mod client;
pub mod cors;
pub mod cpu_share;
pub mod docker;
pub mod dynamodb;
pub mod dynamodb_local;
pub mod emf;
pub mod event_sources;
pub mod events;
pub mod fresh_process;
pub mod function_mains;
pub mod glibc;
pub mod handlers;
pub mod happy_path;
pub mod http1;
pub mod imports;
pub mod local_names;
pub mod openapi;
pub mod process;
pub mod prove;
pub mod provision;
pub mod router;
pub mod runtime_api;
pub mod sam_local;
pub mod stack;
pub mod template;
pub mod tls_front;
pub mod tools;
pub mod ws_gateway;

use std::path::PathBuf;
use std::process::Command;

/// The cargo that runs this tool (`CARGO`, else the one on `PATH`), in the
/// workspace root.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// The workspace root (the folder of the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// AWS SDK settings for the emulators: local region, dummy credentials, no
/// profile or instance metadata lookups.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(local_names::REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            stack::LOCAL_ACCESS_KEY,
            stack::LOCAL_ACCESS_KEY,
            None,
            None,
            "xtask",
        ))
        .load()
        .await
}
