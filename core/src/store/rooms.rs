//! Rooms on disk: a compacted snapshot, the incremental chunks written since, and one list
//! summary per report.
//!
//! Persisting never calls `save_incremental()` after a load (Automerge's first call rewrites
//! the whole history): the store remembers the heads it last saved and writes
//! `save_after(those heads)`. Chunks are folded into a new snapshot when they grow past a
//! threshold. Summaries let a room show its newest reports at once while the full document
//! loads only when something needs it.

use super::group_commit::GroupCommit;
use super::vault::Vault;
use super::{Backend, SledBackend, Space, Write, key};
use crate::error::{CoreError, Result, StoreError};
use crate::ids::{ReportId, RoomId};
use crate::model::ReportSummary;
use crate::people::RoomKind;
use crate::room::{Room, Scope, sort_newest_first};
use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, Weak};

/// Fold chunks into a snapshot once there are this many.
pub const COMPACT_AFTER_CHUNKS: u32 = 512;
/// Stored chunks merged per Automerge call when a room loads: Automerge 0.12 merging many
/// changes in one batch keeps several times the memory (a one-year relay room with 90
/// chunks took 25 MB loaded in one batch, 4 MB from a snapshot), one by one is three times
/// slower.
const LOAD_BATCH: usize = 8;
/// A room loaded with at least this many chunks is compacted at once and loaded again from
/// its new snapshot: smaller in memory now and quicker to load next time.
const COMPACT_ON_LOAD: u32 = 32;
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
    /// For a restricted document, its patient room and audience.
    pub scope: Option<Scope>,
    /// The relay's heads as last seen: everything up to them is on both sides.
    relay_heads: Vec<[u8; 32]>,
    /// Whether the relay has confirmed it holds this document.
    relay_has: bool,
    /// Local changes the relay has not acknowledged yet.
    pending: u32,
    /// Why the relay refused this document's changes, if it did.
    refusal: Option<String>,
    /// Automerge sync state while in the fallback protocol.
    sync_state: Option<Vec<u8>>,
    /// The sync message to send on the next request (fallback protocol).
    outgoing: Option<Vec<u8>>,
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

    /// The relay's heads as last seen.
    pub fn relay_heads(&self) -> Vec<ChangeHash> {
        self.relay_heads.iter().map(|h| ChangeHash(*h)).collect()
    }

    /// Whether the relay has confirmed it holds this document.
    pub fn relay_has(&self) -> bool {
        self.relay_has
    }

    /// Local changes not yet acknowledged by the relay (what the app shows as "pending").
    pub fn pending(&self) -> u32 {
        self.pending
    }

    /// The relay's reason for refusing this document's changes, if it did.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    /// The fallback sync state, if any.
    pub fn sync_state(&self) -> Option<&[u8]> {
        self.sync_state.as_deref()
    }

    /// The fallback sync message waiting to be sent, if any.
    pub fn outgoing(&self) -> Option<&[u8]> {
        self.outgoing.as_deref()
    }

    /// Whether anything must go to the relay: unacknowledged changes, a new document, or a
    /// fallback message.
    pub fn needs_upload(&self) -> bool {
        self.saved_heads != self.relay_heads || !self.relay_has || self.outgoing.is_some()
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
#[derive(Clone)]
pub struct RoomStore {
    vault: Vault,
    /// Rooms open somewhere in this process: one in-memory copy per room, shared by every
    /// handle, dropped when the last handle goes.
    open: Arc<Mutex<HashMap<RoomId, Weak<Mutex<Open>>>>>,
    /// The folder of a sled store (attachment files live beside it).
    dir: Option<std::path::PathBuf>,
    /// Whether writes count changes the relay has not acknowledged (devices only; the relay
    /// *is* the relay, and counting would walk a room's whole history on every write).
    track_pending: bool,
    /// Shares [`RoomStore::flush`] between concurrent callers.
    commit: Arc<GroupCommit>,
}

impl std::fmt::Debug for RoomStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomStore(..)")
    }
}

