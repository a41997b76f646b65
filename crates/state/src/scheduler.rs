//! Placement: which machine and which GPUs a new pod gets.
//!
//! One set of filters ([`Filters`]) serves both placement and the stock figures of
//! `lowestPrice`, so that what is reported available is exactly what a create with the same
//! filters can allocate. Among the machines that pass, the cheapest wins; ties go to the
//! machine with the most GPUs already in use (bin-packing keeps whole machines free for
//! large pods), then to the lowest machine id, so the choice is deterministic.

use podyard_core::command::CreatePod;
use podyard_core::pod::round_cents;
use podyard_core::{Catalog, CloudType, CommandError, GpuType, Machine, MachineId};

use crate::state::State;

/// What a request asks of a machine, independent of price.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Acceptable GPU types; empty means any.
    pub gpu_type_ids: Vec<String>,
    pub gpu_count: u32,
    pub cloud_type: Option<CloudType>,
    pub data_center_id: Option<String>,
    pub country_code: Option<String>,
    pub min_vcpu_count: u32,
    pub min_memory_in_gb: u32,
    pub min_disk_in_gb: u32,
    pub support_public_ip: bool,
    pub cuda_versions: Vec<String>,
}

impl Filters {
    pub fn from_request(request: &CreatePod) -> Self {
        Self {
            gpu_type_ids: request.gpu_type_ids.clone(),
            gpu_count: request.gpu_count,
            cloud_type: Some(request.cloud_type),
            data_center_id: request.data_center_id.clone(),
            country_code: request.country_code.clone(),
            min_vcpu_count: request.min_vcpu_count,
            min_memory_in_gb: request.min_memory_in_gb,
            min_disk_in_gb: request.container_disk_in_gb + request.volume_in_gb,
            support_public_ip: request.support_public_ip,
            cuda_versions: request.cuda_versions.clone(),
        }
    }

    /// Whether `machine` could ever hold such a pod, ignoring what is in use now.
    pub fn admits(&self, machine: &Machine) -> bool {
        let cuda_ok = self.cuda_versions.is_empty()
            || machine
                .cuda_version
                .as_ref()
                .is_none_or(|v| self.cuda_versions.contains(v));
        (self.gpu_type_ids.is_empty() || self.gpu_type_ids.contains(&machine.gpu_type_id))
            && self
                .cloud_type
                .is_none_or(|c| c.admits(machine.secure_cloud))
            && self
                .data_center_id
                .as_ref()
                .is_none_or(|dc| dc == &machine.data_center_id)
            && self
                .country_code
                .as_ref()
                .is_none_or(|cc| cc.eq_ignore_ascii_case(&machine.country_code))
            && machine.gpu_count() >= self.gpu_count
            && machine.vcpus_for(self.gpu_count) >= self.min_vcpu_count
            && machine.memory_for(self.gpu_count) >= self.min_memory_in_gb
            && machine.disk_in_gb >= self.min_disk_in_gb
            && (!self.support_public_ip || machine.public_ip.is_some())
            && cuda_ok
    }
}

/// Where a new pod goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub machine_id: MachineId,
    pub gpus: Vec<u32>,
    pub price_per_gpu: f64,
}

/// Refuses GPU type ids the catalog does not know, naming close valid ones.
pub fn check_gpu_types(catalog: &Catalog, ids: &[String]) -> Result<(), CommandError> {
    match ids.iter().find(|id| catalog.get(id).is_none()) {
        Some(id) => Err(CommandError::UnknownGpuType {
            id: id.clone(),
            close: catalog.close_ids(id),
        }),
        None => Ok(()),
    }
}

/// Chooses a machine and GPUs for `request`, or says why none fits.
pub fn place(
    state: &State,
    catalog: &Catalog,
    request: &CreatePod,
) -> Result<Placement, CommandError> {
    check_gpu_types(catalog, &request.gpu_type_ids)?;
    check_gpu_count(state, &request.gpu_type_ids, request.gpu_count)?;

    let filters = Filters::from_request(request);
    let mut bid_refusal = None;
    let mut bid_fits_somewhere = false;
    let mut best: Option<(f64, u32, &Machine, Vec<u32>, f64)> = None;
    for machine in state.machines().filter(|m| filters.admits(m)) {
        let Some(gpu_type) = catalog.get(&machine.gpu_type_id) else {
            continue;
        };
        // The bid is judged before capacity: a bid below the floor is wrong whether or
        // not GPUs are free, and saying so beats a capacity error the client retries.
        let price = match request.bid_per_gpu {
            Some(bid) => match check_bid(gpu_type, machine.secure_cloud, bid) {
                Ok(()) => bid,
                Err(refusal) => {
                    bid_refusal.get_or_insert(refusal);
                    continue;
                }
            },
            None => gpu_type.on_demand_price(machine.secure_cloud),
        };
        bid_fits_somewhere = true;
        let free = state.free_gpus(machine);
        if (free.len() as u32) < request.gpu_count {
            continue;
        }
        let cost = round_cents(price * f64::from(request.gpu_count));
        let used = state.used_gpu_count(&machine.id);
        let better = best
            .as_ref()
            .is_none_or(|(best_cost, best_used, best_m, _, _)| {
                (cost, std::cmp::Reverse(used), &machine.id)
                    < (*best_cost, std::cmp::Reverse(*best_used), &best_m.id)
            });
        if better {
            let gpus = free[..request.gpu_count as usize].to_vec();
            best = Some((cost, used, machine, gpus, price));
        }
    }

    match (best, bid_refusal) {
        (Some((_, _, machine, gpus, price_per_gpu)), _) => Ok(Placement {
            machine_id: machine.id.clone(),
            gpus,
            price_per_gpu,
        }),
        (None, Some(refusal)) if !bid_fits_somewhere => Err(refusal),
        (None, _) => Err(CommandError::NoCapacity),
    }
}

/// A request for more GPUs than any machine of the wanted types holds can never succeed:
/// say so, instead of the capacity message that clients retry.
fn check_gpu_count(state: &State, ids: &[String], count: u32) -> Result<(), CommandError> {
    let max = state
        .machines()
        .filter(|m| ids.is_empty() || ids.contains(&m.gpu_type_id))
        .map(Machine::gpu_count)
        .max()
        .unwrap_or(0);
    if max > 0 && count > max {
        return Err(CommandError::GpuCountTooLarge {
            requested: count,
            max,
            gpu_type: if ids.is_empty() {
                "any GPU type".to_string()
            } else {
                ids.join(" or ")
            },
        });
    }
    Ok(())
}

/// A bid must lie in `[floor, on-demand price)` of the machine's cloud.
pub fn check_bid(gpu_type: &GpuType, secure_cloud: bool, bid: f64) -> Result<(), CommandError> {
    let floor = gpu_type.spot_floor(secure_cloud);
    let on_demand = gpu_type.on_demand_price(secure_cloud);
    if bid < floor {
        return Err(CommandError::BidTooLow {
            bid,
            minimum: floor,
            gpu_type: gpu_type.id.clone(),
        });
    }
    if bid >= on_demand {
        return Err(CommandError::BidTooHigh {
            bid,
            on_demand,
            gpu_type: gpu_type.id.clone(),
        });
    }
    Ok(())
}
