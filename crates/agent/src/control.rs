//! The agent's view of the control plane: where assignments come from and where
//! observations go.
//!
//! A trait, because the same agent runs embedded in `podyard serve` (calling the state core
//! in process) and alone on another host (speaking HTTP); the agent must not care which.

use std::future::Future;

use podyard_core::{Assignment, MachineId, Observation};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ControlPlaneError {
    #[error("machine {machine_id} is not known to the control plane")]
    UnknownMachine { machine_id: MachineId },
    #[error("the control plane is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the control plane has shut down")]
    Closed,
}

pub trait ControlPlane: Send + Sync + 'static {
    /// All pods bound to this machine (running or stopped).
    fn assignments(
        &self,
        machine: &MachineId,
    ) -> impl Future<Output = Result<Vec<Assignment>, ControlPlaneError>> + Send;

    /// What the agent observed of every pod that should run, after one reconcile pass.
    fn report(
        &self,
        machine: &MachineId,
        observations: Vec<Observation>,
    ) -> impl Future<Output = Result<(), ControlPlaneError>> + Send;

    /// Resolves when the assignments may have changed (the agent also re-checks on a timer).
    fn changed(&self) -> impl Future<Output = ()> + Send;
}
