//! What an agent observes of a pod's container. Observations are not stored: after a
//! restart the agent reports again, and until then `runtime` is `null`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::PodId;

/// A container port published on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub ip: String,
    pub is_ip_public: bool,
    pub private_port: u16,
    pub public_port: u16,
    /// `http`, `tcp` or `udp`.
    pub protocol: String,
}

/// Use of one GPU held by a running pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuUse {
    /// The GPU's UUID.
    pub id: String,
    pub gpu_util_percent: u32,
    pub memory_util_percent: u32,
}

/// The state of the container of one start (generation) of a pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ContainerState {
    /// Being created or started.
    Starting,
    Running {
        started_at: DateTime<Utc>,
        ports: Vec<PublishedPort>,
        gpus: Vec<GpuUse>,
    },
    /// The container ran and stopped on its own.
    Exited { exit_code: i64, at: DateTime<Utc> },
    /// The container could not be created or started (missing image, bad command).
    Failed { reason: String, at: DateTime<Utc> },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub pod_id: PodId,
    pub generation: u64,
    pub state: ContainerState,
}

impl Observation {
    /// A one-line account of a container that is not healthy, for the API.
    pub fn problem(&self) -> Option<String> {
        match &self.state {
            ContainerState::Exited { exit_code, .. } => {
                Some(format!("container exited with code {exit_code}"))
            }
            ContainerState::Failed { reason, .. } => Some(format!("container failed: {reason}")),
            _ => None,
        }
    }
}
