//! Assignments: what the control plane wants an agent to do with each pod bound to its
//! machine. This is the desired side of the agent protocol; observations are the other.

use serde::{Deserialize, Serialize};

use crate::ids::PodId;
use crate::machine::Gpu;
use crate::pod::{EnvVar, PortSpec};

/// One pod bound to the agent's machine. Pods absent from the agent's list are gone: their
/// containers and volumes are deleted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub pod_id: PodId,
    /// Name of the pod's volume, if it has one; kept whether or not the pod runs.
    pub volume: Option<String>,
    /// `Some` while the pod should run.
    pub run: Option<ContainerSpec>,
}

/// Everything needed to start the container of one start (generation) of a pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub pod_id: PodId,
    pub generation: u64,
    pub image: String,
    /// Replaces the image's command when present (from `dockerArgs`).
    pub command: Option<Vec<String>>,
    /// User env plus injected env, in order. The agent adds `RUNPOD_TCP_PORT_<n>` once it
    /// has chosen host ports.
    pub env: Vec<EnvVar>,
    pub ports: Vec<PortSpec>,
    /// GPUs of the machine this start holds.
    pub gpus: Vec<Gpu>,
    /// Emulated GPUs are passed as `NVIDIA_VISIBLE_DEVICES` only, never as devices.
    pub emulated_gpus: bool,
    /// Where the pod volume is mounted, if it has one.
    pub volume_mount_path: Option<String>,
    pub vcpu_count: u32,
    pub memory_in_gb: u32,
}
