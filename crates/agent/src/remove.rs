//! Removing a pod for good: once a pod is no longer assigned to this machine at all
//! (terminated), its volume and the data in it are deleted.
//!
//! Volumes are matched by their `podyard.pod-id` label, so a volume left behind by an agent
//! that stopped half-way is found and removed on a later pass.

use podyard_core::Assignment;
use podyard_runtime::RemoveVolumeError;
use tracing::{debug, info, warn};

use crate::error_chain;
use crate::runtime::Runtime;

/// Deletes every podyard volume whose pod is not among `assignments`.
pub(crate) async fn remove_orphan_volumes<R: Runtime>(runtime: &R, assignments: &[Assignment]) {
    let volumes = match runtime.list_volumes().await {
        Ok(volumes) => volumes,
        Err(e) => {
            warn!(error = %error_chain(&e), "cannot list pod volumes");
            return;
        }
    };
    let assigned = |pod_id| assignments.iter().any(|a| &a.pod_id == pod_id);
    for volume in volumes.iter().filter(|v| !assigned(&v.pod_id)) {
        let pod_id = &volume.pod_id;
        match runtime.remove_volume(volume).await {
            Ok(()) => info!(%pod_id, volume = volume.name, "volume removed"),
            // Its container is still being stopped; the next pass retries.
            Err(e @ RemoveVolumeError::InUse { .. }) => debug!(%pod_id, error = %e),
            Err(e) => warn!(%pod_id, error = %error_chain(&e), "cannot remove volume"),
        }
    }
}
