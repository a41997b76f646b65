//! Placement: which machine and which GPUs a new pod gets.
//!
//! One set of filters ([`Filters`]) serves both placement and the stock figures of
//! `lowestPrice`, so that what is reported available is exactly what a create with the same
//! filters can allocate. Among the machines that pass, the cheapest wins; ties go to the
//! machine with the most GPUs already in use (bin-packing keeps whole machines free for
//! large pods), then to the lowest machine id, so the choice is deterministic. Machines
//! with enough free GPUs always win over machines where spot pods would be preempted.

use podyard_core::command::CreatePod;
use podyard_core::error::MachineVerdict;
use podyard_core::{Catalog, CloudType, CommandError, GpuType, Machine, MachineId, PodId};
use tracing::debug;

use crate::market::{capture, Capture, Claim};
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
            min_disk_in_gb: request
                .container_disk_in_gb
                .saturating_add(request.volume_in_gb),
            cuda_versions: request.cuda_versions.clone(),
        }
    }

    /// Whether `machine` could ever hold such a pod, ignoring what is in use now.
    pub fn admits(&self, machine: &Machine) -> bool {
        self.rejection(machine).is_none()
    }

    /// Why `machine` can never hold such a pod, or `None` if it can.
    pub fn rejection(&self, machine: &Machine) -> Option<String> {
        let count = self.gpu_count;
        if !self.gpu_type_ids.is_empty() && !self.gpu_type_ids.contains(&machine.gpu_type_id) {
            return Some(format!("its GPUs are {}", machine.gpu_type_id));
        }
        if self
            .cloud_type
            .is_some_and(|c| !c.admits(machine.secure_cloud))
        {
            let cloud = if machine.secure_cloud {
                "secure"
            } else {
                "community"
            };
            return Some(format!("it is in the {cloud} cloud"));
        }
        if let Some(dc) = self
            .data_center_id
            .as_ref()
            .filter(|dc| **dc != machine.data_center_id)
        {
            return Some(format!(
                "it is in data center {}, not {dc}",
                machine.data_center_id
            ));
        }
        if let Some(cc) = self
            .country_code
            .as_ref()
            .filter(|cc| !cc.eq_ignore_ascii_case(&machine.country_code))
        {
            return Some(format!(
                "it is in country {:?}, not {cc}",
                machine.country_code
            ));
        }
        if machine.gpu_count() < count {
            return Some(format!("it has {} GPUs in all", machine.gpu_count()));
        }
        if machine.vcpus_for(count) < self.min_vcpu_count {
            return Some(format!(
                "a pod of {count} GPUs gets {} vCPUs",
                machine.vcpus_for(count)
            ));
        }
        if machine.memory_for(count) < self.min_memory_in_gb {
            let memory = machine.memory_for(count);
            return Some(format!("a pod of {count} GPUs gets {memory} GB of memory"));
        }
        if machine.disk_in_gb < self.min_disk_in_gb {
            return Some(format!("it has {} GB of disk", machine.disk_in_gb));
        }
        let cuda_ok = self.cuda_versions.is_empty()
            || machine
                .cuda_version
                .as_ref()
                .is_none_or(|v| self.cuda_versions.contains(v));
        if !cuda_ok {
            return Some(format!("its CUDA version is {:?}", machine.cuda_version));
        }
        None
    }
}

/// Where a new pod goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub machine_id: MachineId,
    pub gpus: Vec<u32>,
    pub price_per_gpu: f64,
    /// Spot pods that lose their GPUs to this one.
    pub victims: Vec<PodId>,
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

/// A machine that could take the pod, and at what cost to others.
struct Candidate<'s> {
    machine: &'s Machine,
    capture: Capture,
    price: f64,
}

impl Candidate<'_> {
    /// Lower is better: no preemption if avoidable, then the cheapest, then the machine
    /// with the most GPUs in use (bin-packing), then the lowest id.
    fn rank(&self, state: &State) -> (bool, u64, std::cmp::Reverse<u32>, MachineId) {
        let cost_cents = (self.price * f64::from(self.capture.gpus.len() as u32) * 1e5).round();
        (
            !self.capture.victims.is_empty(),
            cost_cents as u64,
            std::cmp::Reverse(state.used_gpu_count(&self.machine.id)),
            self.machine.id.clone(),
        )
    }
}

