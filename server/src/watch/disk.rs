//! Free space of the filesystem that holds the relay's data directory.

use std::path::Path;

/// Free space the relay keeps in reserve by default: below it, acts and writing syncs are
/// refused and `/readyz` fails, so the audit records of reads (and of the refusals) still
/// find room, and sled never meets a full disk halfway through a write.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 256 * 1024 * 1024;

/// Bytes an unprivileged writer may still use on the filesystem holding `path` (the blocks
/// reserved for root are not counted: the relay must not live on them).
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(path)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}
