//! Why a command was refused. Messages marked (compat) are matched by real clients and
//! must stay exactly as they are; the API maps each variant to a stable code.

use thiserror::Error;

use crate::ids::{MachineId, PodId};

#[derive(Debug, Error)]
pub enum CommandError {
    /// Unknown id or another tenant's pod: the two are indistinguishable on purpose.
    #[error("pod \"{pod_id}\" not found")]
    PodNotFound { pod_id: PodId },

    /// (compat)
    #[error("pod not found to terminate")]
    PodNotFoundToTerminate { pod_id: PodId },

    /// (compat)
    #[error("There are not enough free GPUs on the host machine to start this pod.")]
    HostGpusBusy {
        pod_id: PodId,
        requested: u32,
        free: u32,
        /// What holds the GPUs, for the API's error extensions and the log.
        reason: String,
    },

    /// (compat) Clients retry on this message, so it means "transient" only.
    #[error(
        "There are no longer any instances available with the requested specifications. \
         Please refresh and try again."
    )]
    NoCapacity {
        /// Every machine considered and what ruled it out.
        considered: Vec<MachineVerdict>,
    },

    /// (compat)
    #[error("Cannot resume a spot pod as an on demand pod.")]
    SpotResumedOnDemand { pod_id: PodId },

    #[error("cannot resume an on-demand pod as a spot pod; use podResume")]
    OnDemandResumedAsSpot { pod_id: PodId },

    #[error("unknown GPU type {id:?}{}", did_you_mean(.close))]
    UnknownGpuType { id: String, close: Vec<String> },

    #[error(
        "gpuCount {requested} is more than any machine with {gpu_type} holds \
         (at most {max} per pod)"
    )]
    GpuCountTooLarge {
        requested: u32,
        max: u32,
        gpu_type: String,
    },

    #[error("bid of ${bid}/GPU/hr for {gpu_type} is below the minimum bid of ${minimum}/GPU/hr")]
    BidTooLow {
        bid: f64,
        minimum: f64,
        gpu_type: String,
    },

    #[error(
        "bid of ${bid}/GPU/hr for {gpu_type} must be below the on-demand price of \
         ${on_demand}/GPU/hr; rent an on-demand pod instead"
    )]
    BidTooHigh {
        bid: f64,
        on_demand: f64,
        gpu_type: String,
    },

    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },

    #[error("user {name:?} already exists")]
    UserExists { name: String },

    #[error("user not found")]
    UserNotFound,

    /// The store failed; nothing was changed.
    #[error("the state store failed")]
    Store(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),

    #[error("the state core has stopped")]
    Stopped,

    /// Deciding the command panicked: a bug. Nothing was changed, and the state core goes
    /// on with the next command.
    #[error("the server failed while deciding a {command} command")]
    Bug { command: &'static str },
}

/// What ruled one machine out of a placement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineVerdict {
    pub machine_id: MachineId,
    pub reason: String,
}

impl MachineVerdict {
    pub fn new(machine: &crate::Machine, reason: impl Into<String>) -> Self {
        Self {
            machine_id: machine.id.clone(),
            reason: reason.into(),
        }
    }
}

fn did_you_mean(close: &[String]) -> String {
    if close.is_empty() {
        "; list valid ids with the gpuTypes query".to_string()
    } else {
        let quoted: Vec<String> = close.iter().map(|id| format!("{id:?}")).collect();
        format!("; did you mean {}?", quoted.join(", "))
    }
}

impl CommandError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        CommandError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_gpu_type_names_close_ids() {
        let e = CommandError::UnknownGpuType {
            id: "RTX 4090".into(),
            close: vec!["NVIDIA GeForce RTX 4090".into()],
        };
        assert_eq!(
            e.to_string(),
            "unknown GPU type \"RTX 4090\"; did you mean \"NVIDIA GeForce RTX 4090\"?"
        );
    }
}
