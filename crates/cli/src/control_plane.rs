//! The agent's control plane when the agent is built into `podyard serve`: the state core
//! itself, called in process.

use podyard_agent::{ControlPlane, ControlPlaneError};
use podyard_core::{Assignment, Command, MachineId, Observation};
use podyard_state::assign::assignments;
use podyard_state::StateCore;
use tokio::sync::{watch, Mutex};

pub struct LocalControlPlane {
    core: StateCore,
    changes: Mutex<watch::Receiver<u64>>,
}

impl LocalControlPlane {
    pub fn new(core: StateCore) -> Self {
        let changes = Mutex::new(core.subscribe());
        Self { core, changes }
    }
}

impl ControlPlane for LocalControlPlane {
    async fn assignments(&self, machine: &MachineId) -> Result<Vec<Assignment>, ControlPlaneError> {
        if self.core.read(|state| state.machine(machine).is_none()) {
            return Err(ControlPlaneError::UnknownMachine {
                machine_id: machine.clone(),
            });
        }
        Ok(self.core.read(|state| assignments(state, machine)))
    }

    async fn report(
        &self,
        machine: &MachineId,
        observations: Vec<Observation>,
    ) -> Result<(), ControlPlaneError> {
        let command = Command::ReportObservations {
            machine_id: machine.clone(),
            observations,
        };
        self.core
            .execute(command)
            .await
            .map(drop)
            .map_err(|e| ControlPlaneError::Unavailable(Box::new(e)))
    }

    async fn changed(&self) {
        let mut changes = self.changes.lock().await;
        if changes.changed().await.is_err() {
            // The state core is gone; the agent's shutdown future ends the loop.
            std::future::pending::<()>().await;
        }
    }
}
