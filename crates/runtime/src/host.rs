//! The size of this host as a machine offers it: hostname, vCPUs, memory and disk.
//!
//! Read once at agent start from Linux's own accounting (`/proc`, `statvfs`), so that the
//! operator does not have to type figures that the kernel already knows.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// What this host offers to pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    pub hostname: String,
    pub vcpu_count: u32,
    /// Total memory in whole GiB.
    pub memory_in_gb: u32,
    /// Size of the filesystem holding the data directory, in whole GiB.
    pub disk_in_gb: u32,
}

#[derive(Debug, Error)]
pub enum DescribeHostError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} has no MemTotal line")]
    NoMemTotal { path: PathBuf },
    #[error("cannot read the filesystem size of {path}")]
    Statvfs {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

const MEMINFO: &str = "/proc/meminfo";
const HOSTNAME: &str = "/proc/sys/kernel/hostname";

/// Describes this host; `data_dir` names the filesystem whose size is the machine's disk.
pub fn describe_host(data_dir: &Path) -> Result<HostInfo, DescribeHostError> {
    let meminfo = read(Path::new(MEMINFO))?;
    let mem_kib = mem_total_kib(&meminfo).ok_or_else(|| DescribeHostError::NoMemTotal {
        path: PathBuf::from(MEMINFO),
    })?;
    let hostname = read(Path::new(HOSTNAME))?.trim().to_string();
    let vcpu_count = std::thread::available_parallelism().map_or(1, |n| n.get());

    Ok(HostInfo {
        hostname,
        vcpu_count: u32::try_from(vcpu_count).unwrap_or(u32::MAX),
        memory_in_gb: whole_gib(mem_kib * 1024),
        disk_in_gb: whole_gib(disk_bytes(data_dir)?),
    })
}

fn read(path: &Path) -> Result<String, DescribeHostError> {
    std::fs::read_to_string(path).map_err(|source| DescribeHostError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn disk_bytes(path: &Path) -> Result<u64, DescribeHostError> {
    let stat = rustix::fs::statvfs(path).map_err(|e| DescribeHostError::Statvfs {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    Ok(stat.f_blocks.saturating_mul(stat.f_frsize))
}

/// `MemTotal` of `/proc/meminfo`, in KiB.
fn mem_total_kib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn whole_gib(bytes: u64) -> u32 {
    u32::try_from(bytes >> 30).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_from_meminfo() {
        let meminfo = "MemFree:  100 kB\nMemTotal:       65856624 kB\nBuffers: 1 kB\n";
        assert_eq!(mem_total_kib(meminfo), Some(65_856_624));
        assert_eq!(whole_gib(65_856_624 * 1024), 62);
        assert_eq!(mem_total_kib("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn this_host_is_described() {
        let host = describe_host(Path::new("/")).map_err(|e| e.to_string());
        let host = host.unwrap_or_else(|e| panic!("{e}"));
        assert!(host.vcpu_count >= 1);
        assert!(host.disk_in_gb >= 1);
        assert!(!host.hostname.is_empty());
    }
}
