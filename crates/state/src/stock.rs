//! Prices and stock for `gpuTypes { lowestPrice }`, computed from the same inventory and
//! filters as placement.

use podyard_core::GpuType;

use crate::market::{minimum_bid, on_demand_available};
use crate::scheduler::Filters;
use crate::state::State;

/// The figures of `lowestPrice` for one GPU type and one set of filters.
#[derive(Clone, Debug, PartialEq)]
pub struct Stock {
    /// Lowest bid per GPU that would get the GPUs now, displacing lower bids if needed;
    /// `None` when no machine can give them to a spot pod.
    pub minimum_bid_price: Option<f64>,
    /// Lowest on-demand price per GPU among matching machines (the catalog's when none).
    pub uninterruptable_price: f64,
    pub stock_status: Option<StockStatus>,
    pub total_count: u32,
    pub rented_count: u32,
    /// Most GPUs one on-demand pod could get now (spot pods yield to on-demand ones).
    pub max_unreserved_gpu_count: u32,
    /// GPU counts an on-demand pod could get now.
    pub available_gpu_counts: Vec<u32>,
    /// Smallest memory and vCPU share a pod of the requested size gets.
    pub min_memory: Option<u32>,
    pub min_vcpu: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StockStatus {
    High,
    Medium,
    Low,
}

/// Stock of `gpu_type` for pods matching `filters` (whose GPU type list is ignored).
pub fn stock(state: &State, gpu_type: &GpuType, filters: &Filters) -> Stock {
    let filters = Filters {
        gpu_type_ids: vec![gpu_type.id.clone()],
        ..filters.clone()
    };
    let count = filters.gpu_count.max(1);
    let mut stock = Stock {
        minimum_bid_price: None,
        uninterruptable_price: catalog_price(gpu_type, &filters),
        stock_status: None,
        total_count: 0,
        rented_count: 0,
        max_unreserved_gpu_count: 0,
        available_gpu_counts: Vec::new(),
        min_memory: None,
        min_vcpu: None,
    };
    let mut pods_that_fit = 0;
    let mut lowest_price: Option<f64> = None;
    for machine in state.machines().filter(|m| filters.admits(m)) {
        // What an on-demand create can get: everything not held by on-demand pods.
        let available = on_demand_available(state, machine);
        let free = state.free_gpus(machine).len() as u32;
        stock.total_count += machine.gpu_count();
        stock.rented_count += machine.gpu_count() - free;
        lower(
            &mut lowest_price,
            gpu_type.on_demand_price(machine.secure_cloud),
        );
        stock.min_memory = min_of(stock.min_memory, machine.memory_for(count));
        stock.min_vcpu = min_of(stock.min_vcpu, machine.vcpus_for(count));
        pods_that_fit += available / count;
        stock.max_unreserved_gpu_count = stock.max_unreserved_gpu_count.max(available);
        if let Some(bid) = minimum_bid(state, machine, gpu_type, count, None) {
            lower(&mut stock.minimum_bid_price, bid);
        }
    }
    if let Some(price) = lowest_price {
        stock.uninterruptable_price = price;
    }
    stock.available_gpu_counts = (1..=stock.max_unreserved_gpu_count).collect();
    stock.stock_status = match pods_that_fit {
        0 => None,
        1 => Some(StockStatus::Low),
        2..=3 => Some(StockStatus::Medium),
        _ => Some(StockStatus::High),
    };
    stock
}

fn catalog_price(gpu_type: &GpuType, filters: &Filters) -> f64 {
    use podyard_core::CloudType;
    match filters.cloud_type {
        Some(CloudType::Secure) => gpu_type.secure_price,
        Some(CloudType::Community) => gpu_type.community_price,
        _ => gpu_type.secure_price.min(gpu_type.community_price),
    }
}

fn lower(slot: &mut Option<f64>, value: f64) {
    *slot = Some(slot.map_or(value, |v| v.min(value)));
}

fn min_of(slot: Option<u32>, value: u32) -> Option<u32> {
    Some(slot.map_or(value, |v| v.min(value)))
}
