//! The decision of each command: given the current state, either the changes it makes and
//! its answer, or why it is refused. Pure: no store, no clock of its own, no I/O, so every
//! rule of the lifecycle is a unit test.

use chrono::{DateTime, Utc};
use podyard_core::command::CreatePod;
use podyard_core::pod::{limits, validate_env, Preemption, StatusChange};
use podyard_core::user::{generate_key, generate_password, hash_key};
use podyard_core::{
    ApiKey, Catalog, Change, Command, CommandError, DesiredStatus, EnvVarExt, KeyAccess, Machine,
    MachineId, Observation, Outcome, Pod, PodId, PodType, User, UserId,
};

use tracing::{debug, info, warn};

use crate::market::{capture, Claim};
use crate::scheduler::{busy_reason, check_bid, place};
use crate::state::State;

/// What an accepted command does.
pub type Decision = (Vec<Change>, Outcome);

pub fn execute(
    state: &State,
    catalog: &Catalog,
    command: Command,
    now: DateTime<Utc>,
) -> Result<Decision, CommandError> {
    match command {
        Command::CreatePod { owner, request } => create(state, catalog, owner, *request, now),
        Command::StopPod { owner, pod_id } => stop(state, &owner, &pod_id, now),
        Command::ResumePod {
            owner,
            pod_id,
            gpu_count,
        } => resume(state, catalog, &owner, &pod_id, gpu_count, now),
        Command::BidResumePod {
            owner,
            pod_id,
            bid_per_gpu,
            gpu_count,
        } => bid_resume(state, catalog, &owner, &pod_id, bid_per_gpu, gpu_count, now),
        Command::TerminatePod { owner, pod_id } => terminate(state, &owner, &pod_id),
        Command::AddUser {
            name,
            access,
            admin,
        } => add_user(state, name, access, admin, now),
        Command::AddApiKey { user_id, access } => add_api_key(state, &user_id, access, now),
        Command::RegisterMachine { machine } => register_machine(state, machine, now),
        Command::ReportObservations {
            machine_id,
            observations,
        } => Ok(report(state, &machine_id, observations)),
    }
}

fn create(
    state: &State,
    catalog: &Catalog,
    owner: UserId,
    mut request: CreatePod,
    now: DateTime<Utc>,
) -> Result<Decision, CommandError> {
    validate_create(&request)?;
    let placement = place(state, catalog, &request)?;
    let machine = state
        .machine(&placement.machine_id)
        .ok_or(CommandError::NoCapacity {
            considered: Vec::new(),
        })?;

    // RunPod generates a Jupyter password when the user sets none, and shows it in `env`.
    request
        .env
        .set_default("JUPYTER_PASSWORD", generate_password());

    let id = fresh_pod_id(state);
    let pod = Pod {
        name: if request.name.trim().is_empty() {
            format!("pod-{id}")
        } else {
            request.name
        },
        id,
        owner,
        pod_type: match request.bid_per_gpu {
            Some(_) => PodType::Interruptable,
            None => PodType::Reserved,
        },
        desired: DesiredStatus::Running,
        last_status_change: StatusChange::new(StatusChange::RENTED, now),
        image_name: request.image_name,
        docker_args: request.docker_args,
        env: request.env,
        ports: request.ports,
        gpu_count: request.gpu_count,
        machine_id: placement.machine_id.clone(),
        gpus: placement.gpus,
        vcpu_count: machine.vcpus_for(request.gpu_count),
        memory_in_gb: machine.memory_for(request.gpu_count),
        container_disk_in_gb: request.container_disk_in_gb,
        volume_in_gb: request.volume_in_gb,
        volume_mount_path: request.volume_mount_path,
        price_per_gpu: placement.price_per_gpu,
        start_ssh: request.start_ssh,
        created_at: now,
        last_started_at: Some(now),
        generation: 1,
        preemption: None,
    };
    let claim = Claim::from_pod(&pod);
    Ok(with_preemptions(state, &placement.victims, claim, now, pod))
}

