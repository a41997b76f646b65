//! Pod containers and pod volumes on the local Docker Engine (or Podman's compatible API).
//!
//! Everything podyard creates carries labels (`podyard.managed`, `podyard.pod-id` and, on
//! containers, `podyard.generation`), and a container's name is derived from its pod and
//! generation. The labels let an agent re-derive its state after a restart; the name makes
//! creation idempotent: a second create of the same start meets a name conflict and adopts
//! the container that exists instead of making a duplicate.
//!
//! Images are never pulled: podyard runs where there may be no registry, so a missing image
//! is an error that names it. Containers never restart on their own; an exited container
//! stays exited until the control plane asks for a new start (a new generation).

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerState as DockerState,
    ContainerStateStatusEnum as DockerStatus, DeviceRequest, HostConfig, Mount, MountType,
    PortBinding, PortMap, RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder,
};
use bollard::Docker;
use chrono::{DateTime, Datelike, Utc};
use podyard_core::pod::PortProtocol;
use podyard_core::{ContainerSpec, MachineId, PodId};
use thiserror::Error;
use tracing::debug;

/// The machine whose agent owns a container or volume. Each agent manages only its own, so
/// that several agents (or test servers) can share one engine without touching each
/// other's pods.
pub const LABEL_MACHINE_ID: &str = "podyard.machine-id";
/// The pod a container or volume belongs to.
pub const LABEL_POD_ID: &str = "podyard.pod-id";
/// The start (generation) of the pod a container runs.
pub const LABEL_GENERATION: &str = "podyard.generation";
/// The UUIDs of the GPUs a container holds, comma-separated. The agent reads it back so
/// that it never starts a container on GPUs another container still holds.
pub const LABEL_GPUS: &str = "podyard.gpus";

/// The deterministic name of the container of one start of a pod.
pub fn container_name(pod_id: &PodId, generation: u64) -> String {
    format!("podyard-{pod_id}-{generation}")
}

/// The transport a published port uses on the host; `http` ports are TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    pub fn of(protocol: PortProtocol) -> Self {
        match protocol {
            PortProtocol::Http | PortProtocol::Tcp => Transport::Tcp,
            PortProtocol::Udp => Transport::Udp,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// A container port published on a host port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoundPort {
    pub container_port: u16,
    pub transport: Transport,
    pub host_port: u16,
}

impl BoundPort {
    /// Docker's name of the container side, e.g. `8888/tcp`.
    fn docker_key(&self) -> String {
        format!("{}/{}", self.container_port, self.transport.as_str())
    }
}

/// What Docker says a pod container is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerStatus {
    /// Created but never started (an agent stopped between create and start, or start
    /// failed).
    Created,
    /// Running (also paused or restarting, which podyard never asks for).
    Running,
    /// Ran and stopped, or is dead or being removed.
    Exited { exit_code: i64 },
}

/// A container podyard created, as read back from Docker.
#[derive(Clone, Debug, PartialEq)]
pub struct PodContainer {
    pub id: String,
    pub name: String,
    pub pod_id: PodId,
    pub generation: u64,
    pub status: ContainerStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Published ports, sorted; empty unless the container runs.
    pub ports: Vec<BoundPort>,
    /// UUIDs of the GPUs the container was given.
    pub gpus: Vec<String>,
}

/// A named volume podyard created for a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodVolume {
    pub name: String,
    pub pod_id: PodId,
}

