//! Turning what Docker says about a pod's container into the observation the control plane
//! stores: ports on the advertised address, GPU use, exit codes.

use chrono::Utc;
use podyard_core::{ContainerSpec, ContainerState, GpuUse, Observation, PublishedPort};
use podyard_runtime::{BoundPort, ContainerStatus, GpuSampler, PodContainer};

/// Where clients reach the ports published on this host.
pub(crate) struct Address<'a> {
    pub ip: &'a str,
    pub public: bool,
}

/// What a container of `spec` is doing, as the control plane wants to hear it.
pub(crate) fn observe(
    spec: &ContainerSpec,
    container: &PodContainer,
    address: &Address,
    gpus: &GpuSampler,
) -> Observation {
    let state = match container.status {
        ContainerStatus::Running => ContainerState::Running {
            started_at: container.started_at.unwrap_or_else(Utc::now),
            ports: published_ports(spec, &container.ports, address),
            gpus: gpu_use(spec, gpus),
        },
        ContainerStatus::Exited { exit_code } => ContainerState::Exited {
            exit_code,
            at: container.finished_at.unwrap_or_else(Utc::now),
        },
        ContainerStatus::Created => ContainerState::Starting,
    };
    Observation {
        pod_id: spec.pod_id.clone(),
        generation: spec.generation,
        state,
    }
}

/// Published ports in the order of the spec, each with the protocol the user asked for
/// (`http` and `tcp` share Docker's TCP).
fn published_ports(
    spec: &ContainerSpec,
    bound: &[BoundPort],
    address: &Address,
) -> Vec<PublishedPort> {
    spec.ports
        .iter()
        .filter_map(|port| {
            let transport = podyard_runtime::Transport::of(port.protocol);
            let host = bound
                .iter()
                .find(|b| b.container_port == port.port && b.transport == transport)?;
            Some(PublishedPort {
                ip: address.ip.to_string(),
                is_ip_public: address.public,
                private_port: port.port,
                public_port: host.host_port,
                protocol: port.protocol.as_str().to_string(),
            })
        })
        .collect()
}

fn gpu_use(spec: &ContainerSpec, gpus: &GpuSampler) -> Vec<GpuUse> {
    let uuids: Vec<String> = spec.gpus.iter().map(|gpu| gpu.uuid.clone()).collect();
    if spec.emulated_gpus {
        return GpuSampler::zeros().sample_use(&uuids);
    }
    gpus.sample_use(&uuids)
}