/// The decision of a start that takes GPUs from `victims`: each becomes EXITED with
/// `Outbid`, keeping its volume, then the started pod is stored. The order matters to the
/// state, which frees the victims' GPUs before they are allocated again.
fn with_preemptions(
    state: &State,
    victims: &[PodId],
    claim: Claim,
    now: DateTime<Utc>,
    started: Pod,
) -> Decision {
    let mut changes = Vec::with_capacity(victims.len() + 1);
    for victim in victims.iter().filter_map(|id| state.pod(id)) {
        let mut victim = victim.clone();
        info!(pod_id = %victim.id, machine_id = %victim.machine_id, bid = victim.price_per_gpu,
            by_pod = %started.id, by_bid = ?claim.bid(), "spot pod preempted");
        victim.preemption = Some(Preemption {
            at: now,
            bid: victim.price_per_gpu,
            by_bid: claim.bid(),
        });
        victim.desired = DesiredStatus::Exited;
        victim.gpus.clear();
        victim.last_status_change = StatusChange::new(StatusChange::OUTBID, now);
        changes.push(Change::PutPod(victim));
    }
    changes.push(Change::PutPod(started.clone()));
    (changes, Outcome::Pod(Box::new(started)))
}

fn validate_create(request: &CreatePod) -> Result<(), CommandError> {
    if request.image_name.trim().is_empty() {
        return Err(CommandError::invalid("imageName", "must not be empty"));
    }
    let too_long = [
        ("name", request.name.len(), limits::MAX_NAME_BYTES),
        (
            "imageName",
            request.image_name.len(),
            limits::MAX_IMAGE_BYTES,
        ),
        (
            "dockerArgs",
            request.docker_args.len(),
            limits::MAX_DOCKER_ARGS_BYTES,
        ),
        (
            "volumeMountPath",
            request.volume_mount_path.len(),
            limits::MAX_PATH_BYTES,
        ),
    ];
    if let Some((field, _, max)) = too_long.into_iter().find(|(_, len, max)| len > max) {
        return Err(CommandError::invalid(
            field,
            format!("must be at most {max} bytes"),
        ));
    }
    let disks = [
        ("containerDiskInGb", request.container_disk_in_gb),
        ("volumeInGb", request.volume_in_gb),
    ];
    if let Some((field, _)) = disks.into_iter().find(|(_, gb)| *gb > limits::MAX_DISK_GB) {
        let max = limits::MAX_DISK_GB;
        return Err(CommandError::invalid(
            field,
            format!("must be at most {max} GB"),
        ));
    }
    if request.ports.len() > limits::MAX_PORTS {
        let max = limits::MAX_PORTS;
        return Err(CommandError::invalid(
            "ports",
            format!("at most {max} ports"),
        ));
    }
    if request.gpu_type_ids.len() > limits::MAX_GPU_TYPES {
        let max = limits::MAX_GPU_TYPES;
        return Err(CommandError::invalid(
            "gpuTypeIdList",
            format!("at most {max} ids"),
        ));
    }
    if request.gpu_count == 0 {
        return Err(CommandError::invalid("gpuCount", "must be at least 1"));
    }
    validate_env(&request.env).map_err(|reason| CommandError::invalid("env", reason))?;
    if request.volume_in_gb > 0 && !request.volume_mount_path.starts_with('/') {
        return Err(CommandError::invalid(
            "volumeMountPath",
            format!("{:?} must be an absolute path", request.volume_mount_path),
        ));
    }
    if !request.docker_args.trim().is_empty() {
        shell_words::split(&request.docker_args).map_err(|e| {
            CommandError::invalid("dockerArgs", format!("cannot be split into words: {e}"))
        })?;
    }
    if let Some(bid) = request.bid_per_gpu {
        check_bid_value(bid)?;
    }
    Ok(())
}

fn check_bid_value(bid: f64) -> Result<(), CommandError> {
    if !bid.is_finite() || bid <= 0.0 {
        return Err(CommandError::invalid(
            "bidPerGpu",
            "must be a positive number of dollars per GPU-hour",
        ));
    }
    Ok(())
}

fn fresh_pod_id(state: &State) -> PodId {
    loop {
        let id = PodId::generate();
        if state.pod(&id).is_none() {
            return id;
        }
    }
}

fn put(pod: Pod) -> Decision {
    (
        vec![Change::PutPod(pod.clone())],
        Outcome::Pod(Box::new(pod)),
    )
}

fn unchanged(pod: &Pod) -> Decision {
    (Vec::new(), Outcome::Pod(Box::new(pod.clone())))
}

