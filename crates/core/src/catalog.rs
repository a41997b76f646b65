//! The GPU catalog: which GPU types exist and what they cost.
//!
//! Ids are RunPod's (`NVIDIA GeForce RTX 4090`) and are matched exactly, case and spaces
//! included (compat). Prices are per GPU per hour. Each type has an on-demand price and a
//! spot floor for each cloud; a spot bid must lie in `[floor, on-demand)` so that an
//! on-demand pod at the same price is never interrupted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One GPU type and its prices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GpuType {
    pub id: String,
    pub display_name: String,
    #[serde(default = "default_manufacturer")]
    pub manufacturer: String,
    pub memory_in_gb: u32,
    pub secure_price: f64,
    pub community_price: f64,
    pub secure_spot_price: f64,
    pub community_spot_price: f64,
}

fn default_manufacturer() -> String {
    "Nvidia".to_string()
}

impl GpuType {
    /// On-demand price per GPU-hour in the given cloud.
    pub fn on_demand_price(&self, secure_cloud: bool) -> f64 {
        if secure_cloud {
            self.secure_price
        } else {
            self.community_price
        }
    }

    /// Lowest accepted spot bid per GPU-hour in the given cloud.
    pub fn spot_floor(&self, secure_cloud: bool) -> f64 {
        if secure_cloud {
            self.secure_spot_price
        } else {
            self.community_spot_price
        }
    }
}

/// The catalog file could not be used.
#[derive(Debug, Error)]
pub enum LoadCatalogError {
    #[error("catalog file is not valid JSON of the expected shape")]
    Parse(#[source] serde_json::Error),
    #[error("GPU type {id:?}: {reason}")]
    InvalidPrice { id: String, reason: &'static str },
}

/// Shape of the operator's catalog file: entries replace defaults with the same id and add
/// new types.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CatalogFile {
    gpu_types: Vec<GpuType>,
}

/// All GPU types known to this control plane, ordered by id.
#[derive(Clone, Debug, PartialEq)]
pub struct Catalog {
    types: BTreeMap<String, GpuType>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::from_types(default_types())
    }
}

impl Catalog {
    pub fn from_types(types: impl IntoIterator<Item = GpuType>) -> Self {
        Self {
            types: types.into_iter().map(|t| (t.id.clone(), t)).collect(),
        }
    }

    /// The default catalog with the operator's file applied on top.
    pub fn with_overrides(json: &str) -> Result<Self, LoadCatalogError> {
        let file: CatalogFile = serde_json::from_str(json).map_err(LoadCatalogError::Parse)?;
        let mut catalog = Self::default();
        for gpu_type in file.gpu_types {
            validate_prices(&gpu_type)?;
            catalog.types.insert(gpu_type.id.clone(), gpu_type);
        }
        Ok(catalog)
    }

