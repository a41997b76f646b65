//! One reconcile pass: compare the pods assigned to this machine with the containers and
//! volumes on it, act on the difference, and say what is there.
//!
//! Expected flow of a pod's start (generation) on this host: absent → started → running →
//! (exited on its own | stopped because it is no longer wanted). Guarantees:
//! - a container runs only for the current generation of a pod that should run; any other
//!   podyard container is stopped and removed, in the background so that a stop's grace
//!   period does not delay other pods;
//! - a container is never started on a GPU that another container still holds (one whose
//!   removal failed, or a preempted pod's that is still stopping), nor while an older
//!   start of the same pod is still stopping: the start waits for a later pass, so two
//!   containers never hold one GPU and a pod never has two containers;
//! - an exited container is reported, never restarted: a new start comes as a new
//!   generation from the control plane;
//! - a start that failed is reported and not retried for the same generation, so a bad
//!   image costs one attempt, not one per pass;
//! - a volume is deleted only once its pod is not assigned here at all.
//!
//! All state is re-derived from container and volume labels each pass, except the record
//! of failed starts, which lives in memory: after an agent restart each failed start is
//! tried once more.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use podyard_core::{Assignment, ContainerSpec, ContainerState, Observation, PodId};
use podyard_runtime::{ContainerStatus, GpuSampler, ListContainersError, PodContainer};
use tracing::{info, info_span, warn, Instrument};

use crate::observe::{observe, Address};
use crate::remove::remove_orphan_volumes;
use crate::runtime::Runtime;
use crate::start::start_pod;
use crate::stop::Stopper;
use crate::{error_chain, AgentConfig};

/// A start that failed, remembered so that it is reported without being retried.
#[derive(Clone, Debug)]
struct Failure {
    generation: u64,
    reason: String,
    at: DateTime<Utc>,
}

/// Drives one host's containers towards its assignments.
pub struct Reconciler<R> {
    config: AgentConfig,
    runtime: Arc<R>,
    gpus: GpuSampler,
    failures: HashMap<PodId, Failure>,
    stopper: Stopper,
}

impl<R: Runtime> Reconciler<R> {
    pub fn new(config: AgentConfig, runtime: R, gpus: GpuSampler) -> Self {
        Self {
            config,
            runtime: Arc::new(runtime),
            gpus,
            failures: HashMap::new(),
            stopper: Stopper::default(),
        }
    }

    /// Resolves when a container stop started by an earlier pass has ended: a start that
    /// waited for its GPUs can go ahead.
    pub async fn stopped(&self) {
        self.stopper.stopped().await;
    }

