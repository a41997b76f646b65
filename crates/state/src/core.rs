//! The state core: the single writer.
//!
//! Every mutation is a [`Command`] sent to one thread that owns the authoritative state.
//! For each batch of queued commands it decides each one against the state left by the
//! previous ones, commits all their changes to the store in one transaction (group
//! commit), then applies them to the read view and only then answers. Hence:
//! - no GPU is ever allocated twice: placement reads a state no one else writes;
//! - an acknowledged command is durable, and every read after the answer sees it;
//! - a failed commit answers every command of the batch with an error and reloads the
//!   state from the store, so memory never holds what the store does not.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use podyard_core::{Catalog, Change, Command, CommandError, Outcome};
use podyard_store::{LoadStateError, Store};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, info_span, warn};

use crate::execute::execute;
use crate::state::State;

/// Most commands decided and committed together.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<Outcome, CommandError>>;

struct Request {
    command: Command,
    reply: Reply,
}

#[derive(Debug, Error)]
pub enum StartStateCoreError {
    #[error("cannot load the stored state")]
    Load(#[from] LoadStateError),
    #[error("cannot start the state core thread")]
    Spawn(#[source] std::io::Error),
}

/// Handle to the state core; cheap to clone.
#[derive(Clone)]
pub struct StateCore {
    requests: mpsc::UnboundedSender<Request>,
    view: Arc<RwLock<State>>,
    /// Bumped after every commit that changed desired state; agents watch it.
    version: watch::Receiver<u64>,
    catalog: Arc<Catalog>,
}

impl StateCore {
    /// Loads the stored state and starts the writer thread.
    pub fn start<S: Store>(mut store: S, catalog: Catalog) -> Result<Self, StartStateCoreError> {
        let state = State::from_snapshot(store.load()?);
        if let Err(violation) = state.check_invariants() {
            warn!(%violation, "stored state breaks an invariant");
        }
        let view = Arc::new(RwLock::new(state.clone()));
        let (requests, receiver) = mpsc::unbounded_channel();
        let (version_tx, version) = watch::channel(0);
        let catalog = Arc::new(catalog);
        let writer = Writer {
            refusal_log: RateLimit::new(20, Duration::from_secs(10)),
            store,
            state,
            view: Arc::clone(&view),
            version: version_tx,
            catalog: Arc::clone(&catalog),
        };
        thread::Builder::new()
            .name("state-core".into())
            .spawn(move || writer.run(receiver))
            .map_err(StartStateCoreError::Spawn)?;
        Ok(Self {
            requests,
            view,
            version,
            catalog,
        })
    }

    /// Executes one command; returns once its effects are durable and visible to reads.
    pub async fn execute(&self, command: Command) -> Result<Outcome, CommandError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { command, reply })
            .map_err(|_| CommandError::Stopped)?;
        answer.await.map_err(|_| CommandError::Stopped)?
    }

    /// Runs `f` over the committed state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let guard = self
            .view
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&guard)
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// A receiver that changes whenever desired state changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.clone()
    }
}

struct Writer<S> {
    refusal_log: RateLimit,
    store: S,
    state: State,
    view: Arc<RwLock<State>>,
    version: watch::Sender<u64>,
    catalog: Arc<Catalog>,
}

impl<S: Store> Writer<S> {
    fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Request>) {
        while let Some(first) = receiver.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.run_batch(batch);
        }
        debug!("state core stopped: every handle is gone");
    }

    fn run_batch(&mut self, batch: Vec<Request>) {
        let now = Utc::now();
        let mut changes = Vec::new();
        let mut answers = Vec::with_capacity(batch.len());
        for Request { command, reply } in batch {
            let span = info_span!("command", name = command.name());
            let _entered = span.enter();
            let name = command.name();
            // A bug in one decision must not take the single writer down with it: the
            // decision is pure, so refusing that one command leaves the state intact.
            let decided = panic::catch_unwind(AssertUnwindSafe(|| {
                execute(&self.state, &self.catalog, command, now)
            }));
            let result = decided.unwrap_or_else(|_| {
                error!(command = name, "deciding a command panicked; it is refused");
                Err(CommandError::Bug { command: name })
            });
            let answer = result.map(|(decided, outcome)| {
                for change in &decided {
                    self.state.apply(change);
                }
                changes.extend(decided);
                outcome
            });
            if let Err(refusal) = &answer {
                self.log_refusal(refusal);
            }
            answers.push((reply, answer));
        }

        if let Err(failure) = self.store.commit(&changes) {
            error!(error = %failure, source = ?std::error::Error::source(&failure),
                "commit failed; the batch is refused");
            self.reload();
            let failure: Arc<dyn std::error::Error + Send + Sync> = Arc::new(failure);
            for (reply, answer) in answers {
                let answer = answer.and(Err(CommandError::Store(Arc::clone(&failure))));
                let _ = reply.send(answer);
            }
            return;
        }

        self.publish(&changes);
        for (reply, answer) in answers {
            // A client that went away still had its command done; nothing to tell it.
            let _ = reply.send(answer);
        }
    }

    /// Demand that could not be met is an operator's business, so it is logged at info with
    /// the reasons; tenants can trigger it at will, so at most a burst per interval.
    fn log_refusal(&mut self, refusal: &CommandError) {
        let reasons = match refusal {
            CommandError::NoCapacity { considered } => considered
                .iter()
                .map(|v| format!("{}: {}", v.machine_id, v.reason))
                .collect::<Vec<_>>()
                .join("; "),
            CommandError::HostGpusBusy { pod_id, reason, .. } => format!("{pod_id}: {reason}"),
            _ => {
                debug!(%refusal, "command refused");
                return;
            }
        };
        if let Some(suppressed) = self.refusal_log.admit(Instant::now()) {
            info!(%refusal, %reasons, suppressed, "no GPUs for a start");
        }
    }

    fn publish(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        {
            let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
            for change in changes {
                view.apply(change);
            }
        }
        if changes.iter().any(Change::is_durable) {
            self.version.send_modify(|v| *v += 1);
        }
    }

    /// After a failed commit, memory holds changes the store lacks: read the store again.
    fn reload(&mut self) {
        match self.store.load() {
            Ok(snapshot) => {
                self.state = State::from_snapshot(snapshot);
                let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
                *view = self.state.clone();
            }
            Err(failure) => {
                error!(error = %failure, "cannot reload the state after a failed commit");
                self.state = self.view.read().unwrap_or_else(|p| p.into_inner()).clone();
            }
        }
    }
}

/// Admits at most `burst` events per `interval`, and counts those it turned away.
struct RateLimit {
    burst: u32,
    interval: Duration,
    window_start: Option<Instant>,
    admitted: u32,
    suppressed: u64,
}

impl RateLimit {
    fn new(burst: u32, interval: Duration) -> Self {
        Self {
            burst,
            interval,
            window_start: None,
            admitted: 0,
            suppressed: 0,
        }
    }

    /// `Some(n)` if the event may be logged, `n` being how many were dropped before it.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        let expired = self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= self.interval);
        if expired {
            self.window_start = Some(now);
            self.admitted = 0;
        }
        if self.admitted >= self.burst {
            self.suppressed += 1;
            return None;
        }
        self.admitted += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_admits_a_burst_per_interval_and_counts_the_rest() {
        let mut limit = RateLimit::new(2, Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(limit.admit(start), Some(0));
        assert_eq!(limit.admit(start), Some(0));
        assert_eq!(limit.admit(start), None);
        assert_eq!(limit.admit(start), None);
        assert_eq!(limit.admit(start + Duration::from_secs(11)), Some(2));
    }
}
