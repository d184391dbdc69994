//! How the process measures model Lambda: init at full CPU, each
//! invocation held to the CPU share of the function's `MemorySize`
//! ([`crate::cpu_share`]), and the stores reached over TLS
//! ([`crate::tls_front`]). The same model for the Rust functions and for
//! their Node.js and Python twins.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::cpu_share::{Controller, CpuShare};
use crate::runtime_api::Confinement;
use crate::tls_front::TlsFront;

/// The period the CPU share is enforced over. Lambda does not publish its
/// own; the shorter, the smoother a handler's stalls, and the kernel takes
/// no quota under 1 ms, which at 128 MB (7.2% of a vCPU) means no period
/// under 13.8 ms. 20 ms is near that floor; section 2 shows how much the
/// figures move at the floor and at the kernel's default of 100 ms.
pub const PERIOD: Duration = Duration::from_millis(20);

/// The periods `GET /me`'s cold start is also measured under.
pub fn periods_compared() -> [Duration; 3] {
    [
        CpuShare::shortest_period(128),
        PERIOD,
        Duration::from_millis(100),
    ]
}

/// The memory sizes the hashing functions are measured at.
pub const MEMORY_SIZES: [u32; 3] = [256, 512, 1024];

/// The model of one bench run.
pub struct Model {
    /// Where the CPU groups are made, or why they cannot be.
    pub cpu: Result<Controller, String>,
    /// The TLS fronts of the stack's emulators.
    pub tls: TlsFront,
}

impl Model {
    /// The model for a stack whose emulators listen at `endpoints`; its
    /// chain and bundle are written under `dir`.
    pub async fn new(dir: &Path, endpoints: &[&str]) -> Result<Self> {
        let cpu = Controller::find();
        if let Ok(controller) = &cpu {
            controller.remove_leftovers();
        }
        Ok(Self {
            cpu,
            tls: TlsFront::start(dir, endpoints).await?,
        })
    }

    /// The confinement of a function of `memory_mb` over `period`; `None`
    /// where no group can be made (the measure then runs at full CPU, and
    /// BENCHMARKS.md says so).
    pub fn confinement(&self, memory_mb: u32, period: Duration) -> Option<Confinement> {
        let controller = self.cpu.as_ref().ok()?;
        Some(Confinement {
            controller: controller.clone(),
            share: CpuShare { memory_mb, period },
        })
    }

    /// What the model is, in words, for BENCHMARKS.md.
    pub fn describe(&self) -> String {
        match &self.cpu {
            Ok(Controller::V1 { .. }) => format!(
                "cgroup v1 cpu controller (`cpu.cfs_quota_us` over a {} ms `cpu.cfs_period_us`)",
                PERIOD.as_millis()
            ),
            Ok(Controller::V2 { .. }) => format!(
                "cgroup v2 `cpu.max` over a {} ms period",
                PERIOD.as_millis()
            ),
            Err(why) => format!("NOT APPLIED ({why}): every figure is at full CPU"),
        }
    }

    /// `env` reaching the stores over TLS.
    pub fn over_tls(&self, env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.tls.over_tls(env)
    }
}