#[derive(Debug, Error)]
pub enum ConnectDockerError {
    #[error("cannot set up a docker client (DOCKER_HOST or the local socket)")]
    Client(#[source] DockerError),
    #[error("the docker engine does not answer")]
    Unreachable(#[source] DockerError),
}

#[derive(Debug, Error)]
pub enum InspectContainerError {
    #[error("cannot inspect container {container}")]
    Inspect {
        container: String,
        #[source]
        source: DockerError,
    },
}

#[derive(Debug, Error)]
pub enum ListContainersError {
    #[error("cannot list podyard containers")]
    List(#[source] DockerError),
    #[error("cannot read a listed podyard container")]
    Inspect(#[source] InspectContainerError),
}

#[derive(Debug, Error)]
pub enum StartContainerError {
    #[error("image {image:?} of pod {pod_id} is not on this machine (podyard never pulls)")]
    ImageNotFound { pod_id: PodId, image: String },
    #[error("cannot create the container of pod {pod_id}")]
    Create {
        pod_id: PodId,
        #[source]
        source: DockerError,
    },
    #[error("cannot start the container of pod {pod_id}")]
    Start {
        pod_id: PodId,
        #[source]
        source: DockerError,
    },
    #[error("cannot read back the container of pod {pod_id}")]
    Inspect {
        pod_id: PodId,
        #[source]
        source: InspectContainerError,
    },
    #[error("the container of pod {pod_id} vanished while it was being started")]
    Vanished { pod_id: PodId },
}

#[derive(Debug, Error)]
pub enum RemoveContainerError {
    #[error("cannot stop container {container} of pod {pod_id}")]
    Stop {
        pod_id: PodId,
        container: String,
        #[source]
        source: DockerError,
    },
    #[error("cannot remove container {container} of pod {pod_id}")]
    Remove {
        pod_id: PodId,
        container: String,
        #[source]
        source: DockerError,
    },
}

#[derive(Debug, Error)]
pub enum ListVolumesError {
    #[error("cannot list podyard volumes")]
    List(#[source] DockerError),
}

#[derive(Debug, Error)]
pub enum CreateVolumeError {
    #[error("cannot create volume {volume:?} of pod {pod_id}")]
    Create {
        pod_id: PodId,
        volume: String,
        #[source]
        source: DockerError,
    },
}

#[derive(Debug, Error)]
pub enum RemoveVolumeError {
    #[error("volume {volume:?} of pod {pod_id} is still used by a container")]
    InUse { pod_id: PodId, volume: String },
    #[error("cannot remove volume {volume:?} of pod {pod_id}")]
    Remove {
        pod_id: PodId,
        volume: String,
        #[source]
        source: DockerError,
    },
}

#[derive(Debug, Error)]
pub enum InspectImageError {
    #[error("cannot inspect image {image:?}")]
    Inspect {
        image: String,
        #[source]
        source: DockerError,
    },
}

/// A client of the local Docker Engine, limited to what podyard does with pods.
#[derive(Clone, Debug)]
pub struct DockerRuntime {
    docker: Docker,
    machine_id: MachineId,
}

impl DockerRuntime {
    /// Connects through `DOCKER_HOST` or the local socket and agrees on an API version, so
    /// that older engines (and Podman) are spoken to in a version they understand.
    /// The runtime sees and labels only the containers and volumes of `machine_id`.
    pub async fn connect(machine_id: MachineId) -> Result<Self, ConnectDockerError> {
        let docker = Docker::connect_with_defaults().map_err(ConnectDockerError::Client)?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(ConnectDockerError::Unreachable)?;
        Ok(Self { docker, machine_id })
    }

    /// The underlying client, for what this type does not wrap (tests, diagnostics).
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// All containers podyard created on this host, running or not. Containers whose labels
    /// cannot be read (edited by hand) are left out.
    pub async fn list_containers(&self) -> Result<Vec<PodContainer>, ListContainersError> {
        let filters = managed_filter(&self.machine_id);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(ListContainersError::List)?;

        let mut containers = Vec::with_capacity(summaries.len());
        for id in summaries.into_iter().filter_map(|s| s.id) {
            // A container removed between the list and the inspect is simply gone.
            let found = self
                .inspect_container(&id)
                .await
                .map_err(ListContainersError::Inspect)?;
            containers.extend(found);
        }
        Ok(containers)
    }

    /// Reads one podyard container by id or name; `None` when it does not exist or is not
    /// podyard's.
    pub async fn inspect_container(
        &self,
        id_or_name: &str,
    ) -> Result<Option<PodContainer>, InspectContainerError> {
        let options = None::<InspectContainerOptions>;
        match self.docker.inspect_container(id_or_name, options).await {
            Ok(response) => Ok(pod_container(response)),
            Err(e) if status_code(&e) == Some(404) => Ok(None),
            Err(source) => Err(InspectContainerError::Inspect {
                container: id_or_name.to_string(),
                source,
            }),
        }
    }

    /// Creates and starts the container of one start of a pod, or adopts it if it already
    /// exists (its name is taken). An adopted container that already ran is returned as it
    /// is, never restarted.
    pub async fn start_container(
        &self,
        spec: &ContainerSpec,
        volume: Option<&str>,
        ports: &[BoundPort],
    ) -> Result<PodContainer, StartContainerError> {
        let pod_id = &spec.pod_id;
        let name = container_name(pod_id, spec.generation);
        self.create_container(spec, &name, volume, ports).await?;

        let container = self.read_back(pod_id, &name).await?;
        if container.status != ContainerStatus::Created {
            return Ok(container);
        }

        let options = None::<StartContainerOptions>;
        if let Err(source) = self.docker.start_container(&name, options).await {
            return Err(StartContainerError::Start {
                pod_id: pod_id.clone(),
                source,
            });
        }
        self.read_back(pod_id, &name).await
    }

    async fn create_container(
        &self,
        spec: &ContainerSpec,
        name: &str,
        volume: Option<&str>,
        ports: &[BoundPort],
    ) -> Result<(), StartContainerError> {
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let body = container_body(&self.machine_id, spec, volume, ports);
        match self.docker.create_container(Some(options), body).await {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(409) => {
                debug!(pod_id = %spec.pod_id, container = name, "adopting existing container");
                Ok(())
            }
            Err(e) if status_code(&e) == Some(404) => Err(StartContainerError::ImageNotFound {
                pod_id: spec.pod_id.clone(),
                image: spec.image.clone(),
            }),
            Err(source) => Err(StartContainerError::Create {
                pod_id: spec.pod_id.clone(),
                source,
            }),
        }
    }

    async fn read_back(
        &self,
        pod_id: &PodId,
        name: &str,
    ) -> Result<PodContainer, StartContainerError> {
        let found =
            self.inspect_container(name)
                .await
                .map_err(|source| StartContainerError::Inspect {
                    pod_id: pod_id.clone(),
                    source,
                })?;
        found.ok_or_else(|| StartContainerError::Vanished {
            pod_id: pod_id.clone(),
        })
    }

    /// Stops a container (SIGTERM, then SIGKILL once `grace` has passed) and removes it,
    /// which wipes its disk. A container that is already gone counts as removed.
    pub async fn remove_container(
        &self,
        container: &PodContainer,
        grace: Duration,
    ) -> Result<(), RemoveContainerError> {
        let stop = StopContainerOptionsBuilder::new()
            .t(whole_seconds(grace))
            .build();
        match self.docker.stop_container(&container.id, Some(stop)).await {
            Err(e) if status_code(&e) != Some(404) => {
                return Err(RemoveContainerError::Stop {
                    pod_id: container.pod_id.clone(),
                    container: container.name.clone(),
                    source: e,
                });
            }
            _ => {}
        }

        let remove = RemoveContainerOptionsBuilder::new().force(true).build();
        match self
            .docker
            .remove_container(&container.id, Some(remove))
            .await
        {
            Err(e) if status_code(&e) != Some(404) => Err(RemoveContainerError::Remove {
                pod_id: container.pod_id.clone(),
                container: container.name.clone(),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// All volumes podyard created on this host.
    pub async fn list_volumes(&self) -> Result<Vec<PodVolume>, ListVolumesError> {
        let filters = managed_filter(&self.machine_id);
        let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
        let response = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(ListVolumesError::List)?;
        let volumes = response.volumes.unwrap_or_default().into_iter();
        let pod_volumes = volumes.filter_map(|v| {
            let pod_id = v.labels.get(LABEL_POD_ID)?;
            Some(PodVolume {
                pod_id: PodId::new(pod_id.clone()),
                name: v.name,
            })
        });
        Ok(pod_volumes.collect())
    }

    /// Creates the named volume of a pod; an existing volume of that name is kept as it is.
    pub async fn create_volume(&self, pod_id: &PodId, name: &str) -> Result<(), CreateVolumeError> {
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels(&self.machine_id, pod_id, None)),
            ..Default::default()
        };
        match self.docker.create_volume(request).await {
            Ok(_) => Ok(()),
            Err(source) => Err(CreateVolumeError::Create {
                pod_id: pod_id.clone(),
                volume: name.to_string(),
                source,
            }),
        }
    }

    /// Deletes a pod volume and its data. A volume that is already gone counts as removed.
    pub async fn remove_volume(&self, volume: &PodVolume) -> Result<(), RemoveVolumeError> {
        let options = RemoveVolumeOptionsBuilder::new().force(false).build();
        match self.docker.remove_volume(&volume.name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => Ok(()),
            Err(e) if status_code(&e) == Some(409) => Err(RemoveVolumeError::InUse {
                pod_id: volume.pod_id.clone(),
                volume: volume.name.clone(),
            }),
            Err(source) => Err(RemoveVolumeError::Remove {
                pod_id: volume.pod_id.clone(),
                volume: volume.name.clone(),
                source,
            }),
        }
    }

    /// Whether an image is present locally.
    pub async fn has_image(&self, image: &str) -> Result<bool, InspectImageError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status_code(&e) == Some(404) => Ok(false),
            Err(source) => Err(InspectImageError::Inspect {
                image: image.to_string(),
                source,
            }),
        }
    }
}

fn managed_filter(machine_id: &MachineId) -> HashMap<&'static str, Vec<String>> {
    HashMap::from([("label", vec![format!("{LABEL_MACHINE_ID}={machine_id}")])])
}

fn status_code(error: &DockerError) -> Option<u16> {
    match error {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Docker's stop timeout is whole seconds; a partial second is rounded up so that a
/// container always gets at least the grace period asked for.
fn whole_seconds(grace: Duration) -> i32 {
    let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

fn labels(
    machine_id: &MachineId,
    pod_id: &PodId,
    generation: Option<u64>,
) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (LABEL_MACHINE_ID.to_string(), machine_id.to_string()),
        (LABEL_POD_ID.to_string(), pod_id.to_string()),
    ]);
    if let Some(generation) = generation {
        labels.insert(LABEL_GENERATION.to_string(), generation.to_string());
    }
    labels
}

/// Labels of the container of one start of a pod.
fn container_labels(machine_id: &MachineId, spec: &ContainerSpec) -> HashMap<String, String> {
    let mut labels = labels(machine_id, &spec.pod_id, Some(spec.generation));
    let gpus: Vec<&str> = spec.gpus.iter().map(|g| g.uuid.as_str()).collect();
    labels.insert(LABEL_GPUS.to_string(), gpus.join(","));
    labels
}

/// The Docker create request for one start of a pod.
fn container_body(
    machine_id: &MachineId,
    spec: &ContainerSpec,
    volume: Option<&str>,
    ports: &[BoundPort],
) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        // Cmd only: the image's entrypoint, if any, still runs and receives it.
        cmd: spec.command.clone().filter(|command| !command.is_empty()),
        env: Some(container_env(spec)),
        labels: Some(container_labels(machine_id, spec)),
        exposed_ports: Some(ports.iter().map(BoundPort::docker_key).collect()),
        host_config: Some(host_config(spec, volume, ports)),
        ..Default::default()
    }
}

/// The spec's env as `KEY=VALUE`, byte for byte, then `NVIDIA_VISIBLE_DEVICES` last so
/// that a user's value cannot hand the container GPUs it does not hold.
fn container_env(spec: &ContainerSpec) -> Vec<String> {
    let mut env: Vec<String> = spec
        .env
        .iter()
        .map(|var| format!("{}={}", var.key, var.value))
        .collect();
    env.push(format!("NVIDIA_VISIBLE_DEVICES={}", visible_devices(spec)));
    env
}

fn visible_devices(spec: &ContainerSpec) -> String {
    if spec.gpus.is_empty() {
        return "void".to_string();
    }
    let uuids: Vec<&str> = spec.gpus.iter().map(|gpu| gpu.uuid.as_str()).collect();
    uuids.join(",")
}

fn host_config(spec: &ContainerSpec, volume: Option<&str>, ports: &[BoundPort]) -> HostConfig {
    let port_bindings: PortMap = ports
        .iter()
        .map(|port| {
            let binding = PortBinding {
                host_ip: Some("0.0.0.0".to_string()),
                host_port: Some(port.host_port.to_string()),
            };
            (port.docker_key(), Some(vec![binding]))
        })
        .collect();
    let mounts = match (volume, &spec.volume_mount_path) {
        (Some(volume), Some(path)) => vec![Mount {
            typ: Some(MountType::VOLUME),
            source: Some(volume.to_string()),
            target: Some(path.clone()),
            ..Default::default()
        }],
        _ => Vec::new(),
    };
    let restart_policy = RestartPolicy {
        name: Some(RestartPolicyNameEnum::NO),
        maximum_retry_count: None,
    };
    HostConfig {
        port_bindings: Some(port_bindings),
        mounts: Some(mounts),
        nano_cpus: (spec.vcpu_count > 0).then(|| i64::from(spec.vcpu_count) * 1_000_000_000),
        memory: (spec.memory_in_gb > 0).then(|| i64::from(spec.memory_in_gb) << 30),
        device_requests: device_requests(spec),
        restart_policy: Some(restart_policy),
        ..Default::default()
    }
}

/// Real GPUs go through the NVIDIA container runtime; emulated ones exist only as env.
fn device_requests(spec: &ContainerSpec) -> Option<Vec<DeviceRequest>> {
    if spec.emulated_gpus || spec.gpus.is_empty() {
        return None;
    }
    let request = DeviceRequest {
        driver: Some("nvidia".to_string()),
        device_ids: Some(spec.gpus.iter().map(|gpu| gpu.uuid.clone()).collect()),
        capabilities: Some(vec![vec!["gpu".to_string()]]),
        ..Default::default()
    };
    Some(vec![request])
}

/// Reads a podyard container out of an inspect response; `None` if it is not podyard's.
fn pod_container(response: ContainerInspectResponse) -> Option<PodContainer> {
    let labels = response.config.as_ref()?.labels.as_ref()?;
    let pod_id = PodId::new(labels.get(LABEL_POD_ID)?.clone());
    let generation = labels.get(LABEL_GENERATION)?.parse().ok()?;
    let gpus = labels
        .get(LABEL_GPUS)
        .map(|list| {
            list.split(',')
                .filter(|uuid| !uuid.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let state = response.state.unwrap_or_default();
    let ports = response
        .network_settings
        .and_then(|settings| settings.ports)
        .map(|ports| bound_ports(&ports))
        .unwrap_or_default();
    let name = response.name.unwrap_or_default();
    Some(PodContainer {
        id: response.id?,
        name: name.trim_start_matches('/').to_string(),
        pod_id,
        generation,
        status: container_status(&state),
        started_at: docker_time(state.started_at.as_deref()),
        finished_at: docker_time(state.finished_at.as_deref()),
        ports,
        gpus,
    })
}

fn container_status(state: &DockerState) -> ContainerStatus {
    let exited = ContainerStatus::Exited {
        exit_code: state.exit_code.unwrap_or(-1),
    };
    match state.status {
        Some(DockerStatus::CREATED) | Some(DockerStatus::EMPTY) | None => ContainerStatus::Created,
        Some(DockerStatus::RUNNING)
        | Some(DockerStatus::PAUSED)
        | Some(DockerStatus::RESTARTING)
        | Some(DockerStatus::STOPPING) => ContainerStatus::Running,
        Some(DockerStatus::EXITED) | Some(DockerStatus::DEAD) | Some(DockerStatus::REMOVING) => {
            exited
        }
    }
}

/// Docker writes `0001-01-01T00:00:00Z` for "never"; that reads as `None`.
fn docker_time(raw: Option<&str>) -> Option<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(raw?).ok()?.with_timezone(&Utc);
    (at.year() > 1).then_some(at)
}

/// The host ports Docker published, one per container port, sorted.
fn bound_ports(ports: &PortMap) -> Vec<BoundPort> {
    let mut bound: Vec<BoundPort> = ports
        .iter()
        .filter_map(|(key, bindings)| {
            let (port, transport) = key.split_once('/')?;
            let transport = match transport {
                "tcp" => Transport::Tcp,
                "udp" => Transport::Udp,
                _ => return None,
            };
            let host_port = bindings
                .iter()
                .flatten()
                .find_map(|b| b.host_port.as_deref()?.parse().ok())?;
            Some(BoundPort {
                container_port: port.parse().ok()?,
                transport,
                host_port,
            })
        })
        .collect();
    bound.sort();
    bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use podyard_core::pod::{EnvVar, PortSpec};
    use podyard_core::Gpu;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            pod_id: PodId::new("abcdefghijklmn"),
            generation: 3,
            image: "podyard-test/busybox:latest".to_string(),
            command: None,
            env: vec![
                EnvVar::new("A", "x=y \"quoted\"\nline2 ünï"),
                EnvVar::new("EMPTY", ""),
            ],
            ports: vec![PortSpec {
                port: 8888,
                protocol: PortProtocol::Http,
            }],
            gpus: vec![
                Gpu {
                    index: 0,
                    uuid: "GPU-a".to_string(),
                },
                Gpu {
                    index: 1,
                    uuid: "GPU-b".to_string(),
                },
            ],
            emulated_gpus: false,
            volume_mount_path: Some("/workspace".to_string()),
            vcpu_count: 2,
            memory_in_gb: 3,
        }
    }

    fn port(container_port: u16, transport: Transport, host_port: u16) -> BoundPort {
        BoundPort {
            container_port,
            transport,
            host_port,
        }
    }

    #[test]
    fn env_reaches_docker_byte_for_byte_with_visible_devices_last() {
        let env = container_env(&spec());
        assert_eq!(
            env,
            vec![
                "A=x=y \"quoted\"\nline2 ünï",
                "EMPTY=",
                "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b"
            ]
        );
    }

    #[test]
    fn pods_without_gpus_see_no_devices() {
        let mut spec = spec();
        spec.gpus.clear();
        assert!(container_env(&spec).contains(&"NVIDIA_VISIBLE_DEVICES=void".to_string()));
        assert_eq!(device_requests(&spec), None);
    }

    #[test]
    fn real_gpus_are_requested_from_the_nvidia_runtime_by_uuid() {
        let requests = device_requests(&spec()).unwrap_or_default();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].driver.as_deref(), Some("nvidia"));
        assert_eq!(
            requests[0].device_ids,
            Some(vec!["GPU-a".to_string(), "GPU-b".to_string()])
        );
        assert_eq!(
            requests[0].capabilities,
            Some(vec![vec!["gpu".to_string()]])
        );
    }

