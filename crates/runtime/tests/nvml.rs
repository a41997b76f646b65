//! NVML detection on whatever host runs the tests: without the NVIDIA driver it finds
//! nothing and does not fail; with it, every GPU is described and can be sampled.

use podyard_runtime::{detect_nvml, GpuSampler};

#[test]
fn nvml_detection_works_with_and_without_a_driver() {
    let detected = detect_nvml().unwrap_or_else(|e| panic!("NVML is present but broken: {e}"));
    let Some(gpus) = detected else {
        let sampler = GpuSampler::open().unwrap_or_else(|e| panic!("{e}"));
        let zeros = sampler.sample_use(&["GPU-emulated-x-0".to_string()]);
        assert_eq!(zeros[0].gpu_util_percent, 0);
        return;
    };

    for (position, gpu) in gpus.iter().enumerate() {
        assert_eq!(gpu.index as usize, position);
        assert!(gpu.uuid.starts_with("GPU-"), "{gpu:?}");
        assert!(!gpu.name.is_empty() && gpu.memory_in_mib > 0, "{gpu:?}");
    }
    let sampler = GpuSampler::open().unwrap_or_else(|e| panic!("{e}"));
    let uuids: Vec<String> = gpus.iter().map(|g| g.uuid.clone()).collect();
    let used = sampler.sample_use(&uuids);
    assert_eq!(used.len(), gpus.len());
    assert!(used
        .iter()
        .all(|u| u.gpu_util_percent <= 100 && u.memory_util_percent <= 100));
}
