//! An in-memory runtime for reconcile's unit tests: containers and volumes are records,
//! starts always succeed except for the image named `MISSING_IMAGE`.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use podyard_core::{ContainerSpec, PodId};
use podyard_runtime::docker::container_name;
use podyard_runtime::{
    BoundPort, ContainerStatus, CreateVolumeError, ListContainersError, ListVolumesError,
    PodContainer, PodVolume, RemoveContainerError, RemoveVolumeError, StartContainerError,
};

use crate::runtime::Runtime;

pub(crate) const MISSING_IMAGE: &str = "missing/image:latest";

#[derive(Debug, Default)]
pub(crate) struct FakeState {
    pub containers: Vec<PodContainer>,
    pub volumes: Vec<PodVolume>,
    /// Every start asked for, successful or not, with the env the agent added.
    pub starts: Vec<ContainerSpec>,
    /// Names of removed containers.
    pub removed: Vec<String>,
    /// Makes every container removal fail, as an engine in trouble would.
    pub fail_removals: bool,
}

#[derive(Debug, Default)]
pub(crate) struct FakeRuntime {
    state: Mutex<FakeState>,
}

impl FakeRuntime {
    pub fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    /// A running container of one start of a pod, as if an earlier agent had started it.
    pub fn running(pod_id: &PodId, generation: u64) -> PodContainer {
        let name = container_name(pod_id, generation);
        PodContainer {
            id: format!("id-{name}"),
            name,
            pod_id: pod_id.clone(),
            generation,
            status: ContainerStatus::Running,
            started_at: Some(Utc::now()),
            finished_at: None,
            ports: Vec::new(),
            gpus: Vec::new(),
        }
    }
}

impl Runtime for FakeRuntime {
    async fn list_containers(&self) -> Result<Vec<PodContainer>, ListContainersError> {
        Ok(self.with(|s| s.containers.clone()))
    }

    async fn start_container(
        &self,
        spec: &ContainerSpec,
        _volume: Option<&str>,
        ports: &[BoundPort],
    ) -> Result<PodContainer, StartContainerError> {
        self.with(|s| {
            s.starts.push(spec.clone());
            if spec.image == MISSING_IMAGE {
                return Err(StartContainerError::ImageNotFound {
                    pod_id: spec.pod_id.clone(),
                    image: spec.image.clone(),
                });
            }
            let mut container = Self::running(&spec.pod_id, spec.generation);
            container.ports = ports.to_vec();
            container.gpus = spec.gpus.iter().map(|g| g.uuid.clone()).collect();
            s.containers.retain(|c| c.name != container.name);
            s.containers.push(container.clone());
            Ok(container)
        })
    }

    async fn remove_container(
        &self,
        container: &PodContainer,
        _grace: Duration,
    ) -> Result<(), RemoveContainerError> {
        self.with(|s| {
            if s.fail_removals {
                return Err(RemoveContainerError::Stop {
                    pod_id: container.pod_id.clone(),
                    container: container.name.clone(),
                    source: podyard_runtime::bollard::errors::Error::DockerResponseServerError {
                        status_code: 500,
                        message: "the engine is in trouble".to_string(),
                    },
                });
            }
            s.containers.retain(|c| c.id != container.id);
            s.removed.push(container.name.clone());
            Ok(())
        })
    }

    async fn list_volumes(&self) -> Result<Vec<PodVolume>, ListVolumesError> {
        Ok(self.with(|s| s.volumes.clone()))
    }

    async fn create_volume(&self, pod_id: &PodId, name: &str) -> Result<(), CreateVolumeError> {
        self.with(|s| {
            if s.volumes.iter().all(|v| v.name != name) {
                s.volumes.push(PodVolume {
                    name: name.to_string(),
                    pod_id: pod_id.clone(),
                });
            }
        });
        Ok(())
    }

    async fn remove_volume(&self, volume: &PodVolume) -> Result<(), RemoveVolumeError> {
        self.with(|s| s.volumes.retain(|v| v.name != volume.name));
        Ok(())
    }
}