    #[test]
    fn emulated_gpus_are_env_only() {
        let mut spec = spec();
        spec.emulated_gpus = true;
        assert_eq!(device_requests(&spec), None);
        assert!(container_env(&spec).contains(&"NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b".to_string()));
    }

    #[test]
    fn create_request_carries_labels_limits_ports_volume_and_no_restart() {
        let ports = [
            port(8888, Transport::Tcp, 40001),
            port(53, Transport::Udp, 40002),
        ];
        let body = container_body(&MachineId::new("m1"), &spec(), Some("vol-x"), &ports);
        let labels = body.labels.unwrap_or_default();
        assert_eq!(
            labels.get(LABEL_POD_ID).map(String::as_str),
            Some("abcdefghijklmn")
        );
        assert_eq!(labels.get(LABEL_GENERATION).map(String::as_str), Some("3"));
        assert_eq!(labels.get(LABEL_MACHINE_ID).map(String::as_str), Some("m1"));
        assert_eq!(body.cmd, None);

        let host = body.host_config.unwrap_or_default();
        assert_eq!(host.nano_cpus, Some(2_000_000_000));
        assert_eq!(host.memory, Some(3 * 1024 * 1024 * 1024));
        let policy = host.restart_policy.and_then(|p| p.name);
        assert_eq!(policy, Some(RestartPolicyNameEnum::NO));

        let bindings = host.port_bindings.unwrap_or_default();
        let tcp = bindings
            .get("8888/tcp")
            .cloned()
            .flatten()
            .unwrap_or_default();
        assert_eq!(tcp[0].host_ip.as_deref(), Some("0.0.0.0"));
        assert_eq!(tcp[0].host_port.as_deref(), Some("40001"));
        assert!(bindings.contains_key("53/udp"));

        let mounts = host.mounts.unwrap_or_default();
        assert_eq!(mounts[0].source.as_deref(), Some("vol-x"));
        assert_eq!(mounts[0].target.as_deref(), Some("/workspace"));
    }

