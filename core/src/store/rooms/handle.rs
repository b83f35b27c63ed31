//! An open room shared by every holder in the process: reads from summaries until the
//! document is needed, writes persisted before they return, compaction when chunks pile up.

use super::{
    COMPACT_AFTER_BYTES, COMPACT_AFTER_CHUNKS, COMPACT_ON_LOAD, LOAD_BATCH, RoomMeta, chunk_key,
    decode, encode, meta_key, summary_write,
};
use crate::error::{CoreError, Result, StoreError};
use crate::ids::RoomId;
use crate::model::ReportSummary;
use crate::people::RoomKind;
use crate::room::{Room, sort_newest_first};
use crate::store::vault::Vault;
use crate::store::{Space, Write, key};
use automerge::ChangeHash;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};

/// An open room, shared by every holder in the process. Reads come from summaries until the
/// document is needed; every write is persisted and flushed before the call returns.
#[derive(Clone)]
pub struct RoomHandle {
    pub(super) id: RoomId,
    pub(super) inner: Arc<Mutex<Open>>,
}

/// What a handle shares: the vault, the room's metadata, the document once loaded, and whether
/// the room was removed meanwhile.
pub(super) struct Open {
    pub(super) vault: Vault,
    pub(super) meta: RoomMeta,
    pub(super) room: Option<Room>,
    pub(super) removed: bool,
    pub(super) track_pending: bool,
    pub(super) on_stored: Option<super::StoredHook>,
}

impl std::fmt::Debug for RoomHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomHandle").field("id", &self.id).finish()
    }
}

impl RoomHandle {
    /// Locks the shared state. After a panic while it was held (poisoned), the in-memory
    /// document may be half-changed, so it is dropped and reloaded from disk on next use.
    fn lock(&self) -> MutexGuard<'_, Open> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                g.room = None;
                g
            }
        }
    }

    /// The room's id.
    pub fn id(&self) -> RoomId {
        self.id
    }

    /// The room's kind.
    pub fn kind(&self) -> RoomKind {
        self.lock().meta.kind
    }

    /// What the store knows of the room (a copy).
    pub fn meta(&self) -> RoomMeta {
        self.lock().meta.clone()
    }

    /// Whether the full document is in memory.
    pub fn is_loaded(&self) -> bool {
        self.lock().room.is_some()
    }

    /// The newest `n` reports (by post time) from the stored summaries, without the document.
    pub fn newest_reports(&self, n: usize) -> Result<Vec<ReportSummary>> {
        let mut all = self.summaries()?;
        all.truncate(n);
        Ok(all)
    }

    /// Every report's summary in this document, newest first.
    pub fn summaries(&self) -> Result<Vec<ReportSummary>> {
        let vault = self.lock().vault.clone();
        let prefix = key(Space::Summary, &[self.id.as_bytes()]);
        let mut out = Vec::new();
        for (_, v) in vault.scan_prefix(&prefix)? {
            out.push(decode::<ReportSummary>(&v, "report summary")?);
        }
        sort_newest_first(&mut out);
        Ok(out)
    }

    /// Runs `f` on the full room, loading the document from disk on first use. Changes made
    /// by `f` are not persisted: use [`RoomHandle::write`] for writes.
    pub fn read<T>(&self, f: impl FnOnce(&mut Room) -> Result<T>) -> Result<T> {
        let mut open = self.lock();
        let room = open.loaded()?;
        f(room)
    }

    /// Runs a typed write on the room and persists it durably before returning. If the write
    /// fails, nothing it started is kept.
    pub fn write<T>(&self, f: impl FnOnce(&mut Room) -> Result<T>) -> Result<T> {
        self.write_with(f, true)
    }

    /// Like [`RoomHandle::write`], but returns once the write is in the store and before it
    /// is on disk, so the room's lock is not held through a disk flush. The caller must call
    /// [`RoomStore::flush`](super::RoomStore::flush) before it acknowledges the write, or sends anything it read from
    /// this room, to anyone. The relay's sync does: concurrent syncs then share one flush
    /// instead of each holding its room while waiting for its own.
    pub fn write_unflushed<T>(&self, f: impl FnOnce(&mut Room) -> Result<T>) -> Result<T> {
        self.write_with(f, false)
    }

    fn write_with<T>(&self, f: impl FnOnce(&mut Room) -> Result<T>, flush: bool) -> Result<T> {
        let mut open = self.lock();
        let room = open.loaded()?;
        let result = f(room);
        if room.is_poisoned() {
            // Automerge panicked inside `f` and `f` caught it: the document may be
            // half-changed. Keep nothing of it; the next use loads it from storage.
            open.room = None;
            return result;
        }
        match result {
            Ok(v) => {
                if let Err(e) = open.persist_with(flush) {
                    // What `f` merged was not stored: keep none of it in memory either, or the
                    // next write would store it without its caller ever learning of it.
                    open.room = None;
                    return Err(e);
                }
                Ok(v)
            }
            Err(e) => {
                room.doc_mut().rollback();
                Err(e)
            }
        }
    }

    /// Merges changes received from elsewhere and persists them durably.
    pub fn apply_remote(&self, bytes: &[u8]) -> Result<()> {
        let mut open = self.lock();
        open.loaded()?.apply(bytes)?;
        open.persist()
    }

    /// Updates the sync bookkeeping (relay heads, refusal, fallback state) durably.
    pub fn update_sync(&self, f: impl FnOnce(&mut SyncMeta<'_>)) -> Result<()> {
        let mut open = self.lock();
        let mut meta = open.meta.clone();
        f(&mut SyncMeta { meta: &mut meta });
        if let Some(room) = open.room.as_mut() {
            let relay = meta.relay_heads();
            meta.pending =
                u32::try_from(room.doc_mut().get_changes_meta(&relay).len()).unwrap_or(u32::MAX);
        }
        open.vault
            .apply(vec![Write::Put(meta_key(self.id), encode(&meta)?)])?;
        open.meta = meta;
        Ok(())
    }

    /// Writes what changed since the last persist.
    pub fn persist(&self) -> Result<()> {
        self.lock().persist()
    }

    /// Folds all chunks into one snapshot now (after a large sync, or when the app idles).
    pub fn compact(&self) -> Result<()> {
        let mut open = self.lock();
        open.loaded()?;
        open.persist()?;
        open.compact().map(drop)
    }

    /// Drops the in-memory document (the relay unloads idle rooms; apps under memory pressure).
    pub fn unload(&self) -> Result<()> {
        let mut open = self.lock();
        open.persist()?;
        open.room = None;
        Ok(())
    }
}

