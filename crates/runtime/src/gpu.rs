//! The GPUs of this host: found through NVML, or declared by the operator as emulated.
//!
//! NVML is loaded at run time, so one binary runs on hosts with and without the NVIDIA
//! driver; a host without it simply has no NVML GPUs. Emulated GPUs exist for development
//! and tests on hosts without NVIDIA hardware: they have synthetic UUIDs derived from a
//! seed (the machine id), so that a restarted agent declares the same GPUs again.

use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;
use podyard_core::{Gpu, GpuUse};
use thiserror::Error;
use tracing::debug;

/// Most emulated GPUs one host may declare.
pub const MAX_EMULATED_GPUS: u32 = 64;

/// One GPU as NVML reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectedGpu {
    pub index: u32,
    pub uuid: String,
    /// NVML's product name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    pub memory_in_mib: u64,
}

impl DetectedGpu {
    pub fn gpu(&self) -> Gpu {
        Gpu {
            index: self.index,
            uuid: self.uuid.clone(),
        }
    }
}

#[derive(Debug, Error)]
pub enum DetectGpusError {
    #[error("NVML is loaded but cannot be initialised")]
    Init(#[source] NvmlError),
    #[error("cannot read GPU {index} through NVML")]
    Device {
        index: u32,
        #[source]
        source: NvmlError,
    },
    #[error("cannot count GPUs through NVML")]
    Count(#[source] NvmlError),
}

/// Opens NVML; `None` when the library or the driver is absent (a host without NVIDIA
/// GPUs), an error when it is present but broken.
fn open_nvml() -> Result<Option<Nvml>, DetectGpusError> {
    match Nvml::init() {
        Ok(nvml) => Ok(Some(nvml)),
        Err(NvmlError::LibloadingError(e)) => {
            debug!(error = %e, "NVML library not found; no NVIDIA GPUs");
            Ok(None)
        }
        Err(NvmlError::DriverNotLoaded | NvmlError::LibraryNotFound) => Ok(None),
        Err(e) => Err(DetectGpusError::Init(e)),
    }
}

/// The NVIDIA GPUs of this host, in NVML index order; `Ok(None)` without NVML.
pub fn detect_nvml() -> Result<Option<Vec<DetectedGpu>>, DetectGpusError> {
    let Some(nvml) = open_nvml()? else {
        return Ok(None);
    };
    let count = nvml.device_count().map_err(DetectGpusError::Count)?;
    let gpus = (0..count)
        .map(|index| read_gpu(&nvml, index))
        .collect::<Result<_, _>>()?;
    Ok(Some(gpus))
}

fn read_gpu(nvml: &Nvml, index: u32) -> Result<DetectedGpu, DetectGpusError> {
    let fail = |source| DetectGpusError::Device { index, source };
    let device = nvml.device_by_index(index).map_err(fail)?;
    Ok(DetectedGpu {
        index,
        uuid: device.uuid().map_err(fail)?,
        name: device.name().map_err(fail)?,
        memory_in_mib: device.memory_info().map_err(fail)?.total / (1024 * 1024),
    })
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseEmulatedGpusError {
    #[error("emulated GPUs {0:?} must look like \"<gpu type id>:<count>\"")]
    MissingCount(String),
    #[error("emulated GPUs {0:?} name no GPU type")]
    MissingType(String),
    #[error("emulated GPU count {count:?} must be a whole number from 1 to {MAX_EMULATED_GPUS}")]
    BadCount { count: String },
}

/// GPUs an operator declares on a host without NVIDIA hardware, e.g.
/// `NVIDIA GeForce RTX 4090:4`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatedGpus {
    /// A GPU type id of the catalog, exactly as written.
    pub gpu_type_id: String,
    pub count: u32,
}

impl EmulatedGpus {
    /// Parses `<gpu type id>:<count>`, splitting at the last `:` (type ids may hold one).
    pub fn parse(raw: &str) -> Result<Self, ParseEmulatedGpusError> {
        let (gpu_type_id, count) = raw
            .rsplit_once(':')
            .ok_or_else(|| ParseEmulatedGpusError::MissingCount(raw.to_string()))?;
        if gpu_type_id.trim().is_empty() {
            return Err(ParseEmulatedGpusError::MissingType(raw.to_string()));
        }
        let bad_count = || ParseEmulatedGpusError::BadCount {
            count: count.to_string(),
        };
        let count: u32 = count.trim().parse().map_err(|_| bad_count())?;
        if !(1..=MAX_EMULATED_GPUS).contains(&count) {
            return Err(bad_count());
        }
        Ok(Self {
            gpu_type_id: gpu_type_id.trim().to_string(),
            count,
        })
    }

    /// The GPUs, with UUIDs `GPU-emulated-<seed>-<index>` that stay the same for the same
    /// seed. Characters of the seed outside `[A-Za-z0-9-]` become `-`.
    pub fn gpus(&self, seed: &str) -> Vec<Gpu> {
        let seed: String = seed
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        (0..self.count)
            .map(|index| Gpu {
                index,
                uuid: format!("GPU-emulated-{seed}-{index}"),
            })
            .collect()
    }
}

/// Reads GPU use for running pods. Holds NVML open between samples; without NVML (or for
/// emulated GPUs, whose UUIDs NVML does not know) every figure is zero.
pub struct GpuSampler {
    nvml: Option<Nvml>,
}

impl std::fmt::Debug for GpuSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSampler")
            .field("nvml", &self.nvml.is_some())
            .finish()
    }
}