    /// Waits until no container stop is in flight.
    pub async fn settle(&self) {
        while !self.stopper.idle() {
            self.stopper.stopped().await;
        }
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    pub fn runtime(&self) -> &R {
        &self.runtime
    }

    /// One pass; returns an observation for every pod that should run. Fails only when
    /// the containers cannot be listed, since nothing can be decided without them.
    pub async fn reconcile(
        &mut self,
        assignments: &[Assignment],
    ) -> Result<Vec<Observation>, ListContainersError> {
        let span = info_span!("reconcile", machine_id = %self.config.machine_id);
        self.pass(assignments).instrument(span).await
    }

    async fn pass(
        &mut self,
        assignments: &[Assignment],
    ) -> Result<Vec<Observation>, ListContainersError> {
        let wanted: HashMap<&PodId, &ContainerSpec> = assignments
            .iter()
            .filter_map(|a| Some((&a.pod_id, a.run.as_ref()?)))
            .collect();
        let is_current = |c: &PodContainer| {
            wanted
                .get(&c.pod_id)
                .is_some_and(|spec| spec.generation == c.generation)
        };
        let (current, stale): (Vec<_>, Vec<_>) = self
            .runtime
            .list_containers()
            .await?
            .into_iter()
            .partition(is_current);

        // Stale containers are stopped in the background. Until they are gone they still
        // hold their GPUs: a start that needs one waits for a later pass.
        self.stopper
            .stop(&self.runtime, &stale, self.config.stop_grace);
        let held: Vec<&str> = stale
            .iter()
            .chain(current.iter())
            .flat_map(|c| c.gpus.iter().map(String::as_str))
            .collect();
        self.failures.retain(|pod_id, f| {
            wanted
                .get(pod_id)
                .is_some_and(|s| s.generation == f.generation)
        });

        let mut observations = Vec::with_capacity(wanted.len());
        for assignment in assignments {
            let Some(spec) = &assignment.run else {
                continue;
            };
            let existing = current.iter().find(|c| c.pod_id == spec.pod_id);
            // A pod never has two containers at once: an older start still stopping may
            // hold its volume (two writers could corrupt it) or anything else of the pod.
            let own_older = stale.iter().any(|c| c.pod_id == spec.pod_id);
            if existing.is_none() && (own_older || holds_gpus_of(&held, spec)) {
                info!(pod_id = %spec.pod_id, "waiting for another container to let go");
                observations.push(waiting(spec));
                continue;
            }
            let volume = assignment.volume.as_deref();
            observations.push(self.converge(spec, volume, existing).await);
        }

        remove_orphan_volumes(self.runtime.as_ref(), assignments).await;
        Ok(observations)
    }

    /// Brings one pod that should run to running, unless it already ran or failed.
    async fn converge(
        &mut self,
        spec: &ContainerSpec,
        volume: Option<&str>,
        existing: Option<&PodContainer>,
    ) -> Observation {
        let ip = &Address {
            ip: &self.config.advertised_ip,
            public: self.config.ip_is_public,
        };
        if let Some(container) = existing.filter(|c| c.status != ContainerStatus::Created) {
            return observe(spec, container, ip, &self.gpus);
        }
        if let Some(failure) = self.failures.get(&spec.pod_id) {
            return failed(spec, failure);
        }

        let pod_id = &spec.pod_id;
        let generation = spec.generation;
        match start_pod(self.runtime.as_ref(), spec, volume).await {
            Ok(container) => {
                info!(%pod_id, generation, container = container.name, "pod started");
                observe(spec, &container, ip, &self.gpus)
            }
            Err(e) => {
                let reason = error_chain(&e);
                warn!(%pod_id, generation, error = %reason, "pod cannot start");
                let failure = Failure {
                    generation,
                    reason,
                    at: Utc::now(),
                };
                let observation = failed(spec, &failure);
                self.failures.insert(pod_id.clone(), failure);
                observation
            }
        }
    }
}

/// Whether another container (an older start of the same pod included) holds one of the
/// GPUs `spec` needs.
fn holds_gpus_of(held: &[&str], spec: &ContainerSpec) -> bool {
    held.iter()
        .any(|uuid| spec.gpus.iter().any(|g| g.uuid == *uuid))
}

fn waiting(spec: &ContainerSpec) -> Observation {
    Observation {
        pod_id: spec.pod_id.clone(),
        generation: spec.generation,
        state: ContainerState::Starting,
    }
}

fn failed(spec: &ContainerSpec, failure: &Failure) -> Observation {
    Observation {
        pod_id: spec.pod_id.clone(),
        generation: spec.generation,
        state: ContainerState::Failed {
            reason: failure.reason.clone(),
            at: failure.at,
        },
    }
}

#[cfg(test)]
mod tests {
    use podyard_core::pod::{EnvVar, PortProtocol, PortSpec};
    use podyard_core::{Gpu, MachineId};
    use podyard_runtime::PodVolume;

    use super::*;
    use crate::fake::{FakeRuntime, MISSING_IMAGE};

    fn reconciler(runtime: FakeRuntime) -> Reconciler<FakeRuntime> {
        let config = AgentConfig::new(MachineId::new("machine00001"), "10.0.0.7");
        Reconciler::new(config, runtime, GpuSampler::zeros())
    }

    fn pod(n: u32) -> PodId {
        PodId::new(format!("pod{n:011}"))
    }

    fn spec(pod_id: &PodId, generation: u64) -> ContainerSpec {
        ContainerSpec {
            pod_id: pod_id.clone(),
            generation,
            image: "podyard-test/busybox:latest".to_string(),
            command: None,
            env: vec![EnvVar::new("SECRET", "hunter2")],
            ports: vec![
                PortSpec {
                    port: 22,
                    protocol: PortProtocol::Tcp,
                },
                PortSpec {
                    port: 8888,
                    protocol: PortProtocol::Http,
                },
            ],
            gpus: vec![Gpu {
                index: 0,
                uuid: "GPU-emulated-m-0".to_string(),
            }],
            emulated_gpus: true,
            volume_mount_path: Some("/workspace".to_string()),
            vcpu_count: 1,
            memory_in_gb: 1,
        }
    }

