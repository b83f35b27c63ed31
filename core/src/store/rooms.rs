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

mod handle;

use handle::Open;
pub use handle::{RoomHandle, SyncMeta};

/// Fold chunks into a snapshot once there are this many.
pub const COMPACT_AFTER_CHUNKS: u32 = 512;
/// Stored chunks merged per Automerge call when a room loads: Automerge 0.12 merging many
/// changes in one batch keeps several times the memory, and merging them one by one is
/// several times slower (figures: docs/benchmarks.md).
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
    /// Told of every change before it is stored (the relay's ledger of stored changes).
    on_stored: Option<StoredHook>,
}

/// Called with a room's id and the hashes of the changes about to be stored for it, and
/// whether this write is flushed at once. Returning an error stops the write: the relay keeps
/// a ledger of every change it stores, written ahead of the store, so a relay restored from a
/// backup can tell changes it acknowledged from changes it never saw.
pub type StoredHook = Arc<dyn Fn(RoomId, &[ChangeHash], bool) -> Result<()> + Send + Sync>;

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
            on_stored: None,
        })
    }

    /// The same store as kept by the relay: no "pending upload" bookkeeping on writes.
    pub fn relay_side(mut self) -> Self {
        self.track_pending = false;
        self
    }

    /// The same store, telling `hook` of every change before it is stored (see
    /// [`StoredHook`]). Handles opened afterwards carry the hook.
    pub fn on_stored(mut self, hook: StoredHook) -> Self {
        self.on_stored = Some(hook);
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
            None => Room::new(room.doc_id(), room.kind()),
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
        let id = room.doc_id();
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
            on_stored: self.on_stored.clone(),
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
            on_stored: self.on_stored.clone(),
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
