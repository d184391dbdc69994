//! The CPU a Lambda invocation gets: a share in proportion to the
//! function's memory size (1,769 MB is one vCPU, so 128 MB is about a
//! fourteenth of one), while init runs at full speed. Modelled here with
//! the kernel's CPU bandwidth control: a process is moved, when its init is
//! done, into a cgroup whose quota per period is that share (cgroup v1's
//! `cpu.cfs_quota_us` / `cpu.cfs_period_us`, or v2's `cpu.max`), and the CPU
//! it then uses is read from the group (`cpuacct.usage`, or v2's
//! `cpu.stat`).
//!
//! Creating a group needs root and a cpu controller. Where there is none,
//! [`Controller::find`] says why, and the bench says so instead of
//! pretending: its figures are then taken at full CPU.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The memory size that buys one vCPU.
pub const MB_PER_VCPU: u32 = 1769;

/// The prefix of every group the bench makes (a crash leaves them behind;
/// [`Controller::remove_leftovers`] removes them).
const PREFIX: &str = "xtask-lambda-";

/// The smallest quota the kernel takes (1 ms).
const MIN_QUOTA: Duration = Duration::from_millis(1);

/// The CPU share of a memory size, enforced over `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuShare {
    /// `MemorySize`, MB.
    pub memory_mb: u32,
    /// The enforcement period: within each, the process may run for
    /// [`quota`](Self::quota), then stalls until the next. The shorter, the
    /// smoother (at 100 ms and 128 MB: 7 ms of work, then 93 ms of stall).
    pub period: Duration,
}

impl CpuShare {
    /// The share of one vCPU.
    pub fn fraction(&self) -> f64 {
        f64::from(self.memory_mb) / f64::from(MB_PER_VCPU)
    }

    /// The CPU time allowed per period.
    pub fn quota(&self) -> Duration {
        self.period.mul_f64(self.fraction())
    }

    /// The shortest period the kernel can enforce this share with (its
    /// quota cannot be under 1 ms).
    pub fn shortest_period(memory_mb: u32) -> Duration {
        MIN_QUOTA.mul_f64(f64::from(MB_PER_VCPU) / f64::from(memory_mb))
    }
}

/// Where groups can be made.
#[derive(Debug, Clone)]
pub enum Controller {
    /// cgroup v1: the cpu hierarchy (quota) and the cpuacct one (usage),
    /// which may be the same folder.
    V1 { cpu: PathBuf, cpuacct: PathBuf },
    /// cgroup v2: the unified hierarchy's root, with the cpu controller
    /// enabled for its children.
    V2 { root: PathBuf },
}

