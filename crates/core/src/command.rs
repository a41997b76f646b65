//! Commands: every mutation of state, as one enum. The API turns each mutation into one
//! variant; the state core executes them one at a time.

use crate::ids::{MachineId, PodId, UserId};
use crate::machine::Machine;
use crate::observation::Observation;
use crate::pod::{CloudType, EnvVar, Pod, PortSpec};
use crate::user::{KeyAccess, User};

/// A create request after the API has applied defaults and parsed strings.
#[derive(Clone, Debug, PartialEq)]
pub struct CreatePod {
    pub name: String,
    pub image_name: String,
    /// Acceptable GPU types; empty means any.
    pub gpu_type_ids: Vec<String>,
    pub gpu_count: u32,
    pub cloud_type: CloudType,
    pub data_center_id: Option<String>,
    pub country_code: Option<String>,
    pub container_disk_in_gb: u32,
    pub volume_in_gb: u32,
    pub volume_mount_path: String,
    pub ports: Vec<PortSpec>,
    pub env: Vec<EnvVar>,
    pub docker_args: String,
    pub min_vcpu_count: u32,
    pub min_memory_in_gb: u32,
    pub support_public_ip: bool,
    pub start_ssh: bool,
    /// Acceptable CUDA versions of the machine's driver; empty means any.
    pub cuda_versions: Vec<String>,
    /// `Some` makes a spot pod bidding this much per GPU-hour.
    pub bid_per_gpu: Option<f64>,
}

impl CreatePod {
    pub const DEFAULT_CONTAINER_DISK_IN_GB: u32 = 20;

    /// A request with the documented defaults for everything but the image and GPU type.
    pub fn new(image_name: impl Into<String>, gpu_type_id: impl Into<String>) -> Self {
        Self {
            name: String::new(),
            image_name: image_name.into(),
            gpu_type_ids: vec![gpu_type_id.into()],
            gpu_count: 1,
            cloud_type: CloudType::All,
            data_center_id: None,
            country_code: None,
            container_disk_in_gb: Self::DEFAULT_CONTAINER_DISK_IN_GB,
            volume_in_gb: 0,
            volume_mount_path: "/workspace".to_string(),
            ports: Vec::new(),
            env: Vec::new(),
            docker_args: String::new(),
            min_vcpu_count: 0,
            min_memory_in_gb: 0,
            support_public_ip: false,
            start_ssh: false,
            cuda_versions: Vec::new(),
            bid_per_gpu: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    CreatePod {
        owner: UserId,
        request: Box<CreatePod>,
    },
    StopPod {
        owner: UserId,
        pod_id: PodId,
    },
    ResumePod {
        owner: UserId,
        pod_id: PodId,
        gpu_count: Option<u32>,
    },
    BidResumePod {
        owner: UserId,
        pod_id: PodId,
        bid_per_gpu: f64,
        gpu_count: u32,
    },
    TerminatePod {
        owner: UserId,
        pod_id: PodId,
    },
    /// Creates a user with one key of the given access.
    AddUser {
        name: String,
        access: KeyAccess,
        /// Whether the user may add users (the operator's own user).
        admin: bool,
    },
    /// Adds a key to an existing user.
    AddApiKey {
        user_id: UserId,
        access: KeyAccess,
    },
    /// An agent announces its machine (at every start: GPUs may have changed).
    RegisterMachine {
        machine: Machine,
    },
    /// An agent reports what it sees; not stored.
    ReportObservations {
        machine_id: MachineId,
        observations: Vec<Observation>,
    },
}

impl Command {
    /// Name of the command for logs and spans.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreatePod { .. } => "create_pod",
            Command::StopPod { .. } => "stop_pod",
            Command::ResumePod { .. } => "resume_pod",
            Command::BidResumePod { .. } => "bid_resume_pod",
            Command::TerminatePod { .. } => "terminate_pod",
            Command::AddUser { .. } => "add_user",
            Command::AddApiKey { .. } => "add_api_key",
            Command::RegisterMachine { .. } => "register_machine",
            Command::ReportObservations { .. } => "report_observations",
        }
    }
}

/// What a successful command answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pod(Box<Pod>),
    Terminated,
    /// A new user and the plain text of its first key (shown once, never stored).
    UserAdded {
        user: User,
        key: String,
    },
    KeyAdded {
        key: String,
    },
    Done,
}
