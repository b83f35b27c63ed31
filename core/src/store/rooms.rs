//! Rooms on disk: a compacted snapshot, the incremental chunks written since, and one list
//! summary per report.
//!
//! Persisting never calls `save_incremental()` after a load (Automerge's first call rewrites
//! the whole history): the store remembers the heads it last saved and writes
//! `save_after(those heads)`. Chunks are folded into a new snapshot when they grow past a
//! threshold. Summaries let a room show its newest reports at once while the full document
//! loads only when something needs it.

use super::vault::Vault;
use super::{Backend, SledBackend, Space, Write, key};
use crate::error::{CoreError, Result, StoreError};
use crate::ids::{ReportId, RoomId};
use crate::model::ReportSummary;
use crate::people::RoomKind;
use crate::room::{Room, sort_newest_first};
use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// Fold chunks into a snapshot once there are this many.
pub const COMPACT_AFTER_CHUNKS: u32 = 512;
/// …or once chunks hold this many bytes and more than the snapshot itself.
pub const COMPACT_AFTER_BYTES: u64 = 4 * 1024 * 1024;

/// What the store keeps about a room besides its document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMeta {
    /// The room.
    pub id: RoomId,
    /// Its kind.
    pub kind: RoomKind,
    /// Heads covered by the snapshot and chunks on disk.
    saved_heads: Vec<[u8; 32]>,
    /// Sequence number of the next chunk.
    next_chunk: u64,
    /// Chunks since the snapshot.
    chunk_count: u32,
    /// Bytes in those chunks.
    chunk_bytes: u64,
    /// Bytes of the snapshot.
    snapshot_bytes: u64,
}

impl RoomMeta {
    /// The heads the store has on disk for this room.
    pub fn saved_heads(&self) -> Vec<ChangeHash> {
        self.saved_heads.iter().map(|h| ChangeHash(*h)).collect()
    }

    /// Chunks written since the last snapshot.
    pub fn chunk_count(&self) -> u32 {
        self.chunk_count
    }

    /// Bytes in those chunks.
    pub fn chunk_bytes(&self) -> u64 {
        self.chunk_bytes
    }

    /// Bytes of the last snapshot.
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(v)
        .map_err(|_| CoreError::Store(StoreError::Corrupt("record could not be encoded")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|_| CoreError::Store(StoreError::Corrupt(what)))
}

/// The device's (or relay's) encrypted store of rooms.
#[derive(Clone, Debug)]
pub struct RoomStore {
    vault: Vault,
}

impl RoomStore {
    /// Opens the sled store in `dir` with the 32-byte `store_key`.
    pub fn open(dir: &Path, store_key: &[u8]) -> Result<Self> {
        let backend = SledBackend::open(dir)?;
        Self::with_backend(Arc::new(backend), store_key)
    }

    /// Opens a store over any backend that passes the conformance suite.
    pub fn with_backend(backend: Arc<dyn Backend>, store_key: &[u8]) -> Result<Self> {
        Ok(RoomStore {
            vault: Vault::open(backend, store_key)?,
        })
    }

    /// The vault, for other encrypted records kept beside the rooms (sync state, blobs…).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Every room in the store.
    pub fn rooms(&self) -> Result<Vec<RoomMeta>> {
        let mut out = Vec::new();
        for (k, v) in self.vault.scan_prefix(&key(Space::Meta, &[b"room/"]))? {
            if k.len() == 1 + 5 + 16 {
                out.push(decode(&v, "room metadata")?);
            }
        }
        Ok(out)
    }

