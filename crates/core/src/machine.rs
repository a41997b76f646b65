//! Machines: the hosts that hold GPUs (RunPod's word for a host).

use serde::{Deserialize, Serialize};

use crate::ids::MachineId;

/// One GPU of a machine, as the agent found it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    /// Position on the machine, stable across restarts; allocations refer to it.
    pub index: u32,
    /// NVML UUID (`GPU-…`), or a synthetic one for emulated GPUs.
    pub uuid: String,
}

/// A host that runs pods. All GPUs of a machine are of one type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub id: MachineId,
    /// 8 lowercase hex characters: the suffix of `podHostId`.
    pub host_hex: String,
    pub hostname: String,
    pub gpu_type_id: String,
    pub gpus: Vec<Gpu>,
    /// Emulated GPUs are declared by the operator on hosts without NVIDIA hardware; they are
    /// handed to containers as `NVIDIA_VISIBLE_DEVICES` only.
    pub emulated: bool,
    pub vcpu_count: u32,
    pub memory_in_gb: u32,
    pub disk_in_gb: u32,
    pub data_center_id: String,
    pub location: String,
    pub country_code: String,
    pub secure_cloud: bool,
    pub public_ip: Option<String>,
    pub cuda_version: Option<String>,
}

impl Machine {
    pub fn gpu_count(&self) -> u32 {
        self.gpus.len() as u32
    }

    /// vCPUs a pod with `gpu_count` GPUs gets: an even share per GPU, at least one.
    pub fn vcpus_for(&self, gpu_count: u32) -> u32 {
        self.share(self.vcpu_count, gpu_count)
    }

    /// Memory in GB a pod with `gpu_count` GPUs gets: an even share per GPU, at least one.
    pub fn memory_for(&self, gpu_count: u32) -> u32 {
        self.share(self.memory_in_gb, gpu_count)
    }

    fn share(&self, total: u32, gpu_count: u32) -> u32 {
        let gpus = self.gpu_count().max(1);
        (total * gpu_count.max(1) / gpus).max(1)
    }
}