impl Controller {
    /// The controller of this machine, or why there is none usable.
    pub fn find() -> Result<Self, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not running as root: no cgroup can be made".into());
        }
        let base = Path::new("/sys/fs/cgroup");
        let (cpu, cpuacct) = (base.join("cpu"), base.join("cpuacct"));
        if cpu.join("cpu.cfs_quota_us").is_file() && cpuacct.join("cpuacct.usage").is_file() {
            let cpuacct = std::fs::canonicalize(&cpuacct).unwrap_or(cpuacct);
            let cpu = std::fs::canonicalize(&cpu).unwrap_or(cpu);
            return Ok(Self::V1 { cpu, cpuacct });
        }
        let controllers = std::fs::read_to_string(base.join("cgroup.controllers"))
            .map_err(|_| "no cgroup v1 cpu controller and no cgroup v2 hierarchy".to_string())?;
        if !controllers.split_whitespace().any(|c| c == "cpu") {
            return Err("the cgroup v2 hierarchy has no cpu controller".into());
        }
        std::fs::write(base.join("cgroup.subtree_control"), "+cpu")
            .map_err(|e| format!("cannot enable the cgroup v2 cpu controller: {e}"))?;
        Ok(Self::V2 {
            root: base.to_path_buf(),
        })
    }

    /// Removes the empty groups an interrupted run left behind: those of
    /// processes no longer running.
    pub fn remove_leftovers(&self) {
        for parent in self.parents() {
            let Ok(entries) = std::fs::read_dir(parent) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                // `<PREFIX><pid>-<name>`: a live process's groups are its own
                // (another test of the same binary, another bench) even empty.
                let owner = name
                    .strip_prefix(PREFIX)
                    .and_then(|rest| rest.split('-').next())
                    .and_then(|pid| pid.parse::<u32>().ok());
                if let Some(pid) = owner
                    && !Path::new(&format!("/proc/{pid}")).exists()
                {
                    let _ = std::fs::remove_dir(entry.path());
                }
            }
        }
    }

    fn parents(&self) -> Vec<&Path> {
        match self {
            Self::V1 { cpu, cpuacct } if cpu == cpuacct => vec![cpu],
            Self::V1 { cpu, cpuacct } => vec![cpu, cpuacct],
            Self::V2 { root } => vec![root],
        }
    }

    /// A new group named `name` that holds whatever joins it to `share`.
    pub fn group(&self, name: &str, share: CpuShare) -> Result<CpuGroup> {
        let quota = share.quota();
        if quota < MIN_QUOTA {
            bail!(
                "{} MB over a {:?} period is a quota of {quota:?}, under the kernel's 1 ms: \
                 use a period of at least {:?}",
                share.memory_mb,
                share.period,
                CpuShare::shortest_period(share.memory_mb)
            );
        }
        let dir_name = format!("{PREFIX}{}-{name}", std::process::id());
        let dirs: Vec<PathBuf> = self.parents().iter().map(|p| p.join(&dir_name)).collect();
        for dir in &dirs {
            if !dir.exists() {
                std::fs::create_dir(dir)
                    .with_context(|| format!("creating the cgroup {}", dir.display()))?;
            }
        }
        let group = CpuGroup {
            dirs,
            controller: self.clone(),
        };
        let write = |file: &Path, value: String| {
            std::fs::write(file, &value)
                .with_context(|| format!("writing {value} to {}", file.display()))
        };
        let micros = |d: Duration| d.as_micros().to_string();
        match &group.controller {
            Self::V1 { .. } => {
                let dir = &group.dirs[0];
                // The period first: a quota over the old period may be refused.
                write(&dir.join("cpu.cfs_period_us"), micros(share.period))?;
                write(&dir.join("cpu.cfs_quota_us"), micros(quota))?;
            }
            Self::V2 { .. } => write(
                &group.dirs[0].join("cpu.max"),
                format!("{} {}", micros(quota), micros(share.period)),
            )?,
        }
        Ok(group)
    }
}

/// A cgroup holding processes to a CPU share; removed when dropped (its
/// processes must have ended by then).
#[derive(Debug)]
pub struct CpuGroup {
    /// The quota's folder first, then the usage's if it is another.
    dirs: Vec<PathBuf>,
    controller: Controller,
}

impl CpuGroup {
    /// Moves process `pid` (every thread of it) into the group.
    pub fn join(&self, pid: u32) -> Result<()> {
        for dir in &self.dirs {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())
                .with_context(|| format!("moving {pid} into {}", dir.display()))?;
        }
        Ok(())
    }

    /// The CPU time its processes have used since they joined.
    pub fn usage(&self) -> Result<Duration> {
        let usage_dir = self.dirs.last().context("a group without a folder")?;
        match &self.controller {
            Controller::V1 { .. } => {
                let text = std::fs::read_to_string(usage_dir.join("cpuacct.usage"))?;
                Ok(Duration::from_nanos(text.trim().parse()?))
            }
            Controller::V2 { .. } => {
                let text = std::fs::read_to_string(usage_dir.join("cpu.stat"))?;
                let micros = text
                    .lines()
                    .find_map(|line| line.strip_prefix("usage_usec "))
                    .context("cpu.stat without usage_usec")?;
                Ok(Duration::from_micros(micros.trim().parse()?))
            }
        }
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // A killed process may take a moment to leave its group.
        for dir in &self.dirs {
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_of_a_memory_size_is_its_fraction_of_1769_mb_per_period() {
        let share = CpuShare {
            memory_mb: 128,
            period: Duration::from_millis(20),
        };
        assert!((share.fraction() - 0.07236).abs() < 1e-4);
        assert_eq!(share.quota().as_micros(), 1447);
        let full = CpuShare {
            memory_mb: 1769,
            period: Duration::from_millis(20),
        };
        assert_eq!(full.quota(), Duration::from_millis(20));
        // 1 ms is the kernel's least quota: 13.8 ms is the shortest period at 128 MB.
        assert_eq!(CpuShare::shortest_period(128).as_micros(), 13820);
    }
}
