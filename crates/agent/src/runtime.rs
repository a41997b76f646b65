//! The container operations reconcile needs, behind a trait so that reconcile can be tested
//! with a fake; the real implementation is the Docker runtime.

use std::future::Future;
use std::time::Duration;

use podyard_core::{ContainerSpec, PodId};
use podyard_runtime::{
    BoundPort, CreateVolumeError, DockerRuntime, ListContainersError, ListVolumesError,
    PodContainer, PodVolume, RemoveContainerError, RemoveVolumeError, StartContainerError,
};

pub trait Runtime: Send + Sync + 'static {
    /// Every container podyard created on this host.
    fn list_containers(
        &self,
    ) -> impl Future<Output = Result<Vec<PodContainer>, ListContainersError>> + Send;

    /// Creates and starts the container of one start, or adopts the one that exists.
    fn start_container(
        &self,
        spec: &ContainerSpec,
        volume: Option<&str>,
        ports: &[BoundPort],
    ) -> impl Future<Output = Result<PodContainer, StartContainerError>> + Send;

    /// Stops (SIGTERM, SIGKILL after `grace`) and removes a container.
    fn remove_container(
        &self,
        container: &PodContainer,
        grace: Duration,
    ) -> impl Future<Output = Result<(), RemoveContainerError>> + Send;

    /// Every pod volume on this host.
    fn list_volumes(&self)
        -> impl Future<Output = Result<Vec<PodVolume>, ListVolumesError>> + Send;

    /// Creates a pod volume unless it exists.
    fn create_volume(
        &self,
        pod_id: &PodId,
        name: &str,
    ) -> impl Future<Output = Result<(), CreateVolumeError>> + Send;

    /// Deletes a pod volume and its data.
    fn remove_volume(
        &self,
        volume: &PodVolume,
    ) -> impl Future<Output = Result<(), RemoveVolumeError>> + Send;
}

impl Runtime for DockerRuntime {
    fn list_containers(
        &self,
    ) -> impl Future<Output = Result<Vec<PodContainer>, ListContainersError>> + Send {
        DockerRuntime::list_containers(self)
    }

    fn start_container(
        &self,
        spec: &ContainerSpec,
        volume: Option<&str>,
        ports: &[BoundPort],
    ) -> impl Future<Output = Result<PodContainer, StartContainerError>> + Send {
        DockerRuntime::start_container(self, spec, volume, ports)
    }

    fn remove_container(
        &self,
        container: &PodContainer,
        grace: Duration,
    ) -> impl Future<Output = Result<(), RemoveContainerError>> + Send {
        DockerRuntime::remove_container(self, container, grace)
    }

    fn list_volumes(
        &self,
    ) -> impl Future<Output = Result<Vec<PodVolume>, ListVolumesError>> + Send {
        DockerRuntime::list_volumes(self)
    }

    fn create_volume(
        &self,
        pod_id: &PodId,
        name: &str,
    ) -> impl Future<Output = Result<(), CreateVolumeError>> + Send {
        DockerRuntime::create_volume(self, pod_id, name)
    }

    fn remove_volume(
        &self,
        volume: &PodVolume,
    ) -> impl Future<Output = Result<(), RemoveVolumeError>> + Send {
        DockerRuntime::remove_volume(self, volume)
    }
}
