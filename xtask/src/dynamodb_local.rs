//! DynamoDB Local: the command that runs it on loopback, in memory or on disk.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::tools::Tools;

/// Where DynamoDB Local keeps its tables.
#[derive(Debug, Clone, Copy)]
pub enum Storage<'a> {
    /// In memory: gone when the process stops.
    Memory,
    /// In a SQLite file in this folder: kept across restarts.
    Files(&'a Path),
}

/// The command that runs DynamoDB Local on `127.0.0.1:port` from `run_dir`.
pub fn command(root: &Path, port: u16, storage: Storage, run_dir: &Path) -> Result<Command> {
    let dir = Tools::new(root).dynamodb_local_dir()?;
    let mut command = Command::new("java");
    command
        .arg(format!(
            "-Djava.library.path={}",
            dir.join("DynamoDBLocal_lib").display()
        ))
        .arg("-cp")
        .arg(format!(
            "{}:{}/*",
            dir.join("DynamoDBLocal.jar").display(),
            dir.join("DynamoDBLocal_lib").display()
        ))
        // DynamoDB Local itself binds every interface; this launcher binds loopback.
        .arg(root.join("xtask/tools/DynamoDbLocalOnLoopback.java"))
        .args(["-sharedDb", "-disableTelemetry", "-port"])
        .arg(port.to_string())
        .current_dir(run_dir);
    match storage {
        Storage::Memory => command.arg("-inMemory"),
        Storage::Files(folder) => command.arg("-dbPath").arg(folder),
    };
    Ok(command)
}

/// How long DynamoDB Local may take to listen (the JVM compiles the launcher first).
pub const STARTUP: Duration = Duration::from_secs(90);