    /// Stores a room that is new to this device (created here or first received), durably.
    pub fn add_room(&self, mut room: Room) -> Result<RoomHandle> {
        let id = room.id();
        if self.vault.get(&meta_key(id))?.is_some() {
            return Err(CoreError::Forbidden("the room is already in the store"));
        }
        let snapshot = room.save();
        let heads = room.heads();
        let meta = RoomMeta {
            id,
            kind: room.kind(),
            saved_heads: heads.iter().map(|h| h.0).collect(),
            next_chunk: 0,
            chunk_count: 0,
            chunk_bytes: 0,
            snapshot_bytes: snapshot.len() as u64,
        };
        let mut writes = vec![Write::Put(key(Space::Snapshot, &[id.as_bytes()]), snapshot)];
        for report in room.report_ids()? {
            writes.push(summary_write(&room, id, report)?);
        }
        room.take_touched();
        writes.push(Write::Put(meta_key(id), encode(&meta)?));
        self.vault.apply(writes)?;
        Ok(RoomHandle {
            vault: self.vault.clone(),
            meta,
            room: Some(room),
        })
    }

    /// Opens a room without loading its document: lists come from summaries at once, and the
    /// document loads on first use.
    pub fn open_room(&self, id: RoomId) -> Result<RoomHandle> {
        let meta = self
            .vault
            .get(&meta_key(id))?
            .ok_or(CoreError::NotFound("room"))?;
        Ok(RoomHandle {
            vault: self.vault.clone(),
            meta: decode(&meta, "room metadata")?,
            room: None,
        })
    }

    /// Bytes on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.vault.size_on_disk()?)
    }
}

fn meta_key(id: RoomId) -> Vec<u8> {
    key(Space::Meta, &[b"room/", id.as_bytes()])
}

fn chunk_key(id: RoomId, seq: u64) -> Vec<u8> {
    key(Space::Chunk, &[id.as_bytes(), &seq.to_be_bytes()])
}

fn summary_write(room: &Room, id: RoomId, report: ReportId) -> Result<Write> {
    let summary = room.report_summary(report)?;
    Ok(Write::Put(
        key(Space::Summary, &[id.as_bytes(), report.as_bytes()]),
        encode(&summary)?,
    ))
}

/// An open room. Reads come from summaries until the document is needed; every write is
/// persisted and flushed before the call returns.
pub struct RoomHandle {
    vault: Vault,
    meta: RoomMeta,
    room: Option<Room>,
}

impl std::fmt::Debug for RoomHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomHandle")
            .field("id", &self.meta.id)
            .field("loaded", &self.room.is_some())
            .finish()
    }
}

impl RoomHandle {
    /// The room's id.
    pub fn id(&self) -> RoomId {
        self.meta.id
    }

    /// The room's kind.
    pub fn kind(&self) -> RoomKind {
        self.meta.kind
    }

    /// What the store knows of the room.
    pub fn meta(&self) -> &RoomMeta {
        &self.meta
    }

    /// Whether the full document is in memory.
    pub fn is_loaded(&self) -> bool {
        self.room.is_some()
    }

    /// The newest `n` reports (by post time) from the stored summaries, without the document.
    pub fn newest_reports(&self, n: usize) -> Result<Vec<ReportSummary>> {
        let mut all = self.summaries()?;
        all.truncate(n);
        Ok(all)
    }

    /// Every report's summary, newest first.
    pub fn summaries(&self) -> Result<Vec<ReportSummary>> {
        let prefix = key(Space::Summary, &[self.meta.id.as_bytes()]);
        let mut out = Vec::new();
        for (_, v) in self.vault.scan_prefix(&prefix)? {
            out.push(decode::<ReportSummary>(&v, "report summary")?);
        }
        sort_newest_first(&mut out);
        Ok(out)
    }

    /// The full room, loading the document from disk on first use.
    pub fn room(&mut self) -> Result<&mut Room> {
        if self.room.is_none() {
            let loaded = self.load()?;
            self.room = Some(loaded);
        }
        self.room.as_mut().ok_or(CoreError::NotFound("room"))
    }

    fn load(&mut self) -> Result<Room> {
        let id = self.meta.id;
        let mut bytes = self
            .vault
            .get(&key(Space::Snapshot, &[id.as_bytes()]))?
            .ok_or(StoreError::Corrupt("room snapshot missing"))?;
        for (_, chunk) in self
            .vault
            .scan_prefix(&key(Space::Chunk, &[id.as_bytes()]))?
        {
            bytes.extend_from_slice(&chunk);
        }
        let mut room = Room::load_trusted(id, &bytes)?;
        let heads = room.heads();
        if heads != self.meta.saved_heads() {
            // Chunks always land with their metadata in one batch, so this means the store was
            // written by something else; trust the document and write from its heads onward.
            tracing::warn!(room = %id, "stored heads differ from the loaded document");
            self.meta.saved_heads = heads.iter().map(|h| h.0).collect();
        }
        room.take_touched();
        Ok(room)
    }

