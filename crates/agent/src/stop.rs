//! Stopping a pod: its container gets SIGTERM, SIGKILL after the grace period, and is
//! removed with its disk. The pod volume stays; only `remove` deletes it.
//!
//! A container is stopped when its pod should not run or when it belongs to an older start
//! (generation) of the pod: a resumed pod always gets a fresh container.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use podyard_runtime::PodContainer;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::error_chain;
use crate::runtime::Runtime;

/// Containers being stopped in the background. A stop can take the whole grace period, so
/// it must not hold up the rest of a pass: other pods start meanwhile, and the agent is
/// woken for another pass as soon as a stop ends.
#[derive(Clone, Default)]
pub(crate) struct Stopper {
    in_flight: Arc<Mutex<HashSet<String>>>,
    done: Arc<Notify>,
}

impl Stopper {
    /// Starts stopping each container that is not being stopped already.
    pub fn stop<R: Runtime>(&self, runtime: &Arc<R>, containers: &[PodContainer], grace: Duration) {
        for container in containers {
            let fresh = self.lock().insert(container.id.clone());
            if !fresh {
                continue;
            }
            let (runtime, stopper, container) =
                (Arc::clone(runtime), self.clone(), container.clone());
            tokio::spawn(async move {
                stop_one(runtime.as_ref(), &container, grace).await;
                stopper.lock().remove(&container.id);
                stopper.done.notify_one();
            });
        }
    }

    /// Resolves when a stop has ended since the last call (or one ended unobserved).
    pub async fn stopped(&self) {
        self.done.notified().await;
    }

    /// Whether no stop is in flight.
    pub fn idle(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stops and removes one container. A failure is logged; the container is still listed on
/// the next pass and its stop is tried again then.
async fn stop_one<R: Runtime>(runtime: &R, container: &PodContainer, grace: Duration) {
    let pod_id = &container.pod_id;
    let generation = container.generation;
    info!(%pod_id, generation, "stopping container");
    match runtime.remove_container(container, grace).await {
        Ok(()) => info!(%pod_id, generation, "container removed"),
        Err(e) => warn!(%pod_id, generation, error = %error_chain(&e), "cannot stop pod"),
    }
}