    pub fn get(&self, id: &str) -> Option<&GpuType> {
        self.types.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &GpuType> {
        self.types.values()
    }

    /// Valid ids that look like `wanted`, for error messages about unknown ids.
    pub fn close_ids(&self, wanted: &str) -> Vec<String> {
        let needle = normalize(wanted);
        let mut close: Vec<String> = self
            .types
            .keys()
            .filter(|id| {
                let id = normalize(id);
                !needle.is_empty() && (id.contains(&needle) || needle.contains(&id))
            })
            .cloned()
            .collect();
        if close.is_empty() {
            let tokens: Vec<String> = wanted
                .split_whitespace()
                .map(normalize)
                .filter(|t| t.len() >= 3 && !matches!(t.as_str(), "nvidia" | "geforce"))
                .collect();
            close = self
                .types
                .keys()
                .filter(|id| tokens.iter().any(|t| normalize(id).contains(t.as_str())))
                .cloned()
                .collect();
        }
        close.truncate(5);
        close
    }
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn validate_prices(t: &GpuType) -> Result<(), LoadCatalogError> {
    let invalid = |reason| LoadCatalogError::InvalidPrice {
        id: t.id.clone(),
        reason,
    };
    let prices = [
        t.secure_price,
        t.community_price,
        t.secure_spot_price,
        t.community_spot_price,
    ];
    if prices.iter().any(|p| !p.is_finite() || *p < 0.0) {
        return Err(invalid("prices must be finite and not negative"));
    }
    if t.secure_spot_price >= t.secure_price || t.community_spot_price >= t.community_price {
        return Err(invalid("the spot floor must be below the on-demand price"));
    }
    Ok(())
}

fn default_types() -> Vec<GpuType> {
    // (id, display name, memory GB, secure, community, secure spot, community spot)
    let rows: [(&str, &str, u32, f64, f64, f64, f64); 12] = [
        (
            "NVIDIA GeForce RTX 4090",
            "RTX 4090",
            24,
            0.69,
            0.34,
            0.20,
            0.17,
        ),
        (
            "NVIDIA GeForce RTX 3090",
            "RTX 3090",
            24,
            0.43,
            0.22,
            0.16,
            0.11,
        ),
        ("NVIDIA RTX A5000", "RTX A5000", 24, 0.27, 0.16, 0.13, 0.10),
        ("NVIDIA RTX A6000", "RTX A6000", 48, 0.49, 0.33, 0.25, 0.20),
        ("NVIDIA L4", "L4", 24, 0.43, 0.28, 0.22, 0.15),
        ("NVIDIA L40S", "L40S", 48, 0.86, 0.79, 0.43, 0.40),
        (
            "NVIDIA A100 80GB PCIe",
            "A100 PCIe",
            80,
            1.64,
            1.19,
            0.82,
            0.60,
        ),
        (
            "NVIDIA A100-SXM4-80GB",
            "A100 SXM",
            80,
            1.89,
            1.39,
            0.95,
            0.70,
        ),
        ("NVIDIA H100 PCIe", "H100 PCIe", 80, 2.39, 1.99, 1.25, 1.10),
        (
            "NVIDIA H100 80GB HBM3",
            "H100 SXM",
            80,
            2.99,
            2.69,
            1.75,
            1.50,
        ),
        ("NVIDIA H100 NVL", "H100 NVL", 94, 2.79, 2.59, 1.55, 1.40),
        ("NVIDIA H200", "H200 SXM", 141, 3.99, 3.59, 2.29, 2.00),
    ];
    rows.into_iter()
        .map(|(id, name, mem, sp, cp, ssp, csp)| GpuType {
            id: id.to_string(),
            display_name: name.to_string(),
            manufacturer: default_manufacturer(),
            memory_in_gb: mem,
            secure_price: sp,
            community_price: cp,
            secure_spot_price: ssp,
            community_spot_price: csp,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_catalog_accepts_the_documented_spot_bid_for_rtx_4090() {
        let catalog = Catalog::default();
        let t = catalog.get("NVIDIA GeForce RTX 4090").unwrap();
        for secure in [true, false] {
            assert!(t.spot_floor(secure) <= 0.2);
            assert!(t.on_demand_price(secure) > 0.2);
        }
    }

    #[test]
    fn default_catalog_prices_are_consistent() {
        for t in Catalog::default().iter() {
            validate_prices(t).unwrap();
        }
    }

    #[test]
    fn ids_match_exactly_and_close_ids_are_suggested() {
        let catalog = Catalog::default();
        assert!(catalog.get("nvidia geforce rtx 4090").is_none());
        assert_eq!(
            catalog.close_ids("nvidia geforce rtx 4090"),
            vec!["NVIDIA GeForce RTX 4090".to_string()]
        );
        assert!(catalog
            .close_ids("RTX 4090")
            .contains(&"NVIDIA GeForce RTX 4090".to_string()));
    }

    #[test]
    fn overrides_replace_and_add_types() {
        let json = r#"{"gpuTypes":[
            {"id":"NVIDIA H200","displayName":"H200","memoryInGb":141,"securePrice":5.0,
             "communityPrice":4.0,"secureSpotPrice":2.5,"communitySpotPrice":2.0},
            {"id":"Acme X1","displayName":"X1","memoryInGb":16,"securePrice":1.0,
             "communityPrice":0.8,"secureSpotPrice":0.5,"communitySpotPrice":0.4}]}"#;
        let catalog = Catalog::with_overrides(json).unwrap();
        assert_eq!(catalog.get("NVIDIA H200").unwrap().secure_price, 5.0);
        assert!(catalog.get("Acme X1").is_some());
        assert!(catalog.get("NVIDIA GeForce RTX 4090").is_some());
    }

    #[test]
    fn override_with_floor_above_on_demand_is_refused() {
        let json = r#"{"gpuTypes":[{"id":"X","displayName":"X","memoryInGb":1,
            "securePrice":1.0,"communityPrice":1.0,"secureSpotPrice":1.0,
            "communitySpotPrice":0.5}]}"#;
        assert!(matches!(
            Catalog::with_overrides(json),
            Err(LoadCatalogError::InvalidPrice { .. })
        ));
    }
}