    fn running(spec: ContainerSpec) -> Assignment {
        Assignment {
            pod_id: spec.pod_id.clone(),
            volume: Some(format!("vol-{}", spec.pod_id)),
            run: Some(spec),
        }
    }

    fn stopped(pod_id: &PodId) -> Assignment {
        Assignment {
            pod_id: pod_id.clone(),
            volume: Some(format!("vol-{pod_id}")),
            run: None,
        }
    }

    async fn pass(r: &mut Reconciler<FakeRuntime>, assignments: &[Assignment]) -> Vec<Observation> {
        r.reconcile(assignments)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn starts_missing_pods_and_reports_their_ports_and_gpus() {
        let mut r = reconciler(FakeRuntime::default());
        let pod_id = pod(1);

        let observations = pass(&mut r, &[running(spec(&pod_id, 1))]).await;

        assert_eq!(observations.len(), 1);
        let ContainerState::Running { ports, gpus, .. } = &observations[0].state else {
            panic!("expected running, got {:?}", observations[0]);
        };
        assert_eq!(ports.len(), 2);
        assert_eq!(
            (ports[0].private_port, ports[0].protocol.as_str()),
            (22, "tcp")
        );
        assert_eq!(
            (ports[1].private_port, ports[1].protocol.as_str()),
            (8888, "http")
        );
        assert!(ports.iter().all(|p| p.ip == "10.0.0.7" && !p.is_ip_public));
        assert_eq!(gpus.len(), 1);
        assert_eq!(gpus[0].id, "GPU-emulated-m-0");

        let (starts, volumes) = r.runtime().with(|s| (s.starts.clone(), s.volumes.clone()));
        let announced = EnvVar::new("RUNPOD_TCP_PORT_22", ports[0].public_port.to_string());
        assert!(starts[0].env.contains(&announced));
        assert_eq!(volumes[0].name, format!("vol-{pod_id}"));
    }

    #[tokio::test]
    async fn a_restarted_agent_adopts_running_containers() {
        let pod_id = pod(2);
        let runtime = FakeRuntime::default();
        runtime.with(|s| s.containers.push(FakeRuntime::running(&pod_id, 4)));
        let mut r = reconciler(runtime);

        let observations = pass(&mut r, &[running(spec(&pod_id, 4))]).await;

        assert!(matches!(
            observations[0].state,
            ContainerState::Running { .. }
        ));
        assert!(r.runtime().with(|s| s.starts.is_empty()));
    }

    #[tokio::test]
    async fn a_stale_generation_is_removed_before_the_new_one_starts() {
        let pod_id = pod(3);
        let runtime = FakeRuntime::default();
        runtime.with(|s| s.containers.push(FakeRuntime::running(&pod_id, 1)));
        let mut r = reconciler(runtime);

        let first = pass(&mut r, &[running(spec(&pod_id, 2))]).await;
        assert_eq!(
            first[0].state,
            ContainerState::Starting,
            "the old one still stops"
        );
        r.settle().await;
        let second = pass(&mut r, &[running(spec(&pod_id, 2))]).await;

        assert_eq!(second[0].generation, 2);
        let (removed, containers) = r
            .runtime()
            .with(|s| (s.removed.clone(), s.containers.clone()));
        assert_eq!(removed, vec![format!("podyard-{pod_id}-1")]);
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0].generation, 2);
    }

    #[tokio::test]
    async fn a_stopped_pod_loses_its_container_and_keeps_its_volume() {
        let pod_id = pod(4);
        let mut r = reconciler(FakeRuntime::default());
        pass(&mut r, &[running(spec(&pod_id, 1))]).await;

        let observations = pass(&mut r, &[stopped(&pod_id)]).await;
        r.settle().await;

        assert!(observations.is_empty());
        let (containers, volumes) = r
            .runtime()
            .with(|s| (s.containers.clone(), s.volumes.clone()));
        assert!(containers.is_empty());
        assert_eq!(volumes.len(), 1);
    }

