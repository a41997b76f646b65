//! The machine side of podyard: containers through the Docker Engine API, GPUs through NVML
//! (or emulated ones declared by the operator), and the host's own size.
//!
//! This crate knows how to do things on one host and nothing about why: it never decides
//! which pod should run. The agent decides, using these operations.

pub mod docker;
pub mod gpu;
pub mod host;

pub use bollard;

pub use docker::{
    BoundPort, ConnectDockerError, ContainerStatus, CreateVolumeError, DockerRuntime,
    InspectContainerError, InspectImageError, ListContainersError, ListVolumesError, PodContainer,
    PodVolume, RemoveContainerError, RemoveVolumeError, StartContainerError, Transport,
};
pub use gpu::{
    detect_nvml, DetectGpusError, DetectedGpu, EmulatedGpus, GpuSampler, ParseEmulatedGpusError,
};
pub use host::{describe_host, DescribeHostError, HostInfo};