/// Chooses a machine and GPUs for `request`, or says why none fits; the reasons for each
/// machine are logged at debug and, when nothing fits, returned with the error.
pub fn place(
    state: &State,
    catalog: &Catalog,
    request: &CreatePod,
) -> Result<Placement, CommandError> {
    check_gpu_types(catalog, &request.gpu_type_ids)?;
    check_gpu_count(state, &request.gpu_type_ids, request.gpu_count)?;

    let filters = Filters::from_request(request);
    let claim = request
        .bid_per_gpu
        .map_or(Claim::OnDemand, |bid| Claim::Spot { bid });
    let mut considered = Vec::new();
    let mut bid_refusal = None;
    let mut bid_fits_somewhere = false;
    let mut best: Option<Candidate> = None;
    for machine in state.machines() {
        let verdict = judge(state, catalog, &filters, claim, machine);
        let candidate = match verdict {
            Ok(candidate) => candidate,
            Err(Verdict::Refused(reason)) => {
                considered.push(MachineVerdict::new(machine, reason));
                continue;
            }
            Err(Verdict::Bid(refusal)) => {
                considered.push(MachineVerdict::new(machine, refusal.to_string()));
                bid_refusal.get_or_insert(refusal);
                continue;
            }
            Err(Verdict::Busy(reason)) => {
                bid_fits_somewhere = true;
                considered.push(MachineVerdict::new(machine, reason));
                continue;
            }
        };
        bid_fits_somewhere = true;
        let better = best
            .as_ref()
            .is_none_or(|b| candidate.rank(state) < b.rank(state));
        if better {
            best = Some(candidate);
        }
    }
    debug!(?considered, chosen = ?best.as_ref().map(|c| &c.machine.id), "placement");

    match (best, bid_refusal) {
        (Some(c), _) => Ok(Placement {
            machine_id: c.machine.id.clone(),
            gpus: c.capture.gpus,
            price_per_gpu: c.price,
            victims: c.capture.victims,
        }),
        (None, Some(refusal)) if !bid_fits_somewhere => Err(refusal),
        (None, _) => Err(CommandError::NoCapacity { considered }),
    }
}

/// Why a machine cannot take a pod.
enum Verdict {
    /// It never could (filters), or its GPU type is unknown.
    Refused(String),
    /// The bid is outside the machine's limits.
    Bid(CommandError),
    /// Not enough GPUs can be had now.
    Busy(String),
}

fn judge<'s>(
    state: &State,
    catalog: &Catalog,
    filters: &Filters,
    claim: Claim,
    machine: &'s Machine,
) -> Result<Candidate<'s>, Verdict> {
    if let Some(reason) = filters.rejection(machine) {
        return Err(Verdict::Refused(reason));
    }
    let gpu_type = catalog
        .get(&machine.gpu_type_id)
        .ok_or_else(|| Verdict::Refused("its GPU type is not in the catalog".to_string()))?;
    let price = match claim {
        Claim::Spot { bid } => {
            check_bid(gpu_type, machine.secure_cloud, bid).map_err(Verdict::Bid)?;
            bid
        }
        Claim::OnDemand => gpu_type.on_demand_price(machine.secure_cloud),
    };
    let capture = capture(state, machine, claim, filters.gpu_count, None)
        .ok_or_else(|| Verdict::Busy(busy_reason(state, machine, claim, filters.gpu_count)))?;
    Ok(Candidate {
        machine,
        capture,
        price,
    })
}

/// Explains why `claim` cannot get `count` GPUs on `machine` now.
pub fn busy_reason(state: &State, machine: &Machine, claim: Claim, count: u32) -> String {
    let free = state.free_gpus(machine).len();
    let (mut on_demand, mut higher, mut spot_below) = (0, 0, 0);
    for pod in state.pods_on(&machine.id).filter(|p| p.is_running()) {
        let held = pod.gpus.len();
        if !pod.is_spot() {
            on_demand += held;
        } else if claim.outbids(pod) {
            spot_below += held;
        } else {
            higher += held;
        }
    }
    let mut reason =
        format!("{count} GPUs wanted: {free} free, {on_demand} held by on-demand pods");
    match claim {
        Claim::OnDemand => reason.push_str(&format!(", {spot_below} held by spot pods")),
        Claim::Spot { bid } => reason.push_str(&format!(
            ", {spot_below} by spot bids below ${bid}, {higher} by spot bids of ${bid} or more"
        )),
    }
    reason
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
