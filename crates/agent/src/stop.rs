//! Stopping a pod: its container gets SIGTERM, SIGKILL after the grace period, and is
//! removed with its disk. The pod volume stays; only `remove` deletes it.
//!
//! A container is stopped when its pod should not run or when it belongs to an older start
//! (generation) of the pod: a resumed pod always gets a fresh container.

use std::time::Duration;

use futures_util::future::join_all;
use podyard_runtime::PodContainer;
use tracing::{info, warn};

use crate::error_chain;
use crate::runtime::Runtime;

/// Stops and removes the containers, all at once so that each gets the same grace period
/// rather than waiting for the others. Returns those that could not be removed: they are
/// still listed on the next pass and retried then.
pub(crate) async fn stop_containers<'c, R: Runtime>(
    runtime: &R,
    containers: &'c [PodContainer],
    grace: Duration,
) -> Vec<&'c PodContainer> {
    let stops = containers.iter().map(|container| async move {
        let pod_id = &container.pod_id;
        let generation = container.generation;
        info!(%pod_id, generation, "stopping container");
        match runtime.remove_container(container, grace).await {
            Ok(()) => {
                info!(%pod_id, generation, "container removed");
                None
            }
            Err(e) => {
                warn!(%pod_id, generation, error = %error_chain(&e), "cannot stop pod");
                Some(container)
            }
        }
    });
    join_all(stops).await.into_iter().flatten().collect()
}
