//! Keeping the store's size in bounds: the phone's download cache evicted least recently used
//! first, the relay's abandoned uploads expired, and each device's pending bytes counted.

use crate::error::Result;
use crate::ids::DeviceId;
use crate::time::Timestamp;

use super::{BlobMeta, BlobStore};

impl BlobStore {
    /// Bytes held by all blobs.
    pub fn stored_bytes(&self) -> Result<u64> {
        Ok(self.list()?.iter().map(|m| m.stored).sum())
    }

    /// Evicts downloaded blobs, least recently used first, until at most `limit` bytes are
    /// held. Blobs waiting for upload are never evicted. Returns the bytes freed.
    pub fn evict_to(&self, limit: u64) -> Result<u64> {
        let all = self.list()?;
        let mut total: u64 = all.iter().map(|m| m.stored).sum();
        let mut candidates: Vec<&BlobMeta> = all.iter().filter(|m| m.upload.is_none()).collect();
        candidates.sort_by_key(|m| m.last_used);
        let mut freed = 0;
        for m in candidates {
            if total <= limit {
                break;
            }
            self.delete(&m.hash)?;
            total -= m.stored;
            freed += m.stored;
        }
        Ok(freed)
    }

    /// Deletes incomplete blobs created before `before` (abandoned uploads on the relay).
    pub fn expire_incomplete(&self, before: Timestamp) -> Result<usize> {
        let mut n = 0;
        for m in self.list()? {
            if !m.complete && m.created < before {
                self.delete(&m.hash)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Bytes of incomplete uploads by `device` (for its quota on the relay).
    pub fn pending_bytes_of(&self, device: DeviceId) -> Result<u64> {
        Ok(self
            .list()?
            .iter()
            .filter(|m| !m.complete && m.uploader == Some(device))
            .map(|m| m.size)
            .sum())
    }
}
