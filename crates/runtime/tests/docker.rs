//! The Docker runtime against the real local engine, with the image that
//! `scripts/build-test-image.sh` builds. Each test uses its own pod id and removes what it
//! created, even when it fails.

use std::process::Command;
use std::time::Duration;

use podyard_core::pod::{EnvVar, PortProtocol, PortSpec};
use podyard_core::{ContainerSpec, MachineId, PodId};
use podyard_runtime::docker::{container_name, LABEL_GENERATION, LABEL_POD_ID};
use podyard_runtime::{
    BoundPort, ContainerStatus, DockerRuntime, PodVolume, StartContainerError, Transport,
};

const TEST_IMAGE: &str = "podyard-test/busybox:latest";
const GRACE: Duration = Duration::from_secs(1);

/// Removes every container and volume of one pod when dropped, also after a failed assert.
struct Cleanup(PodId);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let label = format!("label={LABEL_POD_ID}={}", self.0);
        let script = format!(
            "docker ps -aq --filter {label} | xargs -r docker rm -f >/dev/null; \
             docker volume ls -q --filter {label} | xargs -r docker volume rm -f >/dev/null"
        );
        let _ = Command::new("sh").arg("-c").arg(script).status();
    }
}

async fn runtime() -> DockerRuntime {
    let docker = DockerRuntime::connect(MachineId::generate())
        .await
        .unwrap_or_else(|e| panic!("these tests need a local Docker engine: {e}"));
    let present = docker.has_image(TEST_IMAGE).await;
    assert!(
        matches!(present, Ok(true)),
        "image {TEST_IMAGE} is missing: run scripts/build-test-image.sh ({present:?})"
    );
    docker
}

fn spec(pod_id: &PodId, command: &[&str]) -> ContainerSpec {
    ContainerSpec {
        pod_id: pod_id.clone(),
        generation: 1,
        image: TEST_IMAGE.to_string(),
        command: (!command.is_empty()).then(|| command.iter().map(|s| s.to_string()).collect()),
        env: Vec::new(),
        ports: Vec::new(),
        gpus: Vec::new(),
        emulated_gpus: true,
        volume_mount_path: Some("/workspace".to_string()),
        vcpu_count: 1,
        memory_in_gb: 1,
    }
}

fn bound(container_port: u16, transport: Transport, host_port: u16) -> BoundPort {
    BoundPort {
        container_port,
        transport,
        host_port,
    }
}

/// Free host ports, found by binding port 0.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("0.0.0.0:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address").port())
        .collect()
}

fn docker_exec(container: &str, script: &str) -> String {
    let output = Command::new("docker")
        .args(["exec", container, "sh", "-c", script])
        .output()
        .expect("run docker exec");
    assert!(output.status.success(), "docker exec failed: {output:?}");
    String::from_utf8(output.stdout).expect("utf-8 output")
}

#[tokio::test]
async fn start_creates_a_labelled_container_with_env_ports_limits_and_volume() {
    let docker = runtime().await;
    let pod_id = PodId::generate();
    let _cleanup = Cleanup(pod_id.clone());
    let tricky = "a=b \"quoted\" 'single' \\back\nnew line ünïcødé 🚀";

    let mut spec = spec(&pod_id, &[]);
    spec.env = vec![EnvVar::new("TRICKY", tricky), EnvVar::new("EMPTY", "")];
    spec.ports = vec![
        PortSpec {
            port: 8888,
            protocol: PortProtocol::Http,
        },
        PortSpec {
            port: 5353,
            protocol: PortProtocol::Udp,
        },
    ];
    let hosts = free_ports(2);
    let ports = [
        bound(8888, Transport::Tcp, hosts[0]),
        bound(5353, Transport::Udp, hosts[1]),
    ];
    let volume = format!("podyard-test-{pod_id}");
    docker
        .create_volume(&pod_id, &volume)
        .await
        .expect("create volume");

    let container = docker
        .start_container(&spec, Some(&volume), &ports)
        .await
        .expect("start container");

    assert_eq!(container.status, ContainerStatus::Running);
    assert_eq!(container.name, container_name(&pod_id, 1));
    assert!(container.started_at.is_some());
    let mut expected = ports.to_vec();
    expected.sort();
    assert_eq!(container.ports, expected);

    let env = docker_exec(&container.name, "printf %s \"$TRICKY\"");
    assert_eq!(env, tricky);
    let devices = docker_exec(&container.name, "printf %s \"$NVIDIA_VISIBLE_DEVICES\"");
    assert_eq!(devices, "void");
    docker_exec(&container.name, "echo kept > /workspace/file");

    let inspect = docker
        .client()
        .inspect_container(&container.id, None)
        .await
        .expect("inspect");
    let host = inspect.host_config.unwrap_or_default();
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    assert_eq!(host.memory, Some(1 << 30));
    let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(labels.get(LABEL_GENERATION).map(String::as_str), Some("1"));

    let listed = docker.list_containers().await.expect("list containers");
    let mine: Vec<_> = listed.iter().filter(|c| c.pod_id == pod_id).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].generation, 1);
}

