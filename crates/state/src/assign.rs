//! What each machine's agent must do: one [`Assignment`] per pod bound to the machine,
//! with the container spec of running pods, injected env included.

use podyard_core::{Assignment, ContainerSpec, EnvVarExt, Machine, MachineId, Pod};

use crate::state::State;

/// Name of the Docker volume that holds a pod's volume.
pub fn volume_name(pod: &Pod) -> String {
    format!("podyard-vol-{}", pod.id)
}

/// The assignments of every pod on `machine_id`; empty for an unknown machine.
pub fn assignments(state: &State, machine_id: &MachineId) -> Vec<Assignment> {
    let Some(machine) = state.machine(machine_id) else {
        return Vec::new();
    };
    state
        .pods_on(machine_id)
        .map(|pod| Assignment {
            pod_id: pod.id.clone(),
            volume: (pod.volume_in_gb > 0).then(|| volume_name(pod)),
            run: pod
                .is_running()
                .then(|| container_spec(state, machine, pod)),
        })
        .collect()
}

fn container_spec(state: &State, machine: &Machine, pod: &Pod) -> ContainerSpec {
    let command = if pod.docker_args.trim().is_empty() {
        None
    } else {
        // Validated at create; a string that no longer splits runs the image's command.
        shell_words::split(&pod.docker_args).ok()
    };
    ContainerSpec {
        pod_id: pod.id.clone(),
        generation: pod.generation,
        image: pod.image_name.clone(),
        command,
        env: container_env(state, machine, pod),
        ports: pod.ports.clone(),
        gpus: machine
            .gpus
            .iter()
            .filter(|g| pod.gpus.contains(&g.index))
            .cloned()
            .collect(),
        emulated_gpus: machine.emulated,
        volume_mount_path: (pod.volume_in_gb > 0).then(|| pod.volume_mount_path.clone()),
        vcpu_count: pod.vcpu_count,
        memory_in_gb: pod.memory_in_gb,
    }
}

/// The user's env followed by what every pod gets. Injected names the user already set
/// are left as the user set them.
fn container_env(state: &State, machine: &Machine, pod: &Pod) -> Vec<podyard_core::pod::EnvVar> {
    let mut env = pod.env.clone();
    let mut inject = vec![
        ("RUNPOD_POD_ID", pod.id.to_string()),
        ("RUNPOD_GPU_COUNT", pod.gpus.len().to_string()),
        ("RUNPOD_POD_HOSTNAME", pod.host_id(&machine.host_hex)),
        ("RUNPOD_DC_ID", machine.data_center_id.clone()),
        (
            "RUNPOD_PUBLIC_IP",
            machine.public_ip.clone().unwrap_or_default(),
        ),
    ];
    if pod.start_ssh {
        if let Some(user) = state.user(&pod.owner).filter(|u| !u.pub_key.is_empty()) {
            inject.push(("PUBLIC_KEY", user.pub_key.clone()));
        }
    }
    for (key, value) in inject {
        env.set_default(key, value);
    }
    env
}