    #[tokio::test]
    async fn volumes_of_pods_no_longer_assigned_are_removed() {
        let kept = pod(5);
        let orphan = pod(6);
        let runtime = FakeRuntime::default();
        runtime.with(|s| {
            for pod_id in [&kept, &orphan] {
                let name = format!("vol-{pod_id}");
                s.volumes.push(PodVolume {
                    name,
                    pod_id: pod_id.clone(),
                });
            }
        });
        let mut r = reconciler(runtime);

        pass(&mut r, &[stopped(&kept)]).await;

        let volumes = r.runtime().with(|s| s.volumes.clone());
        assert_eq!(volumes.len(), 1);
        assert_eq!(volumes[0].pod_id, kept);
    }

    #[tokio::test]
    async fn an_exited_container_is_reported_and_not_restarted() {
        let pod_id = pod(7);
        let runtime = FakeRuntime::default();
        let mut exited = FakeRuntime::running(&pod_id, 1);
        exited.status = ContainerStatus::Exited { exit_code: 137 };
        runtime.with(|s| s.containers.push(exited));
        let mut r = reconciler(runtime);

        for _ in 0..3 {
            let observations = pass(&mut r, &[running(spec(&pod_id, 1))]).await;
            let state = &observations[0].state;
            assert!(
                matches!(state, ContainerState::Exited { exit_code: 137, .. }),
                "{state:?}"
            );
        }
        assert!(r.runtime().with(|s| s.starts.is_empty()));
    }

    #[tokio::test]
    async fn a_start_waits_while_another_container_still_holds_its_gpus() {
        let holder = pod(9);
        let waiter = pod(10);
        let runtime = FakeRuntime::default();
        let mut stuck = FakeRuntime::running(&holder, 1);
        stuck.gpus = vec!["GPU-emulated-m-0".to_string()];
        runtime.with(|s| {
            s.containers.push(stuck);
            s.fail_removals = true;
        });
        let mut r = reconciler(runtime);

        let observations = pass(&mut r, &[running(spec(&waiter, 1))]).await;
        assert_eq!(observations[0].state, ContainerState::Starting);
        assert!(r.runtime().with(|s| s.starts.is_empty()));

        r.settle().await;
        r.runtime().with(|s| s.fail_removals = false);
        let observations = pass(&mut r, &[running(spec(&waiter, 1))]).await;
        assert_eq!(
            observations[0].state,
            ContainerState::Starting,
            "still listed"
        );
        r.settle().await;
        let observations = pass(&mut r, &[running(spec(&waiter, 1))]).await;
        let state = &observations[0].state;
        assert!(matches!(state, ContainerState::Running { .. }), "{state:?}");
    }

    #[tokio::test]
    async fn a_new_start_waits_while_an_older_start_of_the_pod_holds_its_volume() {
        let pod_id = pod(11);
        let runtime = FakeRuntime::default();
        runtime.with(|s| {
            s.containers.push(FakeRuntime::running(&pod_id, 1));
            s.fail_removals = true;
        });
        let mut r = reconciler(runtime);
        let mut without_gpus = spec(&pod_id, 2);
        without_gpus.gpus.clear();

        let observations = pass(&mut r, &[running(without_gpus)]).await;

        assert_eq!(observations[0].state, ContainerState::Starting);
        assert!(r.runtime().with(|s| s.starts.is_empty()));
        r.settle().await;
    }

    #[tokio::test]
    async fn a_failed_start_is_reported_every_pass_but_tried_once_per_generation() {
        let pod_id = pod(8);
        let mut r = reconciler(FakeRuntime::default());
        let mut bad = spec(&pod_id, 1);
        bad.image = MISSING_IMAGE.to_string();

        for _ in 0..3 {
            let observations = pass(&mut r, &[running(bad.clone())]).await;
            let ContainerState::Failed { reason, .. } = &observations[0].state else {
                panic!("expected a failure, got {:?}", observations[0]);
            };
            assert!(reason.contains(MISSING_IMAGE), "{reason}");
        }
        assert_eq!(r.runtime().with(|s| s.starts.len()), 1);

        bad.generation = 2;
        pass(&mut r, &[running(bad)]).await;
        assert_eq!(
            r.runtime().with(|s| s.starts.len()),
            2,
            "a new start is tried again"
        );
    }
}