    #[test]
    fn command_replaces_cmd_only() {
        let mut spec = spec();
        spec.command = Some(vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo hi".to_string(),
        ]);
        let body = container_body(&MachineId::new("m1"), &spec, None, &[]);
        assert_eq!(body.cmd, spec.command);
        assert_eq!(body.entrypoint, None);
        assert!(body
            .host_config
            .and_then(|h| h.mounts)
            .unwrap_or_default()
            .is_empty());
    }

    #[test]
    fn published_ports_are_read_from_the_port_map() {
        let binding = |ip: &str, port: &str| PortBinding {
            host_ip: Some(ip.to_string()),
            host_port: Some(port.to_string()),
        };
        let map: PortMap = HashMap::from([
            (
                "8888/tcp".to_string(),
                Some(vec![binding("0.0.0.0", "40001"), binding("::", "40001")]),
            ),
            (
                "53/udp".to_string(),
                Some(vec![binding("0.0.0.0", "40002")]),
            ),
            ("22/tcp".to_string(), None),
            (
                "9/sctp".to_string(),
                Some(vec![binding("0.0.0.0", "40003")]),
            ),
        ]);
        assert_eq!(
            bound_ports(&map),
            vec![
                port(53, Transport::Udp, 40002),
                port(8888, Transport::Tcp, 40001)
            ]
        );
    }

    #[test]
    fn docker_zero_time_means_never() {
        assert_eq!(docker_time(Some("0001-01-01T00:00:00Z")), None);
        let at = docker_time(Some("2026-05-07T10:11:12.123456789Z"));
        assert_eq!(at.map(|t| t.year()), Some(2026));
    }

    #[test]
    fn grace_is_rounded_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_secs(5)), 5);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }
}