fn stop(
    state: &State,
    owner: &UserId,
    pod_id: &PodId,
    now: DateTime<Utc>,
) -> Result<Decision, CommandError> {
    let pod = owned_pod(state, owner, pod_id)?;
    if !pod.is_running() {
        return Ok(unchanged(pod));
    }
    let mut pod = pod.clone();
    pod.desired = DesiredStatus::Exited;
    pod.gpus.clear();
    pod.last_status_change = StatusChange::new(StatusChange::EXITED, now);
    Ok(put(pod))
}

fn resume(
    state: &State,
    catalog: &Catalog,
    owner: &UserId,
    pod_id: &PodId,
    gpu_count: Option<u32>,
    now: DateTime<Utc>,
) -> Result<Decision, CommandError> {
    let pod = owned_pod(state, owner, pod_id)?;
    if pod.is_spot() {
        return Err(CommandError::SpotResumedOnDemand {
            pod_id: pod.id.clone(),
        });
    }
    if pod.is_running() {
        return Ok(unchanged(pod));
    }
    let machine = pod_machine(state, pod)?;
    let price = catalog
        .get(&machine.gpu_type_id)
        .map(|t| t.on_demand_price(machine.secure_cloud))
        .unwrap_or(pod.price_per_gpu);
    let gpu_count = gpu_count.unwrap_or(pod.gpu_count);
    start_on_own_machine(state, machine, pod, gpu_count, Claim::OnDemand, price, now)
}

#[allow(clippy::too_many_arguments)]
fn bid_resume(
    state: &State,
    catalog: &Catalog,
    owner: &UserId,
    pod_id: &PodId,
    bid_per_gpu: f64,
    gpu_count: u32,
    now: DateTime<Utc>,
) -> Result<Decision, CommandError> {
    let pod = owned_pod(state, owner, pod_id)?;
    if !pod.is_spot() {
        return Err(CommandError::OnDemandResumedAsSpot {
            pod_id: pod.id.clone(),
        });
    }
    if pod.is_running() {
        return Ok(unchanged(pod));
    }
    check_bid_value(bid_per_gpu)?;
    let machine = pod_machine(state, pod)?;
    if let Some(gpu_type) = catalog.get(&machine.gpu_type_id) {
        check_bid(gpu_type, machine.secure_cloud, bid_per_gpu)?;
    }
    let claim = Claim::Spot { bid: bid_per_gpu };
    start_on_own_machine(state, machine, pod, gpu_count, claim, bid_per_gpu, now)
}

/// Starts a stopped pod again on the machine that holds its volume, preempting the spot
/// pods that `claim` outbids if free GPUs are not enough.
fn start_on_own_machine(
    state: &State,
    machine: &Machine,
    pod: &Pod,
    gpu_count: u32,
    claim: Claim,
    price_per_gpu: f64,
    now: DateTime<Utc>,
) -> Result<Decision, CommandError> {
    if gpu_count > machine.gpu_count() {
        // More than the machine holds can never succeed: not the message clients retry.
        return Err(CommandError::GpuCountTooLarge {
            requested: gpu_count,
            max: machine.gpu_count(),
            gpu_type: machine.gpu_type_id.clone(),
        });
    }
    let Some(capture) = capture(state, machine, claim, gpu_count, Some(&pod.id)) else {
        let reason = busy_reason(state, machine, claim, gpu_count);
        debug!(pod_id = %pod.id, %reason, "resume refused");
        return Err(CommandError::HostGpusBusy {
            pod_id: pod.id.clone(),
            requested: gpu_count,
            free: state.free_gpus(machine).len() as u32,
            reason,
        });
    };
    let mut pod = pod.clone();
    pod.desired = DesiredStatus::Running;
    pod.gpu_count = gpu_count;
    pod.gpus = capture.gpus;
    pod.vcpu_count = machine.vcpus_for(gpu_count);
    pod.memory_in_gb = machine.memory_for(gpu_count);
    pod.price_per_gpu = price_per_gpu;
    pod.generation += 1;
    pod.last_started_at = Some(now);
    pod.last_status_change = StatusChange::new(StatusChange::RENTED, now);
    pod.preemption = None;
    Ok(with_preemptions(state, &capture.victims, claim, now, pod))
}

