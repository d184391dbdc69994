//! The Docker engine `sam local` runs the functions in: one that already
//! runs (`DOCKER_HOST`, or the default socket), else a private `dockerd` of
//! the stack's own (Debian's `docker.io`, installed as root through apt when
//! missing), with its data in `.tools/docker/<stack>/`; a bridge network of
//! the stack's own on a subnet this module sets; and the base image the
//! functions' containers start from, built from pinned Debian packages.

use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{Managed, Output};

/// Debian's Docker engine, pinned (bookworm).
pub const DOCKER_PACKAGE: &str = "docker.io=20.10.24+dfsg1-1+deb12u1+b6";

/// The base image's packages (bookworm), pinned: a shell, `mv` and `chmod`
/// (what SAM's emulation image runs when it is built) from busybox, and the
/// libraries a function's `bootstrap` links (glibc 2.36: newer than
/// Amazon Linux 2023's 2.34, so every binary's newest glibc symbol is held
/// to 2.34 apart, `crate::glibc`), and the root certificates the SDK's TLS
/// loads at start (as Amazon Linux has them).
pub const BASE_IMAGE_PACKAGES: [&str; 4] = [
    "busybox-static=1:1.35.0-4+deb12u1+b1",
    "ca-certificates=20230311+deb12u1",
    "libc6=2.36-9+deb12u14",
    "libgcc-s1=12.2.0-14+deb12u1",
];

/// The commands of busybox the base image links into `/bin`.
const BUSYBOX_COMMANDS: [&str; 8] = ["sh", "mv", "chmod", "cp", "rm", "ls", "cat", "mkdir"];

/// The label of every network this tool makes, with the stack's name as value.
pub const LABEL: &str = "stateless-lambda.stack";

/// The label SAM CLI puts on every function container it starts.
const SAM_CONTAINER_LABEL: &str = "sam.cli.container.type=lambda";

/// The base image's name in the engine: a stand-in for
/// `public.ecr.aws/lambda/provided:al2023`, given to SAM with `--invoke-image`
/// (never under AWS's name, which would shadow the real one in an engine of
/// the developer's own). The tag changes with the pins.
pub fn base_image_name() -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in BASE_IMAGE_PACKAGES.join(" ").bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    format!("stateless-lambda/provided-al2023-standin:{hash:08x}")
}