    /// Runs a typed write on the room and persists it durably before returning. If the write
    /// fails, nothing it started is kept.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut Room) -> Result<T>) -> Result<T> {
        let room = self.room()?;
        match f(room) {
            Ok(v) => {
                self.persist()?;
                Ok(v)
            }
            Err(e) => {
                room.doc_mut().rollback();
                Err(e)
            }
        }
    }

    /// Merges changes received from elsewhere and persists them durably.
    pub fn apply_remote(&mut self, bytes: &[u8]) -> Result<()> {
        self.room()?.apply(bytes)?;
        self.persist()
    }

    /// Writes what changed since the last persist (one chunk, the touched summaries and the
    /// new heads, in one durable batch), compacting when chunks have grown.
    pub fn persist(&mut self) -> Result<()> {
        let id = self.meta.id;
        let saved = self.meta.saved_heads();
        let Some(room) = self.room.as_mut() else {
            return Ok(());
        };
        let heads = room.heads();
        let touched = room.take_touched();
        if heads == saved && touched.reports.is_empty() {
            return Ok(());
        }
        let mut writes = Vec::new();
        for report in &touched.reports {
            writes.push(summary_write(room, id, *report)?);
        }
        let mut meta = self.meta.clone();
        if heads != saved {
            let chunk = room.save_after(&saved);
            meta.chunk_count += 1;
            meta.chunk_bytes += chunk.len() as u64;
            let compact = meta.chunk_count >= COMPACT_AFTER_CHUNKS
                || (meta.chunk_bytes >= COMPACT_AFTER_BYTES
                    && meta.chunk_bytes > meta.snapshot_bytes);
            if compact {
                let snapshot = room.save();
                for k in self
                    .vault
                    .keys_with_prefix(&key(Space::Chunk, &[id.as_bytes()]))?
                {
                    writes.push(Write::Delete(k));
                }
                meta.snapshot_bytes = snapshot.len() as u64;
                meta.chunk_count = 0;
                meta.chunk_bytes = 0;
                writes.push(Write::Put(key(Space::Snapshot, &[id.as_bytes()]), snapshot));
            } else {
                writes.push(Write::Put(chunk_key(id, meta.next_chunk), chunk));
                meta.next_chunk += 1;
            }
            meta.saved_heads = heads.iter().map(|h| h.0).collect();
        }
        writes.push(Write::Put(meta_key(id), encode(&meta)?));
        self.vault.apply(writes)?;
        self.meta = meta;
        Ok(())
    }

    /// Folds all chunks into one snapshot now (after a large sync, or when the app idles).
    pub fn compact(&mut self) -> Result<()> {
        self.persist()?;
        let id = self.meta.id;
        let Some(room) = self.room.as_mut() else {
            self.room()?;
            return self.compact();
        };
        let snapshot = room.save();
        let mut writes: Vec<Write> = self
            .vault
            .keys_with_prefix(&key(Space::Chunk, &[id.as_bytes()]))?
            .into_iter()
            .map(Write::Delete)
            .collect();
        let mut meta = self.meta.clone();
        meta.snapshot_bytes = snapshot.len() as u64;
        meta.chunk_count = 0;
        meta.chunk_bytes = 0;
        writes.push(Write::Put(key(Space::Snapshot, &[id.as_bytes()]), snapshot));
        writes.push(Write::Put(meta_key(id), encode(&meta)?));
        self.vault.apply(writes)?;
        self.meta = meta;
        Ok(())
    }

    /// Drops the in-memory document (the relay unloads idle rooms; apps under memory pressure).
    pub fn unload(&mut self) -> Result<()> {
        self.persist()?;
        self.room = None;
        Ok(())
    }
}
