//! Starting a pod: choose host ports, tell the container which ones it got, make sure the
//! pod volume exists, then create and start the container.
//!
//! Host ports are found by binding port 0 and releasing it just before Docker binds it.
//! Another process can take a port in between; the start then fails and is reported.

use std::io;
use std::net::{TcpListener, UdpSocket};

use podyard_core::pod::{EnvVar, PortProtocol};
use podyard_core::{ContainerSpec, PodId};
use podyard_runtime::{BoundPort, CreateVolumeError, PodContainer, StartContainerError, Transport};
use thiserror::Error;

use crate::runtime::Runtime;

#[derive(Debug, Error)]
pub enum StartPodError {
    #[error("no free host port for port {port} of pod {pod_id}")]
    NoFreePort {
        pod_id: PodId,
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Volume(#[from] CreateVolumeError),
    #[error(transparent)]
    Container(#[from] StartContainerError),
}

/// Starts the container of `spec`, with the pod volume `volume` when it has one.
pub(crate) async fn start_pod<R: Runtime>(
    runtime: &R,
    spec: &ContainerSpec,
    volume: Option<&str>,
) -> Result<PodContainer, StartPodError> {
    let ports = pick_host_ports(spec)?;
    let spec = with_port_env(spec, &ports);
    if let Some(volume) = volume {
        runtime.create_volume(&spec.pod_id, volume).await?;
    }
    Ok(runtime.start_container(&spec, volume, &ports).await?)
}

/// One free host port per port of the pod. All probe sockets stay open until every port
/// is chosen, so that one pod never gets the same host port twice.
fn pick_host_ports(spec: &ContainerSpec) -> Result<Vec<BoundPort>, StartPodError> {
    let mut probes = Probes::default();
    let mut bound = Vec::with_capacity(spec.ports.len());
    for port in &spec.ports {
        let transport = Transport::of(port.protocol);
        let host_port = probes
            .probe(transport)
            .map_err(|source| StartPodError::NoFreePort {
                pod_id: spec.pod_id.clone(),
                port: port.port,
                source,
            })?;
        bound.push(BoundPort {
            container_port: port.port,
            transport,
            host_port,
        });
    }
    Ok(bound)
}

/// Sockets holding the ports chosen so far; dropping them releases the ports for Docker.
#[derive(Default)]
struct Probes {
    tcp: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
}

impl Probes {
    fn probe(&mut self, transport: Transport) -> io::Result<u16> {
        match transport {
            Transport::Tcp => {
                let listener = TcpListener::bind(("0.0.0.0", 0))?;
                let port = listener.local_addr()?.port();
                self.tcp.push(listener);
                Ok(port)
            }
            Transport::Udp => {
                let socket = UdpSocket::bind(("0.0.0.0", 0))?;
                let port = socket.local_addr()?.port();
                self.udp.push(socket);
                Ok(port)
            }
        }
    }
}

/// The spec with `RUNPOD_TCP_PORT_<private>=<public>` for each TCP port, replacing any
/// value the spec already had for that key.
fn with_port_env(spec: &ContainerSpec, ports: &[BoundPort]) -> ContainerSpec {
    let mut spec = spec.clone();
    for port in &spec.ports.clone() {
        if port.protocol != PortProtocol::Tcp {
            continue;
        }
        let Some(bound) = ports.iter().find(|b| b.container_port == port.port) else {
            continue;
        };
        let key = format!("RUNPOD_TCP_PORT_{}", port.port);
        spec.env.retain(|var| var.key != key);
        spec.env.push(EnvVar::new(key, bound.host_port.to_string()));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use podyard_core::pod::PortSpec;

    fn spec(ports: &[(u16, PortProtocol)]) -> ContainerSpec {
        ContainerSpec {
            pod_id: PodId::new("pod00000000001"),
            generation: 1,
            image: "img".to_string(),
            command: None,
            env: vec![EnvVar::new("RUNPOD_TCP_PORT_22", "stale")],
            ports: ports
                .iter()
                .map(|&(port, protocol)| PortSpec { port, protocol })
                .collect(),
            gpus: Vec::new(),
            emulated_gpus: true,
            volume_mount_path: None,
            vcpu_count: 1,
            memory_in_gb: 1,
        }
    }

    #[test]
    fn every_port_gets_a_distinct_host_port_of_its_transport() {
        let spec = spec(&[
            (22, PortProtocol::Tcp),
            (8888, PortProtocol::Http),
            (53, PortProtocol::Udp),
        ]);
        let ports = pick_host_ports(&spec).map_err(|e| e.to_string());
        let ports = ports.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ports.len(), 3);
        assert_eq!(ports[1].transport, Transport::Tcp);
        assert_eq!(ports[2].transport, Transport::Udp);
        assert_ne!(ports[0].host_port, ports[1].host_port);
        assert!(ports.iter().all(|p| p.host_port > 0));
    }

    #[test]
    fn tcp_ports_are_announced_in_env_and_http_ports_are_not() {
        let spec = spec(&[(22, PortProtocol::Tcp), (8888, PortProtocol::Http)]);
        let bound = |container_port, host_port| BoundPort {
            container_port,
            transport: Transport::Tcp,
            host_port,
        };
        let spec = with_port_env(&spec, &[bound(22, 40022), bound(8888, 40888)]);
        assert_eq!(spec.env, vec![EnvVar::new("RUNPOD_TCP_PORT_22", "40022")]);
    }
}