impl GpuSampler {
    /// Opens NVML if this host has it.
    pub fn open() -> Result<Self, DetectGpusError> {
        Ok(Self { nvml: open_nvml()? })
    }

    /// A sampler that reports zeros: for emulated GPUs and tests.
    pub fn zeros() -> Self {
        Self { nvml: None }
    }

    /// Use of each GPU, in the order given. A GPU NVML cannot read reports zeros rather
    /// than failing the whole report.
    pub fn sample_use(&self, uuids: &[String]) -> Vec<GpuUse> {
        uuids.iter().map(|uuid| self.sample_one(uuid)).collect()
    }

    fn sample_one(&self, uuid: &str) -> GpuUse {
        let read = self.nvml.as_ref().and_then(|nvml| {
            let device = nvml.device_by_uuid(uuid).ok()?;
            let util = device.utilization_rates().ok()?;
            let memory = device.memory_info().ok()?;
            Some((util.gpu, percent(memory.used, memory.total)))
        });
        let (gpu_util_percent, memory_util_percent) = read.unwrap_or((0, 0));
        GpuUse {
            id: uuid.to_string(),
            gpu_util_percent,
            memory_util_percent,
        }
    }
}

/// `part` as a whole percentage of `total` (memory in use, as RunPod shows it).
fn percent(part: u64, total: u64) -> u32 {
    if total == 0 {
        return 0;
    }
    let pct = (u128::from(part) * 100 / u128::from(total)).min(100);
    u32::try_from(pct).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulated_gpus_split_at_the_last_colon() {
        let parsed = EmulatedGpus::parse("NVIDIA GeForce RTX 4090:4");
        let expected = EmulatedGpus {
            gpu_type_id: "NVIDIA GeForce RTX 4090".to_string(),
            count: 4,
        };
        assert_eq!(parsed, Ok(expected));
        let with_colon = EmulatedGpus::parse("vendor:model:2").map(|g| g.gpu_type_id);
        assert_eq!(with_colon, Ok("vendor:model".to_string()));
    }

    #[test]
    fn emulated_gpu_counts_are_limited_to_1_through_64() {
        assert!(EmulatedGpus::parse("NVIDIA H200:64").is_ok());
        for bad in [
            "NVIDIA H200:0",
            "NVIDIA H200:65",
            "NVIDIA H200:-1",
            "NVIDIA H200:x",
        ] {
            assert!(
                matches!(
                    EmulatedGpus::parse(bad),
                    Err(ParseEmulatedGpusError::BadCount { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            EmulatedGpus::parse("NVIDIA H200"),
            Err(ParseEmulatedGpusError::MissingCount(
                "NVIDIA H200".to_string()
            ))
        );
        assert!(matches!(
            EmulatedGpus::parse(":2"),
            Err(ParseEmulatedGpusError::MissingType(_))
        ));
    }

    #[test]
    fn emulated_uuids_are_stable_for_a_seed() {
        let gpus = EmulatedGpus {
            gpu_type_id: "NVIDIA H200".to_string(),
            count: 2,
        };
        let first = gpus.gpus("m1abc");
        assert_eq!(first, gpus.gpus("m1abc"));
        assert_eq!(first[1].index, 1);
        assert_eq!(first[1].uuid, "GPU-emulated-m1abc-1");
        assert_eq!(gpus.gpus("a b/c")[0].uuid, "GPU-emulated-a-b-c-0");
    }

    #[test]
    fn sampling_without_nvml_reports_zeros_in_order() {
        let uuids = vec![
            "GPU-emulated-x-0".to_string(),
            "GPU-emulated-x-1".to_string(),
        ];
        let used = GpuSampler::zeros().sample_use(&uuids);
        assert_eq!(used.len(), 2);
        assert_eq!(used[1].id, "GPU-emulated-x-1");
        assert_eq!(
            (used[0].gpu_util_percent, used[0].memory_util_percent),
            (0, 0)
        );
    }

    #[test]
    fn memory_percent_is_bounded() {
        assert_eq!(percent(50, 200), 25);
        assert_eq!(percent(1, 0), 0);
        assert_eq!(percent(300, 200), 100);
    }
}
