//! Domain types of podyard, shared by every other crate.
//!
//! This crate owns the vocabulary of the system — pods, machines, GPU types, users, the
//! commands that change state and the errors that refuse them — and performs no I/O, so
//! that the scheduler, the state core and the API can be tested as plain functions.

pub mod assignment;
pub mod catalog;
pub mod change;
pub mod command;
pub mod error;
pub mod ids;
pub mod machine;
pub mod observation;
pub mod pod;
pub mod time;
pub mod user;

pub use assignment::{Assignment, ContainerSpec};
pub use catalog::{Catalog, GpuType};
pub use change::Change;
pub use command::{Command, CreatePod, Outcome};
pub use error::CommandError;
pub use ids::{MachineId, PodId, UserId};
pub use machine::{Gpu, Machine};
pub use observation::{ContainerState, GpuUse, Observation, PublishedPort};
pub use pod::{CloudType, DesiredStatus, EnvVar, EnvVarExt, Pod, PodType, PortSpec, StatusChange};
pub use user::{ApiKey, KeyAccess, User};
