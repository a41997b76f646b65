//! This host as a machine: its lasting identity, its GPUs (NVML or emulated) and its size.

use std::path::Path;

use anyhow::{bail, Context};
use podyard_core::ids::generate_host_hex;
use podyard_core::{Catalog, Machine, MachineId};
use podyard_runtime::gpu::{detect_nvml, EmulatedGpus, GpuSampler};
use podyard_runtime::host::describe_host;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::serve::ServeArgs;

/// The part of a machine's identity that must survive restarts: pods are bound to it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    id: MachineId,
    host_hex: String,
}

const IDENTITY_FILE: &str = "machine.json";

fn identity(data_dir: &Path) -> anyhow::Result<Identity> {
    let path = data_dir.join(IDENTITY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a machine identity", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = Identity {
                id: MachineId::generate(),
                host_hex: generate_host_hex(),
            };
            crate::serve::write_file_atomically(&path, &serde_json::to_vec(&identity)?, 0o644)?;
            Ok(identity)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Describes this host, or `None` when it has no GPUs to offer.
pub fn local_machine(
    args: &ServeArgs,
    catalog: &Catalog,
) -> anyhow::Result<Option<(Machine, GpuSampler)>> {
    let identity = identity(&args.data_dir)?;
    let host = describe_host(&args.data_dir).context("cannot describe this host")?;

    let (gpu_type_id, gpus, emulated, sampler) = match &args.emulate_gpus {
        Some(spec) => {
            let emulated = EmulatedGpus::parse(spec).context("bad --emulate-gpus")?;
            let gpus = emulated.gpus(identity.id.as_str());
            warn!(gpu_type = %emulated.gpu_type_id, count = gpus.len(),
                "GPUs are EMULATED: containers see NVIDIA_VISIBLE_DEVICES only, no device");
            (emulated.gpu_type_id, gpus, true, GpuSampler::zeros())
        }
        None => match detect_nvml().context("cannot read GPUs through NVML")? {
            Some(found) if !found.is_empty() => {
                let name = found[0].name.clone();
                if found.iter().any(|g| g.name != name) {
                    bail!("this host mixes GPU types; a machine holds GPUs of one type");
                }
                let sampler = GpuSampler::open().context("cannot sample GPU use")?;
                let gpus = found.iter().map(|g| g.gpu()).collect();
                (name, gpus, false, sampler)
            }
            _ => {
                warn!(
                    "no NVIDIA GPU found and --emulate-gpus not given: this host offers no \
                       GPUs, so no pod can be placed on it"
                );
                return Ok(None);
            }
        },
    };
    if catalog.get(&gpu_type_id).is_none() {
        bail!(
            "GPU type {gpu_type_id:?} is not in the catalog; add it with --catalog FILE \
             (close ids: {:?})",
            catalog.close_ids(&gpu_type_id)
        );
    }
    let machine = Machine {
        id: identity.id,
        host_hex: identity.host_hex,
        hostname: host.hostname,
        gpu_type_id,
        gpus,
        emulated,
        vcpu_count: host.vcpu_count,
        memory_in_gb: host.memory_in_gb,
        disk_in_gb: host.disk_in_gb,
        data_center_id: args.data_center.clone(),
        location: args.location.clone(),
        country_code: args.country_code.clone(),
        secure_cloud: !args.community_cloud,
        public_ip: args.public_ip.clone(),
        cuda_version: None,
    };
    info!(machine_id = %machine.id, gpu_type = %machine.gpu_type_id,
        gpus = machine.gpus.len(), emulated, "this host is a machine");
    Ok(Some((machine, sampler)))
}
