//! A DynamoDB Local of a test's own that keeps its tables on disk, so that
//! it can be stopped mid-load and started again with everything it held
//! (the store outage of the statelessness suite).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::dynamodb_local::{STARTUP, Storage, command};
use crate::local_names::Resolver;
use crate::process::free_port;
use crate::process::{Managed, Output};
use crate::provision;
use crate::stack::StackInfo;
use crate::template::Template;

/// A DynamoDB Local of a test's own, beside a running stack, with the
/// template's tables, its data on disk. Point an `Instance` at it with
/// [`PrivateDynamoDb::endpoint_override`]; stop and start it to make an
/// outage. Stopped and its files removed when dropped, pass or fail.
pub struct PrivateDynamoDb {
    /// Its endpoint, e.g. `http://127.0.0.1:41234`.
    pub endpoint: String,
    name: String,
    port: u16,
    dir: PathBuf,
    process: Option<Managed>,
}

impl PrivateDynamoDb {
    /// Starts `name` (a file name) beside the stack `info` describes and
    /// creates the template's tables in it, under the names the stack uses.
    pub async fn start(info: &StackInfo, name: &str) -> Result<Self> {
        let root = crate::workspace_root();
        let dir = info.logs_dir.join("instances").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))?;
        let port = free_port()?;
        let mut store = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            name: name.to_string(),
            port,
            dir,
            process: None,
        };
        store.start_process()?;
        let template = Template::load(&root.join("template.yaml"))?;
        let clients = provision::clients(&store.endpoint, &info.moto_endpoint, None).await;
        provision::create_tables(&clients, &template, &mut Resolver::new(&template, ""))
            .await
            .context("creating the template's tables")?;
        store.copy_published_keys(info, &clients).await?;
        Ok(store)
    }

    /// The stack's published signing keys, so its tokens verify against this store too.
    async fn copy_published_keys(
        &self,
        info: &StackInfo,
        clients: &shared::aws::AwsClients,
    ) -> Result<()> {
        let env = info.template_environment("me");
        let stack_clients = info.aws_clients().await;
        let published = shared::accounts::keystore::PublishedKeys::new(&env, &stack_clients)?;
        let jwks = published
            .jwks()
            .await?
            .context("the stack has published no signing keys")?;
        let jwks: serde_json::Value = serde_json::from_str(&jwks)?;
        shared::accounts::keystore::PublishedKeys::new(&env, clients)?
            .publish(&jwks, shared::time::Timestamp::now())
            .await?;
        Ok(())
    }

    /// The variable that points a function at this store instead of the stack's.
    pub fn endpoint_override(&self) -> (&'static str, &str) {
        ("AWS_ENDPOINT_URL_DYNAMODB", &self.endpoint)
    }

    /// Stops it (SIGTERM, as a shutdown would): from now on its port refuses
    /// connections. What it acknowledged stays on disk.
    pub fn stop(&mut self) {
        // A paused process would not act on SIGTERM: thaw it first.
        let _ = self.resume();
        if let Some(mut process) = self.process.take() {
            process.stop(Signal::SIGTERM, Duration::from_secs(10));
        }
    }

    /// Starts it again on the same port, with the same files; returns once it listens.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.start_process()
    }

    /// Freezes it (SIGSTOP): connections are accepted and never answered,
    /// as a store that hangs. [`PrivateDynamoDb::resume`] thaws it.
    pub fn pause(&self) -> Result<()> {
        self.signal(Signal::SIGSTOP)
    }

    /// Thaws a paused store.
    pub fn resume(&self) -> Result<()> {
        self.signal(Signal::SIGCONT)
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        let process = self.process.as_ref().context("the store is stopped")?;
        killpg(Pid::from_raw(process.pgid() as i32), signal)
            .with_context(|| format!("sending {signal} to {}", self.name))
    }

    fn pgid_file(&self) -> PathBuf {
        self.dir.with_extension("pgid")
    }

    fn start_process(&mut self) -> Result<()> {
        let root = crate::workspace_root();
        let data = self.dir.join("data");
        let mut command = command(&root, self.port, Storage::Files(&data), &self.dir)?;
        let mut process = Managed::spawn(&self.name, &mut command, &self.dir, Output::LogFile)?;
        // Recorded where the stack looks for what a killed test left behind.
        std::fs::write(self.pgid_file(), process.pgid().to_string())?;
        process.wait_for_port(SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)), STARTUP)?;
        self.process = Some(process);
        Ok(())
    }
}

impl Drop for PrivateDynamoDb {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(self.pgid_file());
        let _ = std::fs::remove_dir_all(self.dir.join("data"));
    }
}