#[tokio::test]
async fn a_second_start_adopts_the_existing_container() {
    let docker = runtime().await;
    let pod_id = PodId::generate();
    let _cleanup = Cleanup(pod_id.clone());
    let spec = spec(&pod_id, &[]);

    let first = docker
        .start_container(&spec, None, &[])
        .await
        .expect("first start");
    let second = docker
        .start_container(&spec, None, &[])
        .await
        .expect("second start");

    assert_eq!(first.id, second.id);
    let listed = docker.list_containers().await.expect("list containers");
    assert_eq!(listed.iter().filter(|c| c.pod_id == pod_id).count(), 1);
}

#[tokio::test]
async fn a_missing_image_is_named_in_the_error_and_leaves_nothing_behind() {
    let docker = runtime().await;
    let pod_id = PodId::generate();
    let _cleanup = Cleanup(pod_id.clone());
    let mut spec = spec(&pod_id, &[]);
    spec.image = "podyard-test/not-built-anywhere:latest".to_string();

    let error = docker
        .start_container(&spec, None, &[])
        .await
        .expect_err("a missing image cannot start");

    assert!(
        matches!(error, StartContainerError::ImageNotFound { .. }),
        "{error:?}"
    );
    assert!(error
        .to_string()
        .contains("podyard-test/not-built-anywhere:latest"));
    let listed = docker.list_containers().await.expect("list containers");
    assert!(listed.iter().all(|c| c.pod_id != pod_id));
}

#[tokio::test]
async fn an_exited_container_reports_its_code_and_is_not_restarted() {
    let docker = runtime().await;
    let pod_id = PodId::generate();
    let _cleanup = Cleanup(pod_id.clone());
    let spec = spec(&pod_id, &["sh", "-c", "exit 3"]);

    let started = docker
        .start_container(&spec, None, &[])
        .await
        .expect("start");
    let mut status = started.status.clone();
    for _ in 0..50 {
        if matches!(status, ContainerStatus::Exited { .. }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let found = docker
            .inspect_container(&started.id)
            .await
            .expect("inspect");
        status = found.expect("container exists").status;
    }
    assert_eq!(status, ContainerStatus::Exited { exit_code: 3 });

    let again = docker
        .start_container(&spec, None, &[])
        .await
        .expect("adopt");
    assert_eq!(again.id, started.id);
    assert_eq!(again.status, ContainerStatus::Exited { exit_code: 3 });
    assert!(again.finished_at.is_some());
}

#[tokio::test]
async fn remove_stops_the_container_and_keeps_the_volume_until_it_is_removed() {
    let docker = runtime().await;
    let pod_id = PodId::generate();
    let _cleanup = Cleanup(pod_id.clone());
    let volume_name = format!("podyard-test-{pod_id}");
    docker
        .create_volume(&pod_id, &volume_name)
        .await
        .expect("create volume");
    let container = docker
        .start_container(&spec(&pod_id, &[]), Some(&volume_name), &[])
        .await
        .expect("start");

    let volume = PodVolume {
        name: volume_name.clone(),
        pod_id: pod_id.clone(),
    };
    let in_use = docker.remove_volume(&volume).await;
    assert!(in_use.is_err(), "a volume in use is not removed");

    docker
        .remove_container(&container, GRACE)
        .await
        .expect("remove container");
    assert_eq!(
        docker
            .inspect_container(&container.id)
            .await
            .expect("inspect"),
        None
    );
    docker
        .remove_container(&container, GRACE)
        .await
        .expect("removing twice is fine");
    let volumes = docker.list_volumes().await.expect("list volumes");
    assert!(
        volumes.contains(&volume),
        "the volume outlives its container"
    );

    docker.remove_volume(&volume).await.expect("remove volume");
    let volumes = docker.list_volumes().await.expect("list volumes");
    assert!(!volumes.contains(&volume));
    docker
        .remove_volume(&volume)
        .await
        .expect("removing twice is fine");
}