/// The sync fields of a room's metadata, changed only through [`RoomHandle::update_sync`].
pub struct SyncMeta<'a> {
    meta: &'a mut RoomMeta,
}

impl SyncMeta<'_> {
    /// The relay now holds exactly these heads, all of which are also here.
    pub fn set_relay_heads(&mut self, heads: &[ChangeHash]) {
        self.meta.relay_heads = heads.iter().map(|h| h.0).collect();
        self.meta.relay_has = true;
    }

    /// The relay does not hold this document (it answered `Gone` for a restricted document
    /// whose room it still serves: it was restored from a backup older than the document).
    /// The next request names the document's scope again, so the relay makes it anew and
    /// the fallback brings back what it held.
    pub fn set_relay_lacks(&mut self) {
        self.meta.relay_has = false;
    }

    /// Records (or clears) the relay's refusal.
    pub fn set_refusal(&mut self, reason: Option<String>) {
        self.meta.refusal = reason;
    }

    /// Stores the fallback sync state and the next message to send.
    pub fn set_fallback(&mut self, state: Option<Vec<u8>>, outgoing: Option<Vec<u8>>) {
        self.meta.sync_state = state;
        self.meta.outgoing = outgoing;
    }
}

impl Open {
    fn loaded(&mut self) -> Result<&mut Room> {
        if self.removed {
            return Err(CoreError::NotFound("room"));
        }
        if self.room.is_none() {
            let loaded = self.load()?;
            self.room = Some(loaded);
            if self.meta.chunk_count >= COMPACT_ON_LOAD {
                let snapshot = self.compact()?;
                self.room = Some(Room::load_trusted(self.meta.id, &snapshot)?);
            }
        }
        self.room.as_mut().ok_or(CoreError::NotFound("room"))
    }

    fn load(&mut self) -> Result<Room> {
        let id = self.meta.id;
        let snapshot = self
            .vault
            .get(&key(Space::Snapshot, &[id.as_bytes()]))?
            .ok_or(StoreError::Corrupt("room snapshot missing"))?;
        let mut room = Room::load_trusted(id, &snapshot)?;
        // Chunks a few at a time (`LOAD_BATCH`): Automerge 0.12 merging many changes in one
        // batch keeps several times the memory.
        let chunks = self
            .vault
            .scan_prefix(&key(Space::Chunk, &[id.as_bytes()]))?;
        for batch in chunks.chunks(LOAD_BATCH) {
            let bytes: Vec<u8> = batch.iter().flat_map(|(_, c)| c.iter().copied()).collect();
            room.doc_mut().load_incremental(&bytes)?;
        }
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

    /// Writes what changed since the last persist (one chunk, the touched summaries and the
    /// new heads, in one durable batch), compacting when chunks have grown.
    fn persist(&mut self) -> Result<()> {
        self.persist_with(true)
    }

    /// [`Open::persist`], flushed to disk only if `flush`.
    fn persist_with(&mut self, flush: bool) -> Result<()> {
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
            let new = room.changes_after(&saved);
            if let Some(hook) = &self.on_stored {
                let hashes: Vec<ChangeHash> = new.iter().map(automerge::Change::hash).collect();
                hook(id, &hashes, flush)?;
            }
            let chunk = crate::room::recent::chunk_of(&new);
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
            if self.track_pending {
                // The relay's heads change only through `update_sync`, which recounts; here
                // the changes since the last persist are added. Counting the whole change
                // graph instead made every write on a large never-synced room slow (W1), and
                // rebuilding the changes with `get_changes` slower still. Changes merged from the
                // relay count until the sync that brought them records its heads.
                meta.pending = meta
                    .pending
                    .saturating_add(u32::try_from(new.len()).unwrap_or(u32::MAX));
            }
        }
        writes.push(Write::Put(meta_key(id), encode(&meta)?));
        if flush {
            self.vault.apply(writes)?;
        } else {
            self.vault.apply_unflushed(writes)?;
        }
        self.meta = meta;
        Ok(())
    }

    /// Folds the chunks into one snapshot; returns the snapshot (empty if not loaded).
    fn compact(&mut self) -> Result<Vec<u8>> {
        let id = self.meta.id;
        let Some(room) = self.room.as_mut() else {
            return Ok(Vec::new());
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
        writes.push(Write::Put(
            key(Space::Snapshot, &[id.as_bytes()]),
            snapshot.clone(),
        ));
        writes.push(Write::Put(meta_key(id), encode(&meta)?));
        self.vault.apply(writes)?;
        self.meta = meta;
        Ok(snapshot)
    }
}
