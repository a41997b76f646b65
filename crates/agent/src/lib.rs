//! The host agent: makes the containers on one machine match the pods the control plane
//! assigned to it, and reports what it sees.
//!
//! The agent is level-triggered: each pass reads the full list of assignments and the
//! full list of podyard containers and volumes, and acts on the difference. It keeps no
//! state worth losing, so it may be restarted at any point. The same agent runs embedded
//! in `podyard serve` and alone on another host; only the `ControlPlane` differs.
//!
//! One file per thing the agent does to a pod: `start`, `stop` (container removed, volume
//! kept) and `remove` (volume deleted), with `reconcile` deciding which.

mod control;
mod observe;
mod reconcile;
mod remove;
mod runtime;
mod start;
mod stop;

use std::error::Error;
use std::future::Future;
use std::time::Duration;

use podyard_core::MachineId;
use podyard_runtime::{GpuSampler, ListContainersError};
use thiserror::Error;
use tracing::{debug, info, warn};

pub use control::{ControlPlane, ControlPlaneError};
pub use reconcile::Reconciler;
pub use runtime::Runtime;
pub use start::StartPodError;

/// How long a container gets between SIGTERM and SIGKILL unless configured otherwise.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);
/// How often the agent reconciles when nothing tells it that assignments changed.
pub const DEFAULT_TICK: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub machine_id: MachineId,
    /// The address clients reach published ports on, reported in `runtime.ports`.
    pub advertised_ip: String,
    /// Whether the operator declared that address public (`isIpPublic`).
    pub ip_is_public: bool,
    pub stop_grace: Duration,
    pub tick: Duration,
}

impl AgentConfig {
    /// A configuration with the default grace period and tick.
    pub fn new(machine_id: MachineId, advertised_ip: impl Into<String>) -> Self {
        Self {
            machine_id,
            advertised_ip: advertised_ip.into(),
            ip_is_public: false,
            stop_grace: DEFAULT_STOP_GRACE,
            tick: DEFAULT_TICK,
        }
    }
}

/// Why one pass of the agent did not complete.
#[derive(Debug, Error)]
pub enum PassError {
    #[error("cannot fetch the assignments of machine {machine_id}")]
    Assignments {
        machine_id: MachineId,
        #[source]
        source: ControlPlaneError,
    },
    #[error("cannot read the containers of machine {machine_id}")]
    Containers {
        machine_id: MachineId,
        #[source]
        source: ListContainersError,
    },
    #[error("cannot report the observations of machine {machine_id}")]
    Report {
        machine_id: MachineId,
        #[source]
        source: ControlPlaneError,
    },
}

/// The agent of one machine.
pub struct Agent<C, R> {
    control: C,
    reconciler: Reconciler<R>,
}

impl<C: ControlPlane, R: Runtime> Agent<C, R> {
    pub fn new(config: AgentConfig, control: C, runtime: R, gpus: GpuSampler) -> Self {
        Self {
            control,
            reconciler: Reconciler::new(config, runtime, gpus),
        }
    }

    /// Reconciles until `shutdown` resolves: at once, then whenever the control plane says
    /// assignments changed, and at least every tick. Containers keep running after the
    /// agent stops; the next agent adopts them.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) {
        let machine_id = self.reconciler.config().machine_id.clone();
        info!(%machine_id, "agent started");
        tokio::pin!(shutdown);
        let mut trouble: Option<String> = None;
        loop {
            let outcome = self.pass().await;
            note_outcome(&mut trouble, outcome);
            let tick = self.reconciler.config().tick;
            tokio::select! {
                () = &mut shutdown => break,
                () = self.control.changed() => {}
                () = self.reconciler.stopped() => {}
                () = tokio::time::sleep(tick) => {}
            }
        }
        info!(%machine_id, "agent stopped");
    }

    /// One pass: fetch assignments, reconcile, report.
    pub async fn pass(&mut self) -> Result<(), PassError> {
        let machine_id = self.reconciler.config().machine_id.clone();
        let assignments = match self.control.assignments(&machine_id).await {
            Ok(assignments) => assignments,
            Err(source) => return Err(PassError::Assignments { machine_id, source }),
        };
        let observations = match self.reconciler.reconcile(&assignments).await {
            Ok(observations) => observations,
            Err(source) => return Err(PassError::Containers { machine_id, source }),
        };
        match self.control.report(&machine_id, observations).await {
            Ok(()) => Ok(()),
            Err(source) => Err(PassError::Report { machine_id, source }),
        }
    }
}

/// Logs a failing pass once at warn while the same trouble lasts, and its end at info, so
/// that a control plane or Docker outage does not flood the log every tick.
fn note_outcome(trouble: &mut Option<String>, outcome: Result<(), PassError>) {
    match outcome {
        Ok(()) => {
            if trouble.take().is_some() {
                info!("agent passes succeed again");
            }
        }
        Err(e) => {
            let text = error_chain(&e);
            if trouble.as_deref() == Some(text.as_str()) {
                debug!(error = %text, "agent pass failed again");
            } else {
                warn!(error = %text, "agent pass failed");
                *trouble = Some(text);
            }
        }
    }
}

/// An error and its causes on one line, `outer: inner: root`, for logs and reports.
pub(crate) fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod fake;
