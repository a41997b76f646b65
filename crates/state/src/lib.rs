//! The state core of the control plane: the single writer that validates, places, commits,
//! applies and answers, with the scheduler that places pods and the stock figures computed
//! from the same inventory.

pub mod assign;
mod core;
pub mod execute;
pub mod market;
pub mod scheduler;
pub mod state;
pub mod stock;

pub use crate::core::{StartStateCoreError, StateCore};
pub use state::State;