impl RoomStore {
    /// Opens the sled store in `dir` with the 32-byte `store_key`.
    pub fn open(dir: &Path, store_key: &[u8]) -> Result<Self> {
        let backend = SledBackend::open(dir)?;
        let mut store = Self::with_backend(Arc::new(backend), store_key)?;
        store.dir = Some(dir.to_path_buf());
        Ok(store)
    }

    /// The store's folder, when it is a sled store on disk.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Opens a store over any backend that passes the conformance suite.
    pub fn with_backend(backend: Arc<dyn Backend>, store_key: &[u8]) -> Result<Self> {
        Ok(RoomStore {
            vault: Vault::open(backend, store_key)?,
            open: Arc::default(),
            dir: None,
            track_pending: true,
            commit: Arc::default(),
        })
    }

    /// The same store as kept by the relay: no "pending upload" bookkeeping on writes.
    pub fn relay_side(mut self) -> Self {
        self.track_pending = false;
        self
    }

    /// The vault, for other encrypted records kept beside the rooms (sync state, blobs…).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Makes every write so far durable, including those of
    /// [`RoomHandle::write_unflushed`]. Concurrent callers share one flush.
    pub fn flush(&self) -> Result<()> {
        Ok(self.commit.flush(|| self.vault.flush())?)
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

    /// Stores a room that is new to this device (created here), durably. The relay can always
    /// rebuild a room's genesis, so the relay's heads start at the genesis change.
    pub fn add_room(&self, room: Room) -> Result<RoomHandle> {
        let mut genesis = match room.scope() {
            Some(scope) => Room::new_scoped(scope.clone()),
            None => Room::new(room.id(), room.kind()),
        };
        let relay_heads = genesis.heads();
        self.insert(room, relay_heads, false)
    }

    /// Stores a room first received from the relay, whose heads it already holds.
    pub fn add_synced_room(&self, room: Room, relay_heads: Vec<ChangeHash>) -> Result<RoomHandle> {
        self.insert(room, relay_heads, true)
    }

    fn insert(
        &self,
        mut room: Room,
        relay_heads: Vec<ChangeHash>,
        relay_has: bool,
    ) -> Result<RoomHandle> {
        let id = room.id();
        let mut open = lock(&self.open);
        if self.vault.get(&meta_key(id))?.is_some() {
            return Err(CoreError::Forbidden("the room is already in the store"));
        }
        let snapshot = room.save();
        let heads = room.heads();
        let pending = if self.track_pending {
            u32::try_from(room.doc_mut().get_changes_meta(&relay_heads).len()).unwrap_or(u32::MAX)
        } else {
            0
        };
        let meta = RoomMeta {
            id,
            kind: room.kind(),
            saved_heads: heads.iter().map(|h| h.0).collect(),
            next_chunk: 0,
            chunk_count: 0,
            chunk_bytes: 0,
            snapshot_bytes: snapshot.len() as u64,
            scope: room.scope().cloned(),
            relay_heads: relay_heads.iter().map(|h| h.0).collect(),
            relay_has,
            pending,
            refusal: None,
            sync_state: None,
            outgoing: None,
        };
        let mut writes = vec![Write::Put(key(Space::Snapshot, &[id.as_bytes()]), snapshot)];
        for report in room.report_ids()? {
            writes.push(summary_write(&room, id, report)?);
        }
        room.take_touched();
        writes.push(Write::Put(meta_key(id), encode(&meta)?));
        self.vault.apply(writes)?;
        let inner = Arc::new(Mutex::new(Open {
            vault: self.vault.clone(),
            meta,
            room: Some(room),
            removed: false,
            track_pending: self.track_pending,
        }));
        open.insert(id, Arc::downgrade(&inner));
        Ok(RoomHandle { id, inner })
    }

    /// Opens a room without loading its document: lists come from summaries at once, and the
    /// document loads on first use. Every handle to a room shares one in-memory copy.
    pub fn open_room(&self, id: RoomId) -> Result<RoomHandle> {
        let mut open = lock(&self.open);
        if let Some(inner) = open.get(&id).and_then(Weak::upgrade) {
            return Ok(RoomHandle { id, inner });
        }
        let meta = self
            .vault
            .get(&meta_key(id))?
            .ok_or(CoreError::NotFound("room"))?;
        let meta: RoomMeta = decode(&meta, "room metadata")?;
        let inner = Arc::new(Mutex::new(Open {
            vault: self.vault.clone(),
            meta,
            room: None,
            removed: false,
            track_pending: self.track_pending,
        }));
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(id, Arc::downgrade(&inner));
        Ok(RoomHandle { id, inner })
    }

    /// The document a report of `scope` belongs in: the room itself for everyone, or the
    /// restricted document of exactly that audience (the author included), created if new.
    pub fn doc_for_report(
        &self,
        room: RoomId,
        author: crate::ids::ProfessionalId,
        scope: &crate::model::ShareScope,
    ) -> Result<RoomHandle> {
        match scope {
            crate::model::ShareScope::All => self.open_room(room),
            crate::model::ShareScope::Members { members } => {
                let mut audience = members.clone();
                audience.push(author);
                let scope = Scope::new(room, audience);
                match self.open_room(scope.doc_id()) {
                    Ok(h) => Ok(h),
                    Err(CoreError::NotFound(_)) => self.add_room(Room::new_scoped(scope)),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Ids of the restricted documents of a patient room held here.
    pub fn scoped_docs(&self, room: RoomId) -> Result<Vec<RoomId>> {
        Ok(self
            .rooms()?
            .into_iter()
            .filter(|m| m.scope.as_ref().is_some_and(|s| s.parent == room))
            .map(|m| m.id)
            .collect())
    }

    /// The newest `n` reports of a patient room across its main and restricted documents.
    pub fn room_reports(&self, room: RoomId, n: usize) -> Result<Vec<ReportSummary>> {
        let mut all = self.open_room(room)?.summaries()?;
        for doc in self.scoped_docs(room)? {
            all.extend(self.open_room(doc)?.summaries()?);
        }
        sort_newest_first(&mut all);
        all.truncate(n);
        Ok(all)
    }

    /// Deletes a room and everything stored for it (the relay said this device may no longer
    /// see it, or the app wipes it). Open handles stop working.
    pub fn remove_room(&self, id: RoomId) -> Result<()> {
        let mut open = lock(&self.open);
        let mut writes = vec![
            Write::Delete(meta_key(id)),
            Write::Delete(key(Space::Snapshot, &[id.as_bytes()])),
        ];
        for space in [Space::Chunk, Space::Summary] {
            for k in self.vault.keys_with_prefix(&key(space, &[id.as_bytes()]))? {
                writes.push(Write::Delete(k));
            }
        }
        self.vault.apply(writes)?;
        if let Some(inner) = open.remove(&id).and_then(|w| w.upgrade()) {
            let mut o = lock(&inner);
            o.room = None;
            o.removed = true;
        }
        Ok(())
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

/// Locks a mutex even if a panic poisoned it: the data behind our mutexes is reloaded from
/// disk rather than trusted after a panic (see `RoomHandle::lock`).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn summary_write(room: &Room, id: RoomId, report: ReportId) -> Result<Write> {
    let summary = room.report_summary(report)?;
    Ok(Write::Put(
        key(Space::Summary, &[id.as_bytes(), report.as_bytes()]),
        encode(&summary)?,
    ))
}

/// An open room, shared by every holder in the process. Reads come from summaries until the
/// document is needed; every write is persisted and flushed before the call returns.
#[derive(Clone)]
pub struct RoomHandle {
    id: RoomId,
    inner: Arc<Mutex<Open>>,
}

struct Open {
    vault: Vault,
    meta: RoomMeta,
    room: Option<Room>,
    removed: bool,
    track_pending: bool,
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
    /// [`RoomStore::flush`] before it acknowledges the write, or sends anything it read from
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
                open.persist_with(flush)?;
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
        // Chunks one at a time: Automerge 0.12 merging many changes in one batch keeps several
        // times the memory (a one-year relay room with 90 chunks took 18 MB instead of 4 MB).
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
                // graph instead cost 28 ms per write on W1's never-synced ten-year room (and
                // rebuilding the changes with `get_changes`, 275 ms). Changes merged from the
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
