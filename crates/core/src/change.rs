//! Changes: the effects of a command, applied to the store and then to memory in the same
//! order, so that both always hold the same state.

use crate::ids::PodId;
use crate::machine::Machine;
use crate::observation::Observation;
use crate::pod::Pod;
use crate::user::{ApiKey, User};

#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    PutUser(User),
    PutApiKey(ApiKey),
    PutMachine(Machine),
    PutPod(Pod),
    DeletePod(PodId),
    /// Observed state; kept in memory only.
    Observe(Observation),
}

impl Change {
    /// Whether the change must reach the store before it is acknowledged.
    pub fn is_durable(&self) -> bool {
        !matches!(self, Change::Observe(_))
    }
}
