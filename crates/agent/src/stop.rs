//! Stopping a pod: its container gets SIGTERM, SIGKILL after the grace period, and is
//! removed with its disk. The pod volume stays; only `remove` deletes it.
//!
//! A container is stopped when its pod should not run or when it belongs to an older start
//! (generation) of the pod: a resumed pod always gets a fresh container.

use std::time::Duration;

use podyard_runtime::PodContainer;
use tracing::{info, warn};

use crate::error_chain;
use crate::runtime::Runtime;

/// Stops and removes each container, one after the other. A failure is logged and retried
/// on the next pass, since the container is still listed then.
pub(crate) async fn stop_containers<R: Runtime>(
    runtime: &R,
    containers: &[PodContainer],
    grace: Duration,
) {
    for container in containers {
        let pod_id = &container.pod_id;
        let generation = container.generation;
        info!(%pod_id, generation, "stopping container");
        match runtime.remove_container(container, grace).await {
            Ok(()) => info!(%pod_id, generation, "container removed"),
            Err(e) => warn!(%pod_id, generation, error = %error_chain(&e), "cannot stop pod"),
        }
    }
}
