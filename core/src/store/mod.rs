//! The local store: a small key-value backend trait, AES-256-GCM sealing of every value, and
//! the room store that persists documents incrementally with list summaries beside them.
//!
//! Layers, bottom up: [`Backend`] (bytes in, bytes out, durable batches; sled today, a
//! server-grade database later) → [`Vault`] (encrypts values, binds each to its key) →
//! [`RoomStore`] (rooms, summaries, compaction). Every backend must pass
//! [`conformance`].

pub mod conformance;
pub mod group_commit;
pub mod rooms;
pub mod sealed;
pub mod sled_backend;
pub mod vault;

pub use rooms::{RoomHandle, RoomMeta, RoomStore, SyncMeta};
/// AES-256-GCM sealing of single values, bound to associated data: the relay seals its
/// directory, journal and backups with it under the same store key as the room documents.
pub use sealed::Sealer;
pub use sled_backend::SledBackend;
pub use vault::Vault;

use crate::error::StoreError;

/// A key and its value.
pub type Pair = (Vec<u8>, Vec<u8>);

/// One write in a batch: put a value, or delete the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Set `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Remove `key` (no error if absent).
    Delete(Vec<u8>),
}

/// A key-value store. Keys sort bytewise; a batch is applied atomically and is durable on disk
/// when `apply` returns — health data is never acknowledged before it is flushed.
pub trait Backend: Send + Sync {
    /// The value at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// All pairs whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, StoreError>;
    /// The last pair whose key starts with `prefix`, if any.
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Pair>, StoreError>;
    /// Applies all writes atomically, then makes them durable before returning.
    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    /// Applies all writes atomically; they become durable at the next [`Backend::flush`]
    /// (or any later durable `apply`). For a caller that answers only after flushing, so
    /// that concurrent writers share one disk write (the relay's sync). By default the same
    /// as `apply`.
    fn apply_unflushed(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply(writes)
    }
    /// Makes every write applied so far durable. By default nothing is left to do.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Bytes the store occupies on disk (for benchmarks and operators).
    fn size_on_disk(&self) -> Result<u64, StoreError>;
}

/// The namespaces of the store; the first byte of every key. Names and ids only, never data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Space {
    /// Store-wide records (the key check) and per-room metadata.
    Meta = 1,
    /// The compacted document of a room.
    Snapshot = 2,
    /// Incremental change chunks written since the snapshot, in sequence.
    Chunk = 3,
    /// Report list rows, so a room lists its newest reports before its document loads.
    Summary = 4,
    /// The search index (`crate::search`): per-document postings, entry lists and texts.
    Search = 5,
    /// Attachment bytes (`crate::blobs`): 256 KiB chunks by content hash and index.
    Blob = 6,
}

/// Builds a key: the space byte followed by the parts.
pub fn key(space: Space, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(space as u8);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}
