//! The GPU catalog: `gpuTypes` with prices and live stock from `lowestPrice`.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use podyard_core::command::CreatePod;
use podyard_core::{CloudType, GpuType};
use podyard_state::scheduler::Filters;
use podyard_state::stock::{stock, StockStatus};

use crate::caller::api;
use crate::error::bad_input;

#[derive(InputObject, Default)]
pub struct GpuTypeFilter {
    id: Option<String>,
    ids: Option<Vec<String>>,
}

/// Filters of `lowestPrice`, the same that a create applies. Accepted but not acted on:
/// `minDownload`, `minUpload`, `compliance`, `globalNetwork`, `includeAiApi`, and
/// `supportPublicIp` (every machine publishes pod ports directly on its address).
#[derive(InputObject)]
pub struct GpuLowestPriceInput {
    gpu_count: u32,
    secure_cloud: Option<bool>,
    data_center_id: Option<String>,
    country_code: Option<String>,
    min_vcpu_count: Option<u32>,
    min_memory_in_gb: Option<u32>,
    min_disk: Option<u32>,
    min_download: Option<u32>,
    min_upload: Option<u32>,
    support_public_ip: Option<bool>,
    allowed_cuda_versions: Option<Vec<String>>,
    compliance: Option<Vec<String>>,
    global_network: Option<bool>,
    include_ai_api: Option<bool>,
}

impl GpuLowestPriceInput {
    fn filters(self) -> Filters {
        let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        Filters {
            gpu_type_ids: Vec::new(),
            gpu_count: self.gpu_count,
            cloud_type: self.secure_cloud.map(|secure| {
                if secure {
                    CloudType::Secure
                } else {
                    CloudType::Community
                }
            }),
            data_center_id: set(self.data_center_id),
            country_code: set(self.country_code),
            min_vcpu_count: self.min_vcpu_count.unwrap_or(0),
            min_memory_in_gb: self.min_memory_in_gb.unwrap_or(0),
            // A create asks for its container disk (20 GB unless set) at least.
            min_disk_in_gb: self
                .min_disk
                .unwrap_or(CreatePod::DEFAULT_CONTAINER_DISK_IN_GB),
            cuda_versions: self.allowed_cuda_versions.unwrap_or_default(),
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "StockStatus")]
pub enum StockStatusEnum {
    High,
    Medium,
    Low,
}

#[derive(SimpleObject)]
pub struct LowestPrice {
    gpu_type_id: String,
    gpu_name: String,
    minimum_bid_price: Option<f64>,
    uninterruptable_price: f64,
    stock_status: Option<StockStatusEnum>,
    min_memory: Option<u32>,
    min_vcpu: Option<u32>,
    total_count: u32,
    rented_count: u32,
    max_unreserved_gpu_count: u32,
    available_gpu_counts: Vec<u32>,
}

pub struct GpuTypeView(GpuType);

#[Object(name = "GpuType")]
impl GpuTypeView {
    async fn id(&self) -> &str {
        &self.0.id
    }

    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    async fn manufacturer(&self) -> &str {
        &self.0.manufacturer
    }

    async fn memory_in_gb(&self) -> f64 {
        f64::from(self.0.memory_in_gb)
    }

    /// Not in podyard's catalog: always null.
    async fn cuda_cores(&self) -> Option<i32> {
        None
    }

    /// Price per GPU-hour of a one-week commitment. podyard has no term pricing: null.
    async fn one_week_price(&self) -> Option<f64> {
        None
    }

    /// Price per GPU-hour of a one-month commitment. podyard has no term pricing: null.
    async fn one_month_price(&self) -> Option<f64> {
        None
    }

    /// Price per GPU-hour of a three-month commitment. podyard has no term pricing: null.
    async fn three_month_price(&self) -> Option<f64> {
        None
    }

    /// Most GPUs of this type one pod can have: the GPUs of the largest machine.
    async fn max_gpu_count(&self, ctx: &Context<'_>) -> u32 {
        api(ctx).core.read(|state| {
            state
                .machines()
                .filter(|m| m.gpu_type_id == self.0.id)
                .map(|m| m.gpu_count())
                .max()
                .unwrap_or(0)
        })
    }

    /// Whether machines with this type exist in the secure cloud.
    async fn secure_cloud(&self, ctx: &Context<'_>) -> bool {
        self.in_cloud(ctx, true)
    }

    async fn community_cloud(&self, ctx: &Context<'_>) -> bool {
        self.in_cloud(ctx, false)
    }

    async fn secure_price(&self) -> f64 {
        self.0.secure_price
    }

    async fn community_price(&self) -> f64 {
        self.0.community_price
    }

    async fn secure_spot_price(&self) -> f64 {
        self.0.secure_spot_price
    }

    async fn community_spot_price(&self) -> f64 {
        self.0.community_spot_price
    }

    async fn lowest_price(
        &self,
        ctx: &Context<'_>,
        input: Option<GpuLowestPriceInput>,
    ) -> async_graphql::Result<LowestPrice> {
        let input = input.ok_or_else(|| bad_input("input: gpuCount is required"))?;
        let filters = input.filters();
        let figures = api(ctx).core.read(|state| stock(state, &self.0, &filters));
        Ok(LowestPrice {
            gpu_type_id: self.0.id.clone(),
            gpu_name: self.0.display_name.clone(),
            minimum_bid_price: figures.minimum_bid_price,
            uninterruptable_price: figures.uninterruptable_price,
            stock_status: figures.stock_status.map(|s| match s {
                StockStatus::High => StockStatusEnum::High,
                StockStatus::Medium => StockStatusEnum::Medium,
                StockStatus::Low => StockStatusEnum::Low,
            }),
            min_memory: figures.min_memory,
            min_vcpu: figures.min_vcpu,
            total_count: figures.total_count,
            rented_count: figures.rented_count,
            max_unreserved_gpu_count: figures.max_unreserved_gpu_count,
            available_gpu_counts: figures.available_gpu_counts,
        })
    }
}

impl GpuTypeView {
    fn in_cloud(&self, ctx: &Context<'_>, secure: bool) -> bool {
        api(ctx).core.read(|state| {
            state
                .machines()
                .any(|m| m.gpu_type_id == self.0.id && m.secure_cloud == secure)
        })
    }
}

#[derive(Default)]
pub struct GpuTypeQuery;

#[Object]
impl GpuTypeQuery {
    /// The catalog, optionally narrowed to some ids. Works without an API key.
    async fn gpu_types(&self, ctx: &Context<'_>, input: Option<GpuTypeFilter>) -> Vec<GpuTypeView> {
        let filter = input.unwrap_or_default();
        let wanted: Vec<String> = filter
            .id
            .into_iter()
            .chain(filter.ids.unwrap_or_default())
            .collect();
        api(ctx)
            .core
            .catalog()
            .iter()
            .filter(|t| wanted.is_empty() || wanted.contains(&t.id))
            .cloned()
            .map(GpuTypeView)
            .collect()
    }
}
