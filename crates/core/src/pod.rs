//! Pods: GPU containers rented by a user, bound to one machine for their whole life.
//!
//! A pod record is the desired side: what the user asked for and which GPUs it holds. What
//! the agent sees of its container lives in [`crate::observation`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{MachineId, PodId, UserId};
use crate::time::js_date_string;

/// On-demand (`RESERVED`) or spot (`INTERRUPTABLE`), RunPod's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodType {
    Reserved,
    Interruptable,
}

/// What the user wants the pod to be doing. Terminated pods are deleted, not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DesiredStatus {
    Running,
    Exited,
}

/// Which cloud a create may land in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloudType {
    All,
    Secure,
    Community,
}

impl CloudType {
    pub fn admits(self, secure_cloud: bool) -> bool {
        match self {
            CloudType::All => true,
            CloudType::Secure => secure_cloud,
            CloudType::Community => !secure_cloud,
        }
    }
}

/// The last lifecycle event of a pod, shown as `"<event>: <date>"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub event: String,
    pub at: DateTime<Utc>,
}

impl StatusChange {
    pub const RENTED: &'static str = "Rented by User";
    pub const EXITED: &'static str = "Exited by user";
    pub const OUTBID: &'static str = "Outbid";
    pub const GPUS_GONE: &'static str = "Exited: the machine no longer has its GPUs";

    pub fn new(event: &str, at: DateTime<Utc>) -> Self {
        Self {
            event: event.to_string(),
            at,
        }
    }
}

impl fmt::Display for StatusChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.event, js_date_string(self.at))
    }
}

/// Transport protocol of an exposed port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortProtocol {
    Http,
    Tcp,
    Udp,
}

impl PortProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            PortProtocol::Http => "http",
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
        }
    }
}

/// One entry of `ports`, e.g. `8888/http`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub port: u16,
    pub protocol: PortProtocol,
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol.as_str())
    }
}

impl FromStr for PortSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (port, protocol) = s
            .split_once('/')
            .ok_or_else(|| format!("port {s:?} must look like 8888/http or 22/tcp"))?;
        let port: u16 = port
            .trim()
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("port {s:?} must be a number from 1 to 65535"))?;
        let protocol = match protocol.trim().to_ascii_lowercase().as_str() {
            "http" => PortProtocol::Http,
            "tcp" => PortProtocol::Tcp,
            "udp" => PortProtocol::Udp,
            other => return Err(format!("port protocol {other:?} must be http, tcp or udp")),
        };
        Ok(PortSpec { port, protocol })
    }
}

/// Bounds on what one pod may ask for, so that no request makes the state core or the
/// agent do unbounded work.
pub mod limits {
    pub const MAX_ENV_VARS: usize = 256;
    pub const MAX_ENV_KEY_BYTES: usize = 256;
    pub const MAX_ENV_VALUE_BYTES: usize = 32 * 1024;
    pub const MAX_PORTS: usize = 64;
    pub const MAX_NAME_BYTES: usize = 256;
    pub const MAX_IMAGE_BYTES: usize = 1024;
    pub const MAX_PATH_BYTES: usize = 1024;
    pub const MAX_DOCKER_ARGS_BYTES: usize = 16 * 1024;
    pub const MAX_DISK_GB: u32 = 1_000_000;
    pub const MAX_GPU_TYPES: usize = 64;
}

/// Parses RunPod's one-string port list, `"8888/http,22/tcp"`; spaces around commas and an
/// empty string (no ports) are accepted.
pub fn parse_ports(s: &str) -> Result<Vec<PortSpec>, String> {
    let parts: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() > limits::MAX_PORTS {
        return Err(format!("at most {} ports", limits::MAX_PORTS));
    }
    let mut ports: Vec<PortSpec> = Vec::with_capacity(parts.len());
    let mut seen = std::collections::HashSet::new();
    for part in parts {
        let spec: PortSpec = part.parse()?;
        // http and tcp share the host's TCP port; udp is separate.
        let udp = spec.protocol == PortProtocol::Udp;
        if !seen.insert((spec.port, udp)) {
            return Err(format!("port {} is listed twice", spec.port));
        }
        ports.push(spec);
    }
    Ok(ports)
}

/// Formats ports the way RunPod returns them.
pub fn format_ports(ports: &[PortSpec]) -> String {
    ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One environment variable; values reach the container byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub key: String,
    pub value: String,
}

impl EnvVar {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Operations on an env list.
pub trait EnvVarExt {
    /// The value of `key`, if set.
    fn get(&self, key: &str) -> Option<&str>;
    /// Appends `key=value` unless `key` is already set.
    fn set_default(&mut self, key: &str, value: String);
}

impl EnvVarExt for Vec<EnvVar> {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|v| v.key == key).map(|v| v.value.as_str())
    }

    fn set_default(&mut self, key: &str, value: String) {
        if EnvVarExt::get(self, key).is_none() {
            self.push(EnvVar::new(key, value));
        }
    }
}

