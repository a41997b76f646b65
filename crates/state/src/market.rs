//! The spot market: who may take GPUs from whom, and what it costs to get GPUs now.
//!
//! Rules (pay-as-bid):
//! - on-demand pods are never preempted;
//! - an on-demand start may take the GPUs of any spot pod, lowest bids first;
//! - a spot start at bid `b` may take only the GPUs of spot pods bidding strictly less than
//!   `b`, lowest first; at equal bids the running pod keeps its GPUs;
//! - free GPUs are always used before any pod is preempted.
//!
//! The same [`capture`] decides placement, resume and the prices reported by
//! `lowestPrice` and `lowestBidPriceToResume`, so a reported price always gets the GPUs.

use podyard_core::pod::round_cents;
use podyard_core::{GpuType, Machine, Pod, PodId};

use crate::state::State;

/// What a start offers for GPUs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Claim {
    OnDemand,
    Spot { bid: f64 },
}

impl Claim {
    /// Whether this claim may take the GPUs of `pod`.
    pub fn outbids(self, pod: &Pod) -> bool {
        pod.is_running()
            && pod.is_spot()
            && match self {
                Claim::OnDemand => true,
                Claim::Spot { bid } => pod.price_per_gpu < bid,
            }
    }

    /// The claim a pod makes with its own price.
    pub fn from_pod(pod: &Pod) -> Self {
        match pod.bid_per_gpu() {
            Some(bid) => Claim::Spot { bid },
            None => Claim::OnDemand,
        }
    }

    pub fn bid(self) -> Option<f64> {
        match self {
            Claim::OnDemand => None,
            Claim::Spot { bid } => Some(bid),
        }
    }
}

/// The GPUs a start gets on one machine and the pods it preempts for them.
#[derive(Clone, Debug, PartialEq)]
pub struct Capture {
    pub gpus: Vec<u32>,
    pub victims: Vec<PodId>,
}

/// Running spot pods of a machine, cheapest bid first; among equal bids the most recently
/// started goes first, so the pod that has run longest keeps its GPUs.
fn spot_pods_by_bid<'s>(
    state: &'s State,
    machine: &Machine,
    except: Option<&PodId>,
) -> Vec<&'s Pod> {
    let mut pods: Vec<&Pod> = state
        .pods_on(&machine.id)
        .filter(|p| p.is_running() && p.is_spot() && Some(&p.id) != except)
        .collect();
    pods.sort_by(|a, b| {
        a.price_per_gpu
            .total_cmp(&b.price_per_gpu)
            .then(b.last_started_at.cmp(&a.last_started_at))
            .then(a.id.cmp(&b.id))
    });
    pods
}

/// The GPUs `claim` can get on `machine` for `count` GPUs: free GPUs first, then those of
/// the spot pods it outbids, lowest bids first. `None` when that is not enough. `except`
/// is the pod being started, which never preempts itself.
pub fn capture(
    state: &State,
    machine: &Machine,
    claim: Claim,
    count: u32,
    except: Option<&PodId>,
) -> Option<Capture> {
    let count = count as usize;
    let mut gpus = state.free_gpus(machine);
    let mut victims = Vec::new();
    for pod in spot_pods_by_bid(state, machine, except) {
        if gpus.len() >= count {
            break;
        }
        if !claim.outbids(pod) {
            // Bids only rise from here: no later pod can be taken either.
            break;
        }
        victims.push(pod.id.clone());
        gpus.extend(&pod.gpus);
    }
    if gpus.len() < count {
        return None;
    }
    // Free GPUs come first in `gpus`, so victims' GPUs are used only when needed.
    gpus.truncate(count);
    gpus.sort_unstable();
    Some(Capture { gpus, victims })
}

/// GPUs an on-demand start could get on `machine`: every GPU not held by an on-demand pod.
pub fn on_demand_available(state: &State, machine: &Machine) -> u32 {
    let spot_held: usize = spot_pods_by_bid(state, machine, None)
        .iter()
        .map(|p| p.gpus.len())
        .sum();
    state.free_gpus(machine).len() as u32 + spot_held as u32
}

/// The lowest bid per GPU-hour that would get `count` GPUs on `machine` now: the floor when
/// enough are free, else just above the highest bid that would have to be displaced.
/// `None` when on-demand pods hold too many, or the bid would reach the on-demand price.
pub fn minimum_bid(
    state: &State,
    machine: &Machine,
    gpu_type: &GpuType,
    count: u32,
    except: Option<&PodId>,
) -> Option<f64> {
    let floor = gpu_type.spot_floor(machine.secure_cloud);
    let on_demand = gpu_type.on_demand_price(machine.secure_cloud);
    let mut obtainable = state.free_gpus(machine).len() as u32;
    let mut highest_displaced: Option<f64> = None;
    for pod in spot_pods_by_bid(state, machine, except) {
        if obtainable >= count {
            break;
        }
        obtainable += pod.gpus.len() as u32;
        highest_displaced = Some(pod.price_per_gpu);
    }
    if obtainable < count {
        return None;
    }
    let needed = highest_displaced.map_or(floor, |bid| next_cent_above(bid).max(floor));
    (needed < on_demand).then_some(needed)
}

/// The smallest whole-cent amount strictly greater than `x`.
pub fn next_cent_above(x: f64) -> f64 {
    let cents = x * 100.0;
    let next = if (cents - cents.round()).abs() < 1e-6 {
        cents.round() + 1.0
    } else {
        cents.ceil()
    };
    round_cents(next / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_cent_above_is_strictly_greater_and_on_the_cent_grid() {
        assert_eq!(next_cent_above(0.2), 0.21);
        assert_eq!(next_cent_above(0.29), 0.3);
        assert_eq!(next_cent_above(0.205), 0.21);
        assert_eq!(next_cent_above(1.0), 1.01);
    }
}
