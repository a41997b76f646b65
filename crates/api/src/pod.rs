//! The pod resource: the `Pod` type, the `pod` query and the pod mutations.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, SecondsFormat, Utc};
use podyard_core::command::CreatePod;
use podyard_core::pod::{format_ports, parse_ports};
use podyard_core::{
    Catalog, CloudType, Command, ContainerState, EnvVar, Machine, Observation, Outcome, Pod, PodId,
    PodType,
};
use podyard_state::market::minimum_bid;
use podyard_state::State;

use crate::caller::{api, reader, writer};
use crate::error::{bad_input, command_error};
use crate::pod_input::{cuda_versions, docker_command};
use crate::scalars::Void;

/// RunPod's `PodStatus`; podyard writes only RUNNING, EXITED and TERMINATED.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum PodStatus {
    Created,
    Running,
    Restarting,
    Exited,
    Paused,
    Dead,
    Terminated,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "PodType", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum PodTypeEnum {
    Reserved,
    Interruptable,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "CloudTypeEnum", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum CloudTypeEnum {
    All,
    Secure,
    Community,
}

/// A pod with what is needed to answer any of its fields, copied out of the state.
pub struct PodView {
    pod: Pod,
    machine: Machine,
    observation: Option<Observation>,
    lowest_bid_to_resume: Option<f64>,
}

impl PodView {
    pub fn load(state: &State, catalog: &Catalog, pod: &Pod) -> Option<Self> {
        let machine = state.machine(&pod.machine_id)?.clone();
        Some(Self {
            lowest_bid_to_resume: lowest_bid_to_resume(state, catalog, pod, &machine),
            observation: state.observation(&pod.id).cloned(),
            machine,
            pod: pod.clone(),
        })
    }
}

/// For a stopped spot pod, the lowest bid that would start it on its machine now.
fn lowest_bid_to_resume(
    state: &State,
    catalog: &Catalog,
    pod: &Pod,
    machine: &Machine,
) -> Option<f64> {
    if !pod.is_spot() || pod.is_running() {
        return None;
    }
    let gpu_type = catalog.get(&machine.gpu_type_id)?;
    minimum_bid(state, machine, gpu_type, pod.gpu_count, Some(&pod.id))
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[Object(name = "Pod")]
impl PodView {
    async fn id(&self) -> &str {
        self.pod.id.as_str()
    }

    async fn name(&self) -> &str {
        &self.pod.name
    }

    async fn pod_type(&self) -> PodTypeEnum {
        match self.pod.pod_type {
            PodType::Reserved => PodTypeEnum::Reserved,
            PodType::Interruptable => PodTypeEnum::Interruptable,
        }
    }

    async fn desired_status(&self) -> PodStatus {
        if self.pod.is_running() {
            PodStatus::Running
        } else {
            PodStatus::Exited
        }
    }

    async fn last_status_change(&self) -> String {
        self.pod.last_status_change.to_string()
    }

    /// podyard extension: why the container is not healthy (exited, or could not start);
    /// null while it is starting or running.
    async fn status_message(&self) -> Option<String> {
        self.observation.as_ref().and_then(Observation::problem)
    }

    /// podyard extension: why the pod was last preempted (the displacing bid, or an
    /// on-demand pod); null once it runs again.
    async fn preemption_reason(&self) -> Option<String> {
        self.pod.preemption.as_ref().map(ToString::to_string)
    }

    async fn image_name(&self) -> &str {
        &self.pod.image_name
    }

    async fn docker_args(&self) -> &str {
        &self.pod.docker_args
    }

    /// RunPod's id of the pod's container. Not reported by podyard's agent: always null.
    async fn docker_id(&self) -> Option<String> {
        None
    }

    /// A legacy single-port field of RunPod's; `ports` and `runtime.ports` carry the
    /// ports. Always null.
    async fn port(&self) -> Option<i32> {
        None
    }

    /// The pod's address inside an instant cluster; podyard has no clusters: always null.
    async fn cluster_ip(&self) -> Option<String> {
        None
    }

    /// `"KEY=VALUE"` strings.
    async fn env(&self) -> Vec<String> {
        self.pod
            .env
            .iter()
            .map(|v| format!("{}={}", v.key, v.value))
            .collect()
    }

    async fn ports(&self) -> String {
        format_ports(&self.pod.ports)
    }

    async fn gpu_count(&self) -> u32 {
        self.pod.gpu_count
    }

    async fn gpus(&self) -> Vec<PodGpu> {
        self.machine
            .gpus
            .iter()
            .filter(|g| self.pod.gpus.contains(&g.index))
            .map(|g| PodGpu {
                id: g.uuid.clone(),
                index: g.index,
                gpu_type_id: self.machine.gpu_type_id.clone(),
            })
            .collect()
    }

    async fn vcpu_count(&self) -> f64 {
        f64::from(self.pod.vcpu_count)
    }

    async fn memory_in_gb(&self) -> f64 {
        f64::from(self.pod.memory_in_gb)
    }

    async fn container_disk_in_gb(&self) -> u32 {
        self.pod.container_disk_in_gb
    }

    async fn volume_in_gb(&self) -> f64 {
        f64::from(self.pod.volume_in_gb)
    }

    async fn volume_mount_path(&self) -> &str {
        &self.pod.volume_mount_path
    }

    async fn machine_id(&self) -> &str {
        self.machine.id.as_str()
    }

    /// Never null for a visible pod: one client dereferences it unconditionally.
    async fn machine(&self) -> PodMachine {
        PodMachine {
            pod_host_id: self.pod.host_id(&self.machine.host_hex),
            machine: self.machine.clone(),
        }
    }

    /// What the agent observes; null until the container runs and once the pod stops.
    async fn runtime(&self) -> Option<PodRuntime> {
        if !self.pod.is_running() {
            return None;
        }
        let ContainerState::Running {
            started_at,
            ports,
            gpus,
        } = &self.observation.as_ref()?.state
        else {
            return None;
        };
        Some(PodRuntime {
            uptime_in_seconds: uptime(*started_at),
            ports: ports
                .iter()
                .map(|p| PodRuntimePort {
                    ip: p.ip.clone(),
                    is_ip_public: p.is_ip_public,
                    private_port: p.private_port.into(),
                    public_port: p.public_port.into(),
                    r#type: p.protocol.clone(),
                })
                .collect(),
            gpus: gpus
                .iter()
                .map(|g| PodRuntimeGpu {
                    id: g.id.clone(),
                    gpu_util_percent: g.gpu_util_percent.into(),
                    memory_util_percent: g.memory_util_percent.into(),
                })
                .collect(),
            container: None,
        })
    }

    async fn uptime_seconds(&self) -> u32 {
        match self.observation.as_ref().map(|o| &o.state) {
            Some(ContainerState::Running { started_at, .. }) if self.pod.is_running() => {
                uptime(*started_at)
            }
            _ => 0,
        }
    }

    async fn cost_per_hr(&self) -> f64 {
        self.pod.cost_per_hr()
    }

    async fn adjusted_cost_per_hr(&self) -> f64 {
        self.pod.cost_per_hr()
    }

    /// The bid of a spot pod, per GPU-hour.
    async fn bid_per_gpu(&self) -> Option<f64> {
        self.pod.bid_per_gpu()
    }

    async fn lowest_bid_price_to_resume(&self) -> Option<f64> {
        self.lowest_bid_to_resume
    }

    async fn created_at(&self) -> String {
        iso(self.pod.created_at)
    }

    async fn last_started_at(&self) -> Option<String> {
        self.pod.last_started_at.map(iso)
    }
}

fn uptime(started_at: DateTime<Utc>) -> u32 {
    (Utc::now() - started_at)
        .num_seconds()
        .clamp(0, i64::from(u32::MAX)) as u32
}

#[derive(SimpleObject)]
pub struct PodGpu {
    /// The GPU's UUID.
    id: String,
    index: u32,
    gpu_type_id: String,
}

pub struct PodMachine {
    machine: Machine,
    pod_host_id: String,
}

#[Object]
impl PodMachine {
    async fn id(&self) -> &str {
        self.machine.id.as_str()
    }

    async fn pod_host_id(&self) -> &str {
        &self.pod_host_id
    }

    async fn gpu_type_id(&self) -> &str {
        &self.machine.gpu_type_id
    }

    async fn gpu_display_name(&self, ctx: &Context<'_>) -> String {
        let catalog = api(ctx).core.catalog();
        catalog.get(&self.machine.gpu_type_id).map_or_else(
            || self.machine.gpu_type_id.clone(),
            |t| t.display_name.clone(),
        )
    }

    async fn gpu_count(&self) -> u32 {
        self.machine.gpu_count()
    }

    /// podyard extension: true when the machine's GPUs are emulated, not real.
    async fn emulated(&self) -> bool {
        self.machine.emulated
    }

    async fn location(&self) -> &str {
        &self.machine.location
    }

    async fn data_center_id(&self) -> &str {
        &self.machine.data_center_id
    }

    async fn country_code(&self) -> &str {
        &self.machine.country_code
    }

    async fn secure_cloud(&self) -> bool {
        self.machine.secure_cloud
    }

    async fn cuda_version(&self) -> Option<&str> {
        self.machine.cuda_version.as_deref()
    }
}

#[derive(SimpleObject)]
pub struct PodRuntime {
    uptime_in_seconds: u32,
    ports: Vec<PodRuntimePort>,
    gpus: Vec<PodRuntimeGpu>,
    /// Container CPU and memory use; not measured yet, always null.
    container: Option<PodRuntimeContainer>,
}

#[derive(SimpleObject)]
pub struct PodRuntimePort {
    ip: String,
    is_ip_public: bool,
    private_port: u32,
    public_port: u32,
    r#type: String,
}

#[derive(SimpleObject)]
pub struct PodRuntimeGpu {
    id: String,
    gpu_util_percent: f64,
    memory_util_percent: f64,
}

#[derive(SimpleObject)]
pub struct PodRuntimeContainer {
    cpu_percent: f64,
    memory_percent: f64,
}

#[derive(InputObject)]
pub struct PodFilter {
    pod_id: String,
}

#[derive(InputObject)]
pub struct EnvironmentVariableInput {
    key: String,
    value: String,
}

/// Input of `podFindAndDeployOnDemand`. Accepted but not acted on: `startJupyter` (the
/// image decides), `deployCost`, `minDownload`, `minUpload`, `minDisk` beyond the disk
/// check, `volumeKey`, `containerRegistryAuthId`, `globalNetwork`, `supportPublicIp`
/// (every machine publishes pod ports directly on its address).
#[derive(InputObject)]
pub struct PodFindAndDeployOnDemandInput {
    #[graphql(flatten)]
    spec: PodSpecInput,
}

#[derive(InputObject)]
pub struct PodRentInterruptableInput {
    #[graphql(flatten)]
    spec: PodSpecInput,
    bid_per_gpu: Option<f64>,
}

#[derive(InputObject)]
pub struct PodSpecInput {
    name: Option<String>,
    image_name: Option<String>,
    gpu_type_id: Option<String>,
    gpu_type_id_list: Option<Vec<String>>,
    gpu_count: Option<u32>,
    cloud_type: Option<CloudTypeEnum>,
    data_center_id: Option<String>,
    country_code: Option<String>,
    container_disk_in_gb: Option<u32>,
    volume_in_gb: Option<f64>,
    volume_mount_path: Option<String>,
    ports: Option<String>,
    env: Option<Vec<EnvironmentVariableInput>>,
    docker_args: Option<String>,
    min_vcpu_count: Option<u32>,
    min_memory_in_gb: Option<u32>,
    min_disk: Option<u32>,
    min_download: Option<u32>,
    min_upload: Option<u32>,
    support_public_ip: Option<bool>,
    start_ssh: Option<bool>,
    start_jupyter: Option<bool>,
    template_id: Option<String>,
    network_volume_id: Option<String>,
    allowed_cuda_versions: Option<Vec<String>>,
    cuda_version: Option<String>,
    /// Lowest CUDA version the machine may run; see [`cuda_versions`].
    min_cuda_version: Option<String>,
    stop_after: Option<String>,
    terminate_after: Option<String>,
    deploy_cost: Option<f64>,
    volume_key: Option<String>,
    container_registry_auth_id: Option<String>,
    global_network: Option<bool>,
}

/// Empty strings mean "unset" for optional strings (compat).
fn set(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl PodSpecInput {
    /// The create command's request; `machine_cuda` lists the CUDA versions machines
    /// report, for `minCudaVersion`.
    fn into_request(
        self,
        bid_per_gpu: Option<f64>,
        machine_cuda: &[String],
    ) -> async_graphql::Result<CreatePod> {
        if let Some(template) = set(self.template_id) {
            return Err(bad_input(format!(
                "templateId {template:?}: templates are not supported; give imageName instead"
            )));
        }
        if set(self.network_volume_id).is_some() {
            return Err(bad_input(
                "networkVolumeId: network volumes are not supported",
            ));
        }
        if set(self.stop_after).is_some() || set(self.terminate_after).is_some() {
            return Err(bad_input("stopAfter and terminateAfter are not supported"));
        }
        let image_name =
            set(self.image_name).ok_or_else(|| bad_input("imageName: an image is required"))?;
        let mut gpu_type_ids: Vec<String> = set(self.gpu_type_id).into_iter().collect();
        for id in self.gpu_type_id_list.unwrap_or_default() {
            if !id.trim().is_empty() && !gpu_type_ids.contains(&id) {
                gpu_type_ids.push(id);
            }
        }
        let volume_in_gb = self.volume_in_gb.unwrap_or(0.0);
        if !(0.0..=u32::MAX as f64).contains(&volume_in_gb) || volume_in_gb.fract() != 0.0 {
            return Err(bad_input(
                "volumeInGb: must be a whole, non-negative number",
            ));
        }
        let ports = parse_ports(&self.ports.unwrap_or_default())
            .map_err(|reason| bad_input(format!("ports: {reason}")))?;
        let mut allowed_cuda = self.allowed_cuda_versions.unwrap_or_default();
        allowed_cuda.extend(set(self.cuda_version));
        let cuda_versions = cuda_versions(allowed_cuda, set(self.min_cuda_version), machine_cuda)?;
        let docker_args = docker_command(set(self.docker_args).unwrap_or_default())?;
        let defaults = CreatePod::new(image_name, String::new());
        Ok(CreatePod {
            name: self.name.unwrap_or_default(),
            gpu_type_ids,
            gpu_count: self.gpu_count.unwrap_or(1),
            cloud_type: match self.cloud_type {
                Some(CloudTypeEnum::Secure) => CloudType::Secure,
                Some(CloudTypeEnum::Community) => CloudType::Community,
                _ => CloudType::All,
            },
            data_center_id: set(self.data_center_id),
            country_code: set(self.country_code),
            container_disk_in_gb: self
                .container_disk_in_gb
                .unwrap_or(defaults.container_disk_in_gb),
            volume_in_gb: volume_in_gb as u32,
            volume_mount_path: set(self.volume_mount_path)
                .unwrap_or(defaults.volume_mount_path.clone()),
            ports,
            env: self
                .env
                .unwrap_or_default()
                .into_iter()
                .map(|v| EnvVar::new(v.key, v.value))
                .collect(),
            docker_args,
            min_vcpu_count: self.min_vcpu_count.unwrap_or(0),
            min_memory_in_gb: self.min_memory_in_gb.unwrap_or(0),
            support_public_ip: self.support_public_ip.unwrap_or(false),
            start_ssh: self.start_ssh.unwrap_or(false),
            cuda_versions,
            bid_per_gpu,
            ..defaults
        })
    }
}

#[derive(InputObject)]
pub struct PodResumeInput {
    pod_id: String,
    gpu_count: Option<u32>,
}

#[derive(InputObject)]
pub struct PodBidResumeInput {
    pod_id: String,
    bid_per_gpu: f64,
    gpu_count: u32,
}

#[derive(InputObject)]
pub struct PodStopInput {
    pod_id: String,
    /// Accepted for compatibility; stopping always starts a new generation at resume.
    increment_version: Option<bool>,
}

#[derive(InputObject)]
pub struct PodTerminateInput {
    pod_id: String,
}

fn required<T>(input: Option<T>) -> async_graphql::Result<T> {
    input.ok_or_else(|| bad_input("input: the argument is required"))
}

#[derive(Default)]
pub struct PodQuery;

#[Object]
impl PodQuery {
    /// One of the caller's pods; null when it does not exist or belongs to someone else.
    async fn pod(
        &self,
        ctx: &Context<'_>,
        input: Option<PodFilter>,
    ) -> async_graphql::Result<Option<PodView>> {
        let owner = reader(ctx)?;
        let id = PodId::new(required(input)?.pod_id);
        let core = &api(ctx).core;
        Ok(core.read(|state| PodView::load(state, core.catalog(), state.pod_of(&owner, &id)?)))
    }
}

#[derive(Default)]
pub struct PodMutation;

#[Object]
impl PodMutation {
    async fn pod_find_and_deploy_on_demand(
        &self,
        ctx: &Context<'_>,
        input: Option<PodFindAndDeployOnDemandInput>,
    ) -> async_graphql::Result<Option<PodView>> {
        let owner = writer(ctx)?;
        create(ctx, owner, required(input)?.spec, None).await
    }

    async fn pod_rent_interruptable(
        &self,
        ctx: &Context<'_>,
        input: Option<PodRentInterruptableInput>,
    ) -> async_graphql::Result<Option<PodView>> {
        let owner = writer(ctx)?;
        let input = required(input)?;
        let bid = input
            .bid_per_gpu
            .ok_or_else(|| bad_input("bidPerGpu: a spot pod needs a bid per GPU-hour"))?;
        create(ctx, owner, input.spec, Some(bid)).await
    }

    async fn pod_resume(
        &self,
        ctx: &Context<'_>,
        input: Option<PodResumeInput>,
    ) -> async_graphql::Result<Option<PodView>> {
        let owner = writer(ctx)?;
        let input = required(input)?;
        run_pod_command(
            ctx,
            Command::ResumePod {
                owner,
                pod_id: PodId::new(input.pod_id),
                gpu_count: input.gpu_count,
            },
        )
        .await
    }

    async fn pod_bid_resume(
        &self,
        ctx: &Context<'_>,
        input: Option<PodBidResumeInput>,
    ) -> async_graphql::Result<Option<PodView>> {
        let owner = writer(ctx)?;
        let input = required(input)?;
        run_pod_command(
            ctx,
            Command::BidResumePod {
                owner,
                pod_id: PodId::new(input.pod_id),
                bid_per_gpu: input.bid_per_gpu,
                gpu_count: input.gpu_count,
            },
        )
        .await
    }

    async fn pod_stop(
        &self,
        ctx: &Context<'_>,
        input: Option<PodStopInput>,
    ) -> async_graphql::Result<Option<PodView>> {
        let owner = writer(ctx)?;
        let input = required(input)?;
        let _ = input.increment_version;
        run_pod_command(
            ctx,
            Command::StopPod {
                owner,
                pod_id: PodId::new(input.pod_id),
            },
        )
        .await
    }

    async fn pod_terminate(
        &self,
        ctx: &Context<'_>,
        input: Option<PodTerminateInput>,
    ) -> async_graphql::Result<Option<Void>> {
        let owner = writer(ctx)?;
        let input = required(input)?;
        let command = Command::TerminatePod {
            owner,
            pod_id: PodId::new(input.pod_id),
        };
        api(ctx)
            .core
            .execute(command)
            .await
            .map_err(command_error)?;
        Ok(None)
    }
}

/// The CUDA versions the machines report, each once.
fn machine_cuda_versions(ctx: &Context<'_>) -> Vec<String> {
    api(ctx).core.read(|state| {
        let mut versions: Vec<String> = state
            .machines()
            .filter_map(|m| m.cuda_version.clone())
            .collect();
        versions.sort();
        versions.dedup();
        versions
    })
}

/// Creates an on-demand pod, or a spot pod when there is a bid.
async fn create(
    ctx: &Context<'_>,
    owner: podyard_core::UserId,
    spec: PodSpecInput,
    bid: Option<f64>,
) -> async_graphql::Result<Option<PodView>> {
    let request = spec.into_request(bid, &machine_cuda_versions(ctx))?;
    let command = Command::CreatePod {
        owner,
        request: Box::new(request),
    };
    run_pod_command(ctx, command).await
}

async fn run_pod_command(
    ctx: &Context<'_>,
    command: Command,
) -> async_graphql::Result<Option<PodView>> {
    let core = &api(ctx).core;
    match core.execute(command).await.map_err(command_error)? {
        Outcome::Pod(pod) => Ok(core.read(|state| PodView::load(state, core.catalog(), &pod))),
        _ => Ok(None),
    }
}