/// Checks an env list: keys are non-empty, hold no `=` and no NUL, and are unique; values
/// hold no NUL (the one byte a process environment cannot carry).
pub fn validate_env(env: &[EnvVar]) -> Result<(), String> {
    if env.len() > limits::MAX_ENV_VARS {
        return Err(format!("at most {} variables", limits::MAX_ENV_VARS));
    }
    let mut seen = std::collections::HashSet::with_capacity(env.len());
    for var in env {
        if var.key.is_empty() {
            return Err("env keys must not be empty".to_string());
        }
        if var.key.len() > limits::MAX_ENV_KEY_BYTES {
            return Err(format!(
                "env keys are at most {} bytes",
                limits::MAX_ENV_KEY_BYTES
            ));
        }
        if var.key.contains('=') || var.key.contains('\0') {
            return Err(format!("env key {:?} must not contain '=' or NUL", var.key));
        }
        if var.value.len() > limits::MAX_ENV_VALUE_BYTES {
            return Err(format!(
                "env value of {:?} is over {} bytes",
                var.key,
                limits::MAX_ENV_VALUE_BYTES
            ));
        }
        if var.value.contains('\0') {
            return Err(format!("env value of {:?} must not contain NUL", var.key));
        }
        if !seen.insert(var.key.as_str()) {
            return Err(format!("env key {:?} is given twice", var.key));
        }
    }
    Ok(())
}

/// A pod as stored: the desired side of one rented container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pod {
    pub id: PodId,
    pub owner: UserId,
    pub name: String,
    pub pod_type: PodType,
    pub desired: DesiredStatus,
    pub last_status_change: StatusChange,
    pub image_name: String,
    /// Replaces the image's command when not empty.
    pub docker_args: String,
    pub env: Vec<EnvVar>,
    pub ports: Vec<PortSpec>,
    /// GPUs asked for at the last create or resume; kept while the pod is stopped so that a
    /// resume without a count gets the same number again.
    pub gpu_count: u32,
    pub machine_id: MachineId,
    /// Indices of the machine's GPUs held now; empty unless the pod is running.
    pub gpus: Vec<u32>,
    pub vcpu_count: u32,
    pub memory_in_gb: u32,
    pub container_disk_in_gb: u32,
    pub volume_in_gb: u32,
    pub volume_mount_path: String,
    /// Price per GPU-hour: the on-demand price at placement, or the bid of a spot pod.
    pub price_per_gpu: f64,
    pub start_ssh: bool,
    pub created_at: DateTime<Utc>,
    pub last_started_at: Option<DateTime<Utc>>,
    /// Bumped at every start; the agent labels containers with it so that a container of an
    /// earlier start is never mistaken for the current one.
    pub generation: u64,
    /// Why the pod was last preempted; cleared when it starts again.
    #[serde(default)]
    pub preemption: Option<Preemption>,
}

/// What displaced a spot pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preemption {
    pub at: DateTime<Utc>,
    /// The preempted pod's bid per GPU-hour.
    pub bid: f64,
    /// The bid per GPU-hour that displaced it; `None` when an on-demand pod did.
    pub by_bid: Option<f64>,
}

impl fmt::Display for Preemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.by_bid {
            Some(by) => write!(
                f,
                "outbid: a spot bid of ${by}/GPU/hr needed the GPUs held at this pod's bid of \
                 ${}/GPU/hr",
                self.bid
            ),
            None => write!(
                f,
                "preempted: an on-demand pod needed the GPUs held at this pod's bid of \
                 ${}/GPU/hr; spot pods never keep GPUs from on-demand pods",
                self.bid
            ),
        }
    }
}

impl Pod {
    pub fn is_running(&self) -> bool {
        self.desired == DesiredStatus::Running
    }

    pub fn is_spot(&self) -> bool {
        self.pod_type == PodType::Interruptable
    }

    /// What the pod costs per hour now: its GPUs at its price while it runs, nothing while
    /// it is stopped.
    pub fn cost_per_hr(&self) -> f64 {
        if self.is_running() {
            round_cents(self.price_per_gpu * f64::from(self.gpu_count))
        } else {
            0.0
        }
    }

    /// The bid per GPU of a spot pod.
    pub fn bid_per_gpu(&self) -> Option<f64> {
        self.is_spot().then_some(self.price_per_gpu)
    }

    /// `podHostId`: `<podId>-<8 hex of the machine>`.
    pub fn host_id(&self, host_hex: &str) -> String {
        format!("{}-{}", self.id, host_hex)
    }
}

/// Rounds a dollar amount to a thousandth of a cent, so that products of prices and counts
/// print as clients expect (`0.4`, not `0.39999999999999997`).
pub fn round_cents(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_with_spaces_and_format_back() {
        let ports = parse_ports("8888/http , 22/tcp").unwrap();
        assert_eq!(format_ports(&ports), "8888/http,22/tcp");
        assert!(parse_ports("").unwrap().is_empty());
    }

    #[test]
    fn bad_ports_are_refused_with_the_offending_entry() {
        assert!(parse_ports("8888").unwrap_err().contains("8888"));
        assert!(parse_ports("0/tcp").is_err());
        assert!(parse_ports("22/sctp").unwrap_err().contains("sctp"));
        assert!(parse_ports("22/tcp,22/http").unwrap_err().contains("twice"));
        assert_eq!(parse_ports("53/tcp,53/udp").unwrap().len(), 2);
        let many: Vec<String> = (1..=65).map(|p| format!("{p}/tcp")).collect();
        assert!(parse_ports(&many.join(","))
            .unwrap_err()
            .contains("at most"));
    }

    #[test]
    fn env_keys_must_be_valid_and_unique() {
        assert!(validate_env(&[EnvVar::new("A", "x=y\n\"'\\ü")]).is_ok());
        assert!(validate_env(&[EnvVar::new("", "x")]).is_err());
        assert!(validate_env(&[EnvVar::new("A=B", "x")]).is_err());
        assert!(validate_env(&[EnvVar::new("A", "1"), EnvVar::new("A", "2")]).is_err());
    }

    #[test]
    fn cost_is_rounded_product_while_running() {
        assert_eq!(round_cents(0.2 * 3.0), 0.6);
        assert_eq!(round_cents(0.1 * 3.0), 0.3);
    }
}
