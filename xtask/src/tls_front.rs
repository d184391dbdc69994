//! TLS in front of the local emulators, so that a measured function reaches
//! its stores as it does on AWS: over HTTPS, with a certificate chain to
//! verify (a root, an intermediate and the server's, RSA 2048 like AWS's
//! endpoints) and a handshake to pay. The chain is the bench's own, made at
//! each run; a function trusts it through the usual variables
//! ([`TlsFront::trust_env`]): `SSL_CERT_FILE` (the Rust SDK's native roots),
//! `AWS_CA_BUNDLE` (boto3) and `NODE_EXTRA_CA_CERTS` (Node.js), and the
//! bundle holds the machine's public roots as well, so loading it costs
//! what loading the system's roots costs.
//!
//! Each front listens on 127.0.0.1, ends TLS and relays the bytes to its
//! emulator over plain TCP.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};

/// The system's bundle of public roots (Debian's `ca-certificates`).
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Running TLS fronts, one per emulator endpoint; stopped when dropped.
pub struct TlsFront {
    /// `http://127.0.0.1:<emulator>` to `https://127.0.0.1:<front>`.
    fronts: BTreeMap<String, String>,
    /// The public roots and the bench's root, PEM.
    bundle: PathBuf,
    /// The bench's root alone, PEM.
    root: PathBuf,
    relays: JoinSet<()>,
    handshakes: Arc<AtomicUsize>,
}

impl TlsFront {
    /// A chain of the bench's own written under `dir`, and a front for each
    /// of `endpoints` (plain `http://` URLs on loopback).
    pub async fn start(dir: &Path, endpoints: &[&str]) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let chain = Chain::new()?;
        let root = dir.join("bench-root.pem");
        std::fs::write(&root, &chain.root_pem)?;
        let mut bundle_text = std::fs::read_to_string(SYSTEM_ROOTS).unwrap_or_default();
        bundle_text.push_str(&chain.root_pem);
        let bundle = dir.join("bench-bundle.pem");
        std::fs::write(&bundle, bundle_text)?;

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain.served, chain.key)?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let mut fronts = BTreeMap::new();
        let mut relays = JoinSet::new();
        let handshakes = Arc::new(AtomicUsize::new(0));
        for endpoint in endpoints {
            if fronts.contains_key(*endpoint) {
                continue;
            }
            let backend = endpoint
                .strip_prefix("http://")
                .with_context(|| format!("{endpoint} is not a plain http:// endpoint"))?
                .trim_end_matches('/')
                .to_string();
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            let front = format!("https://{}", listener.local_addr()?);
            relays.spawn(accept(
                listener,
                acceptor.clone(),
                backend,
                Arc::clone(&handshakes),
            ));
            fronts.insert(endpoint.to_string(), front);
        }
        Ok(Self {
            fronts,
            bundle,
            root,
            relays,
            handshakes,
        })
    }

    /// The handshakes completed so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::Relaxed)
    }

    /// The HTTPS front of `endpoint`, if it has one.
    pub fn front_of(&self, endpoint: &str) -> Option<&str> {
        self.fronts.get(endpoint).map(String::as_str)
    }

    /// `env` with every endpoint that has a front replaced by it, and the
    /// variables that make each runtime trust the bench's root.
    pub fn over_tls(&self, env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = env
            .iter()
            .map(|(name, value)| {
                let value = self
                    .front_of(value)
                    .map_or_else(|| value.clone(), String::from);
                (name.clone(), value)
            })
            .collect();
        env.extend(self.trust_env());
        env
    }

    /// The variables each runtime reads its trusted roots from.
    pub fn trust_env(&self) -> [(String, String); 3] {
        let path = |p: &Path| p.display().to_string();
        [
            // rustls-native-certs, under the Rust SDK's HTTPS client.
            ("SSL_CERT_FILE".to_string(), path(&self.bundle)),
            // botocore.
            ("AWS_CA_BUNDLE".to_string(), path(&self.bundle)),
            // Node.js adds these to its own roots.
            ("NODE_EXTRA_CA_CERTS".to_string(), path(&self.root)),
        ]
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.relays.abort_all();
    }
}

async fn accept(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    backend: String,
    handshakes: Arc<AtomicUsize>,
) {
    let mut connections = JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        let (acceptor, backend) = (acceptor.clone(), backend.clone());
        let handshakes = Arc::clone(&handshakes);
        connections.spawn(async move {
            let _ = relay(client, &acceptor, &backend, &handshakes).await;
        });
    }
}

async fn relay(
    client: TcpStream,
    acceptor: &TlsAcceptor,
    backend: &str,
    handshakes: &AtomicUsize,
) -> Result<()> {
    client.set_nodelay(true)?;
    let mut tls = acceptor.accept(client).await?;
    handshakes.fetch_add(1, Ordering::Relaxed);
    let mut upstream = TcpStream::connect(backend).await?;
    upstream.set_nodelay(true)?;
    tokio::io::copy_bidirectional(&mut tls, &mut upstream).await?;
    Ok(())
}

/// A root, an intermediate it signed, and the server's certificate for
/// `127.0.0.1` and `localhost` that the intermediate signed.
struct Chain {
    root_pem: String,
    /// The server's certificate, then the intermediate.
    served: Vec<pki_types::CertificateDer<'static>>,
    key: pki_types::PrivateKeyDer<'static>,
}

impl Chain {
    fn new() -> Result<Self> {
        let authority = |name: &str| -> Result<CertificateParams> {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.distinguished_name.push(DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            Ok(params)
        };
        let root = CertifiedIssuer::self_signed(
            authority("xtask bench root")?,
            KeyPair::generate_for(&PKCS_RSA_SHA256)?,
        )?;
        let intermediate = CertifiedIssuer::signed_by(
            authority("xtask bench intermediate")?,
            KeyPair::generate_for(&PKCS_RSA_SHA256)?,
            &root,
        )?;
        let mut server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let server_key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
        let served = server.signed_by(&server_key, &intermediate)?;
        Ok(Self {
            root_pem: root.pem(),
            served: vec![served.der().clone(), intermediate.der().clone()],
            key: pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        })
    }
}
