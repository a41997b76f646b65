//! The agent against the real Docker engine, driven by a control plane held in the test.
//! Needs the image that `scripts/build-test-image.sh` builds. The pod id is unique per run
//! and everything created for it is removed at the end, also when the test fails.

use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use podyard_agent::{Agent, AgentConfig, ControlPlane, ControlPlaneError};
use podyard_core::pod::{EnvVar, PortProtocol, PortSpec};
use podyard_core::{Assignment, ContainerSpec, ContainerState, MachineId, Observation, PodId};
use podyard_runtime::docker::{LABEL_GENERATION, LABEL_MACHINE_ID, LABEL_POD_ID};
use podyard_runtime::{DockerRuntime, GpuSampler, PodContainer};
use tokio::sync::{oneshot, Notify};

const TEST_IMAGE: &str = "podyard-test/busybox:latest";
const WAIT: Duration = Duration::from_secs(20);

#[derive(Default)]
struct TestControl {
    assignments: Mutex<Vec<Assignment>>,
    reports: Mutex<Vec<Observation>>,
    changed: Notify,
}

impl TestControl {
    fn assign(&self, assignments: Vec<Assignment>) {
        *self
            .assignments
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = assignments;
        self.changed.notify_one();
    }

    fn last_report(&self) -> Vec<Observation> {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[derive(Clone)]
struct Shared(Arc<TestControl>);

impl ControlPlane for Shared {
    async fn assignments(&self, _: &MachineId) -> Result<Vec<Assignment>, ControlPlaneError> {
        Ok(self
            .0
            .assignments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    async fn report(&self, _: &MachineId, obs: Vec<Observation>) -> Result<(), ControlPlaneError> {
        *self
            .0
            .reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = obs;
        Ok(())
    }

    async fn changed(&self) {
        self.0.changed.notified().await;
    }
}

/// Removes every container and volume of one pod when dropped.
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

async fn runtime(machine_id: &MachineId) -> DockerRuntime {
    let docker = DockerRuntime::connect(machine_id.clone())
        .await
        .unwrap_or_else(|e| panic!("these tests need a local Docker engine: {e}"));
    let present = docker.has_image(TEST_IMAGE).await;
    assert!(
        matches!(present, Ok(true)),
        "image {TEST_IMAGE} is missing: run scripts/build-test-image.sh ({present:?})"
    );
    docker
}

/// Polls `check` until it yields a value or `WAIT` passes.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn containers_of(docker: &DockerRuntime, pod_id: &PodId) -> Vec<PodContainer> {
    let all = docker.list_containers().await.expect("list containers");
    all.into_iter().filter(|c| &c.pod_id == pod_id).collect()
}

async fn has_volume(docker: &DockerRuntime, name: &str) -> bool {
    let volumes = docker.list_volumes().await.expect("list volumes");
    volumes.iter().any(|v| v.name == name)
}

#[tokio::test]
async fn the_agent_runs_stops_and_removes_a_pod() {
    let machine_id = MachineId::generate();
    let docker = runtime(&machine_id).await;
    let pod_id = PodId::generate();
    let _cleanup = Cleanup(pod_id.clone());
    let volume = format!("podyard-agent-test-{pod_id}");
    let spec = ContainerSpec {
        pod_id: pod_id.clone(),
        generation: 1,
        image: TEST_IMAGE.to_string(),
        command: None,
        env: vec![EnvVar::new("GREETING", "hello = world\n")],
        ports: vec![PortSpec {
            port: 2222,
            protocol: PortProtocol::Tcp,
        }],
        gpus: Vec::new(),
        emulated_gpus: true,
        volume_mount_path: Some("/workspace".to_string()),
        vcpu_count: 1,
        memory_in_gb: 1,
    };
    let control = Arc::new(TestControl::default());
    let mut config = AgentConfig::new(machine_id.clone(), "127.0.0.1");
    config.stop_grace = Duration::from_secs(1);
    let agent = Agent::new(
        config,
        Shared(control.clone()),
        docker.clone(),
        GpuSampler::zeros(),
    );
    let (stop_agent, shutdown) = oneshot::channel::<()>();
    let running_agent = tokio::spawn(agent.run(async {
        let _ = shutdown.await;
    }));

    // Assigned to run: a labelled container runs and is reported with its port.
    control.assign(vec![Assignment {
        pod_id: pod_id.clone(),
        volume: Some(volume.clone()),
        run: Some(spec.clone()),
    }]);
    let state = eventually("the pod to be reported running", || async {
        let report = control.last_report();
        let observation = report.into_iter().find(|o| o.pod_id == pod_id)?;
        matches!(observation.state, ContainerState::Running { .. }).then_some(observation.state)
    })
    .await;
    let ContainerState::Running { ports, .. } = state else {
        unreachable!("checked above");
    };
    assert_eq!(ports.len(), 1);
    assert_eq!(
        (ports[0].ip.as_str(), ports[0].private_port),
        ("127.0.0.1", 2222)
    );

    let containers = containers_of(&docker, &pod_id).await;
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].generation, 1);
    assert_eq!(containers[0].ports[0].host_port, ports[0].public_port);
    let inspect = docker
        .client()
        .inspect_container(&containers[0].id, None)
        .await
        .expect("inspect");
    let config = inspect.config.unwrap_or_default();
    let labels = config.labels.unwrap_or_default();
    assert_eq!(
        labels.get(LABEL_MACHINE_ID).map(String::as_str),
        Some(machine_id.as_str())
    );
    assert_eq!(labels.get(LABEL_GENERATION).map(String::as_str), Some("1"));
    let env = config.env.unwrap_or_default();
    assert!(env.contains(&"GREETING=hello = world\n".to_string()));
    let tcp_env = format!("RUNPOD_TCP_PORT_2222={}", ports[0].public_port);
    assert!(env.contains(&tcp_env), "{env:?}");

    // Stopped: the container goes, the volume stays.
    control.assign(vec![Assignment {
        pod_id: pod_id.clone(),
        volume: Some(volume.clone()),
        run: None,
    }]);
    eventually("the container to be removed", || async {
        containers_of(&docker, &pod_id)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    assert!(
        has_volume(&docker, &volume).await,
        "a stopped pod keeps its volume"
    );

    // No longer assigned (terminated): the volume goes too.
    control.assign(Vec::new());
    eventually("the volume to be removed", || async {
        (!has_volume(&docker, &volume).await).then_some(())
    })
    .await;

    let _ = stop_agent.send(());
    running_agent.await.expect("agent task ends cleanly");
}