/// What `sam local` needs of Docker on this machine, or one clear sentence
/// saying what is missing.
pub fn ensure_installed() -> Result<()> {
    let external = external_host().is_some();
    if external || (on_path("dockerd") && on_path("ip")) {
        return Ok(());
    }
    if !nix::unistd::Uid::effective().is_root() || !on_path("apt-get") {
        bail!(
            "sam local needs a Docker engine: none answers (DOCKER_HOST is unset and \
             /var/run/docker.sock does not answer), and this machine cannot get one here \
             (installing Debian's docker.io takes root and apt-get). Start a Docker engine, \
             or run this as root on Debian."
        );
    }
    println!("xtask: installing Debian's {DOCKER_PACKAGE} (apt-get, about 250 MiB; once)");
    let install = || {
        crate::tools::run(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "--quiet"])
                // `ip` makes the stack's bridge.
                .args([DOCKER_PACKAGE, "iproute2"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if install().is_err() {
        crate::tools::run(Command::new("apt-get").args(["update", "--quiet"]))?;
        install().context("installing docker.io")?;
    }
    Ok(())
}

/// Unpacks the base image's pinned packages into `.tools/sam-base/rootfs`
/// and packs it as `rootfs.tar` (once per pin); the path of the tar.
pub fn ensure_base_image_files(tools: &Path) -> Result<PathBuf> {
    let dir = tools.join("sam-base");
    let tar = dir.join("rootfs.tar");
    let stamp = dir.join(".installed");
    let wanted = BASE_IMAGE_PACKAGES.join(" ");
    if tar.exists() && std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted) {
        return Ok(tar);
    }
    println!("xtask: unpacking {wanted} (Debian) into .tools/sam-base (the functions' base image)");
    let _ = std::fs::remove_dir_all(&dir);
    let debs = dir.join("debs");
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&debs)?;
    std::fs::create_dir_all(&rootfs)?;
    crate::tools::run(
        Command::new("apt-get")
            .args(["download", "--quiet"])
            .args(BASE_IMAGE_PACKAGES)
            .current_dir(&debs),
    )?;
    for deb in std::fs::read_dir(&debs)? {
        crate::tools::run(
            Command::new("dpkg-deb")
                .arg("-x")
                .arg(deb?.path())
                .arg(&rootfs),
        )?;
    }
    for folder in ["tmp", "var/task", "var/runtime", "var/rapid", "opt", "etc"] {
        std::fs::create_dir_all(rootfs.join(folder))?;
    }
    std::fs::create_dir_all(rootfs.join("bin"))?;
    for command in BUSYBOX_COMMANDS {
        let link = rootfs.join("bin").join(command);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link)?;
        }
    }
    // The bundle `update-ca-certificates` would write, where Debian and
    // Amazon Linux keep it.
    let mut bundle = String::new();
    let mut certificates: Vec<PathBuf> =
        std::fs::read_dir(rootfs.join("usr/share/ca-certificates/mozilla"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
    certificates.sort();
    for certificate in certificates {
        bundle.push_str(&std::fs::read_to_string(certificate)?);
    }
    for folder in ["etc/ssl/certs", "etc/pki/tls/certs"] {
        std::fs::create_dir_all(rootfs.join(folder))?;
    }
    std::fs::write(rootfs.join("etc/ssl/certs/ca-certificates.crt"), &bundle)?;
    std::fs::write(rootfs.join("etc/pki/tls/certs/ca-bundle.crt"), &bundle)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    crate::tools::run(
        Command::new("tar")
            .arg("--create")
            .arg("--file")
            .arg(&tar)
            .arg("--directory")
            .arg(&rootfs)
            .arg("."),
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(tar)
}

/// The engine given by `DOCKER_HOST`, or the default socket if it answers.
fn external_host() -> Option<String> {
    if let Some(host) = std::env::var_os("DOCKER_HOST").filter(|h| !h.is_empty()) {
        return Some(host.to_string_lossy().into_owned());
    }
    let socket = "/var/run/docker.sock";
    UnixStream::connect(socket)
        .is_ok()
        .then(|| format!("unix://{socket}"))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// The engine of one stack and its network.
#[derive(Debug)]
pub struct Engine {
    /// `DOCKER_HOST` for the `docker` client and SAM.
    pub host: String,
    /// The private `dockerd`, if the stack started one (the stack takes it
    /// among its processes).
    pub dockerd: Option<Managed>,
    /// Whether the engine is the stack's own.
    pub private: bool,
    /// The stack's bridge network.
    pub network: String,
    /// The host's address on that network: where the containers reach the emulators.
    pub gateway: Ipv4Addr,
}

impl Engine {
    /// An engine for stack `name` (run folder `run_dir`, tools in `tools`):
    /// the running one if there is one, else a private `dockerd`; then the
    /// stack's network on subnet `10.213.<subnet>.0/24` (made anew: what a
    /// dead run left on it goes), and the base image imported if missing.
    pub fn start(tools: &Path, run_dir: &Path, name: &str, subnet: u8) -> Result<Self> {
        ensure_installed()?;
        let tar = ensure_base_image_files(tools)?;
        let gateway = Ipv4Addr::new(10, 213, subnet, 1);
        let (host, dockerd) = match external_host() {
            Some(host) => (host, None),
            None => {
                let (host, process) = start_dockerd(tools, run_dir, name, gateway)?;
                (host, Some(process))
            }
        };
        let private = dockerd.is_some();
        let mut engine = Self {
            host,
            private,
            dockerd,
            // A private engine's default bridge is the stack's network
            // (SAM starts every container on the default network, then
            // connects it to the one it is given).
            network: if private {
                "bridge".to_string()
            } else {
                format!("sl-{name}")
            },
            gateway,
        };
        engine.wait_until_up()?;
        engine.remove_containers();
        if !private {
            engine.create_network(name, subnet)?;
        }
        let image = base_image_name();
        if engine.docker(&["image", "inspect", &image]).is_err() {
            println!("xtask: importing the base image {image} into the engine");
            let tar = tar.to_string_lossy().into_owned();
            engine.docker(&["import", &tar, &image])?;
        }
        Ok(engine)
    }

    /// The stack's network on an engine of the developer's own.
    fn create_network(&self, name: &str, subnet: u8) -> Result<()> {
        let _ = self.docker(&["network", "rm", &self.network]);
        let label = format!("{LABEL}={name}");
        let bridge = format!("com.docker.network.bridge.name=sl-{name}");
        self.docker(&[
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            &format!("10.213.{subnet}.0/24"),
            "--gateway",
            &Ipv4Addr::new(10, 213, subnet, 1).to_string(),
            "--opt",
            &bridge,
            "--opt",
            "com.docker.network.bridge.enable_ip_masquerade=false",
            "--opt",
            "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
            "--label",
            &label,
            &self.network,
        ])
        .context("creating the stack's Docker network")?;
        Ok(())
    }

    /// Runs the `docker` client on this engine; its output.
    pub fn docker(&self, args: &[&str]) -> Result<String> {
        let output = Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .output()
            .context("running the docker client")?;
        if !output.status.success() {
            bail!(
                "docker {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn wait_until_up(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(dockerd) = &mut self.dockerd {
                dockerd.check_running()?;
            }
            match self.docker(&["version", "--format", "{{.Server.Version}}"]) {
                Ok(_) => return Ok(()),
                Err(error) if Instant::now() > deadline => {
                    return Err(error.context("the Docker engine did not answer within 60 s"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Removes SAM's function containers on the stack's network (every
    /// one, on a private engine: nothing else runs there).
    pub fn remove_containers(&self) {
        let mut filter = vec!["ps", "--all", "--quiet", "--filter", SAM_CONTAINER_LABEL];
        let network = format!("network={}", self.network);
        if !self.private {
            filter.extend(["--filter", &network]);
        }
        let Ok(ids) = self.docker(&filter) else {
            return;
        };
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "--force"];
            args.extend(ids);
            let _ = self.docker(&args);
        }
    }

    /// Removes the stack's containers and network (the private `dockerd`
    /// itself is one of the stack's processes, stopped after this).
    pub fn clean_up(&self) {
        self.remove_containers();
        if !self.private {
            let _ = self.docker(&["network", "rm", &self.network]);
        }
    }
}

/// The Linux bridge of stack `name`'s private engine (at most 15 bytes).
pub fn bridge_name(name: &str) -> String {
    format!("sl-{name}").chars().take(15).collect()
}

/// Makes the stack's bridge anew with the host's address `gateway`, so
/// that two private engines (a `dev --sam` and the tests) never share
/// Docker's `docker0`.
fn create_bridge(bridge: &str, gateway: Ipv4Addr) -> Result<()> {
    delete_bridge(bridge);
    // An address of the subnet on another interface (a bridge of another
    // engine) would take the containers' traffic: refuse, saying which.
    let subnet = format!("{}/24", Ipv4Addr::from(u32::from(gateway) & 0xffff_ff00));
    let taken = Command::new("ip")
        .args(["-o", "address", "show", "to", &subnet])
        .output()
        .context("running ip")?;
    let taken = String::from_utf8_lossy(&taken.stdout);
    if let Some(line) = taken.lines().next() {
        bail!(
            "the stack's subnet {subnet} is already on this machine ({}); remove that address or interface",
            line.split_whitespace()
                .take(4)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let ip = |args: &[&str]| crate::tools::run(Command::new("ip").args(args));
    ip(&["link", "add", "name", bridge, "type", "bridge"])?;
    ip(&["address", "add", &format!("{gateway}/24"), "dev", bridge])?;
    ip(&["link", "set", bridge, "up"])
}

/// Removes the stack's bridge, if there is one.
pub fn delete_bridge(bridge: &str) {
    let exists = Path::new("/sys/class/net").join(bridge).exists();
    if exists {
        let _ = Command::new("ip").args(["link", "delete", bridge]).status();
    }
}

/// What a stopped private `dockerd` of stack `name` can leave on the host:
/// its bridge; a `docker0` it made on the stack's subnet (seen as it shut
/// down); the mount of its data folder onto itself. All go.
pub fn clean_up_after_dockerd(tools: &Path, name: &str, gateway: Ipv4Addr) {
    delete_bridge(&bridge_name(name));
    let docker0 = Command::new("ip")
        .args(["-o", "address", "show", "dev", "docker0"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if docker0.contains(&format!("inet {gateway}/")) {
        delete_bridge("docker0");
    }
    let data = tools.join("docker").join(name).join("data");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let data_text = data.to_string_lossy();
    for _ in mounts
        .lines()
        .filter(|line| line.split_whitespace().nth(1) == Some(&*data_text))
    {
        let _ = nix::mount::umount(&data);
    }
}

/// Starts `dockerd` with everything of its own under `.tools/docker/<name>/`
/// and its socket in the run folder; its default network on a bridge of
/// the stack's own, on the stack's subnet (the host's address on it is
/// `gateway`); no iptables rules, so no masquerading (nothing leaves the
/// bridge for the outside) and nothing changed in the host's firewall;
/// published ports on loopback.
fn start_dockerd(
    tools: &Path,
    run_dir: &Path,
    name: &str,
    gateway: Ipv4Addr,
) -> Result<(String, Managed)> {
    let dir = tools.join("docker").join(name);
    let data = dir.join("data");
    let exec = dir.join("exec");
    std::fs::create_dir_all(&data)?;
    std::fs::create_dir_all(&exec)?;
    let bridge = bridge_name(name);
    create_bridge(&bridge, gateway).context("making the stack's bridge for its dockerd")?;
    let socket = run_dir.join("docker.sock");
    let _ = std::fs::remove_file(&socket);
    let host = format!("unix://{}", socket.display());
    let mut command = Command::new("dockerd");
    command
        .arg("--data-root")
        .arg(&data)
        .arg("--exec-root")
        .arg(&exec)
        .arg("--pidfile")
        .arg(run_dir.join("dockerd.pid"))
        .args(["-H", &host])
        .arg("--bridge")
        .arg(&bridge)
        .args([
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--ip",
            "127.0.0.1",
            "--shutdown-timeout",
            "3",
            "--log-level",
            "warn",
        ])
        .current_dir(run_dir);
    println!(
        "xtask: starting a private dockerd (socket {})",
        socket.display()
    );
    let process = Managed::spawn("dockerd", &mut command, run_dir, Output::LogFile)?;
    Ok((host, process))
}