fn terminate(state: &State, owner: &UserId, pod_id: &PodId) -> Result<Decision, CommandError> {
    let pod = state
        .pod_of(owner, pod_id)
        .ok_or_else(|| CommandError::PodNotFoundToTerminate {
            pod_id: pod_id.clone(),
        })?;
    Ok((vec![Change::DeletePod(pod.id.clone())], Outcome::Terminated))
}

fn owned_pod<'s>(
    state: &'s State,
    owner: &UserId,
    pod_id: &PodId,
) -> Result<&'s Pod, CommandError> {
    state
        .pod_of(owner, pod_id)
        .ok_or_else(|| CommandError::PodNotFound {
            pod_id: pod_id.clone(),
        })
}

fn pod_machine<'s>(state: &'s State, pod: &Pod) -> Result<&'s Machine, CommandError> {
    // A pod whose machine was removed cannot start anywhere: its volume lives there.
    state
        .machine(&pod.machine_id)
        .ok_or_else(|| CommandError::HostGpusBusy {
            pod_id: pod.id.clone(),
            requested: pod.gpu_count,
            free: 0,
            reason: "the pod's machine is gone".to_string(),
        })
}

fn add_user(
    state: &State,
    name: String,
    access: KeyAccess,
    admin: bool,
    now: DateTime<Utc>,
) -> Result<Decision, CommandError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if !valid {
        return Err(CommandError::invalid(
            "name",
            "must be 1 to 64 letters, digits, '-', '_', '.' or '@'",
        ));
    }
    if state.user_by_name(&name).is_some() {
        return Err(CommandError::UserExists { name });
    }
    let user = User {
        id: UserId::generate(),
        email: if name.contains('@') {
            name.clone()
        } else {
            format!("{name}@podyard.local")
        },
        name,
        pub_key: String::new(),
        admin,
        created_at: now,
    };
    let (key_change, key) = new_key(&user.id, access, now);
    let changes = vec![Change::PutUser(user.clone()), key_change];
    Ok((changes, Outcome::UserAdded { user, key }))
}

fn add_api_key(
    state: &State,
    user_id: &UserId,
    access: KeyAccess,
    now: DateTime<Utc>,
) -> Result<Decision, CommandError> {
    if state.user(user_id).is_none() {
        return Err(CommandError::UserNotFound);
    }
    let (change, key) = new_key(user_id, access, now);
    Ok((vec![change], Outcome::KeyAdded { key }))
}

fn new_key(user_id: &UserId, access: KeyAccess, now: DateTime<Utc>) -> (Change, String) {
    let key = generate_key();
    let record = ApiKey {
        hash: hash_key(&key),
        user_id: user_id.clone(),
        access,
        created_at: now,
    };
    (Change::PutApiKey(record), key)
}

/// Stores a machine as its agent describes it. A running pod that holds a GPU the machine
/// no longer has (fewer emulated GPUs declared, a GPU gone) cannot run as allocated: it is
/// stopped, keeping its volume, with the reason in its last status change.
fn register_machine(
    state: &State,
    machine: Machine,
    now: DateTime<Utc>,
) -> Result<Decision, CommandError> {
    let present = |index: &u32| machine.gpus.iter().any(|g| g.index == *index);
    let mut changes = Vec::new();
    for pod in state.pods_on(&machine.id) {
        if pod.gpus.iter().all(present) {
            continue;
        }
        warn!(pod_id = %pod.id, machine_id = %machine.id,
            "pod stopped: its machine no longer has the GPUs it held");
        let mut pod = pod.clone();
        pod.desired = DesiredStatus::Exited;
        pod.gpus.clear();
        pod.last_status_change = StatusChange::new(StatusChange::GPUS_GONE, now);
        changes.push(Change::PutPod(pod));
    }
    changes.push(Change::PutMachine(machine));
    Ok((changes, Outcome::Done))
}

/// Keeps observations of the current start of running pods on the reporting machine; any
/// other report is late or misdirected and is dropped.
fn report(state: &State, machine_id: &MachineId, observations: Vec<Observation>) -> Decision {
    let changes = observations
        .into_iter()
        .filter(|o| {
            state.pod(&o.pod_id).is_some_and(|p| {
                &p.machine_id == machine_id && p.is_running() && p.generation == o.generation
            })
        })
        .filter(|o| state.observation(&o.pod_id) != Some(o))
        .map(Change::Observe)
        .collect();
    (changes, Outcome::Done)
}
