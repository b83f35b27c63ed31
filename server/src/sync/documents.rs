//! The relay's room documents: the encrypted store, rooms loaded on demand and unloaded when
//! idle or over the memory budget, one lock per patient room (its main document and its
//! restricted documents share it, because they share one post-number sequence), and the
//! post-number counters.

use kizuna_core::room::Scope;
use kizuna_core::{CoreError, Room, RoomHandle, RoomId, RoomKind, RoomStore};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How many documents and saved bytes may stay loaded, and for how long unused.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    /// Most documents kept in memory.
    pub max_docs: usize,
    /// Most saved bytes (snapshot plus chunks) of the documents kept in memory. A loaded
    /// Automerge document takes a few dozen times its saved size.
    pub max_saved_bytes: u64,
    /// A document unused this long is unloaded.
    pub idle: Duration,
}

impl Default for MemoryBudget {
    /// Sized for a city's morning (W3): a thousand phones keep about a thousand one-year rooms
    /// busy (≈ 145 KB saved, ≈ 4–6 MB loaded each). Below that, rooms in use were unloaded
    /// every sweep and loaded again on the next sync. At most ≈ 3–5 GB while busy; idle
    /// rooms leave after a minute.
    fn default() -> Self {
        MemoryBudget {
            max_docs: 2048,
            max_saved_bytes: 128 * 1024 * 1024,
            idle: Duration::from_secs(60),
        }
    }
}

/// The per-patient-room state behind its lock.
#[derive(Debug, Default)]
pub struct RoomState {
    /// The last post number given in this room, once read from the stored reports.
    last_post_no: Option<u64>,
}

struct Loaded {
    handle: RoomHandle,
    used: Instant,
    saved_bytes: u64,
}

struct Inner {
    store: RoomStore,
    budget: MemoryBudget,
    loaded: Mutex<HashMap<RoomId, Loaded>>,
    locks: Mutex<HashMap<RoomId, Arc<Mutex<RoomState>>>>,
    /// Restricted documents by patient room (built at start from the store's metadata).
    scoped: Mutex<HashMap<RoomId, Vec<Scope>>>,
}

/// The relay's documents. Cheap to clone.
#[derive(Clone)]
pub struct Documents {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Documents(..)")
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads (or creates, owner-only) the 32-byte key of the relay's store.
pub fn load_or_create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} is readable by others (mode {:o}); run chmod 600 on it",
                    path.display(),
                    mode & 0o777
                ),
            ));
        }
        let key = std::fs::read(path)?;
        if key.len() != 32 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} must hold exactly 32 bytes", path.display()),
            ));
        }
        return Ok(key);
    }
    let mut key = vec![0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| std::io::Error::other("no randomness for the store key"))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(&key)?;
        f.sync_all()?;
    }
    Ok(key)
}

impl Documents {
    /// Opens the relay's store in `dir` with `key`, and starts the thread that unloads idle
    /// documents (it stops when the last clone is dropped).
    pub fn open(dir: &Path, key: &[u8], budget: MemoryBudget) -> Result<Documents, CoreError> {
        Self::open_with(dir, key, budget, None)
    }

    /// [`Documents::open`], telling `on_stored` of every change before it is stored (the
    /// relay's ledger, see `recovery`).
    pub fn open_with(
        dir: &Path,
        key: &[u8],
        budget: MemoryBudget,
        on_stored: Option<kizuna_core::store::rooms::StoredHook>,
    ) -> Result<Documents, CoreError> {
        let mut store = RoomStore::open(dir, key)?.relay_side();
        if let Some(hook) = on_stored {
            store = store.on_stored(hook);
        }
        let mut scoped: HashMap<RoomId, Vec<Scope>> = HashMap::new();
        for meta in store.rooms()? {
            if let Some(s) = meta.scope {
                scoped.entry(s.parent).or_default().push(s);
            }
        }
        let inner = Arc::new(Inner {
            store,
            budget,
            loaded: Mutex::default(),
            locks: Mutex::default(),
            scoped: Mutex::new(scoped),
        });
        let weak = Arc::downgrade(&inner);
        let tick = (inner.budget.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let _ = std::thread::Builder::new()
            .name("kizuna-unload".into())
            .spawn(move || sweeper(&weak, tick));
        Ok(Documents { inner })
    }

    /// The underlying store.
    pub fn store(&self) -> &RoomStore {
        &self.inner.store
    }

    /// The lock of a patient room (restricted documents use their parent's).
    pub fn room_lock(&self, room: RoomId) -> Arc<Mutex<RoomState>> {
        lock(&self.inner.locks).entry(room).or_default().clone()
    }

    /// A document by id, if the relay holds it, marked as used.
    pub fn get(&self, id: RoomId) -> Result<Option<RoomHandle>, CoreError> {
        if let Some(l) = lock(&self.inner.loaded).get_mut(&id) {
            l.used = Instant::now();
            return Ok(Some(l.handle.clone()));
        }
        match self.inner.store.open_room(id) {
            Ok(h) => {
                self.keep(&h);
                Ok(Some(h))
            }
            Err(CoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a directory room's document (its genesis) if the relay has none yet; `init`
    /// writes the relay's first changes (members, consent) into a new one.
    pub fn get_or_create(
        &self,
        id: RoomId,
        kind: RoomKind,
        init: impl FnOnce(&mut Room) -> Result<(), CoreError>,
    ) -> Result<RoomHandle, CoreError> {
        if let Some(h) = self.get(id)? {
            return Ok(h);
        }
        let mut room = Room::new(id, kind);
        init(&mut room)?;
        self.add(room)
    }

    /// Creates a restricted document for `scope`, if new.
    pub fn get_or_create_scoped(&self, scope: &Scope) -> Result<RoomHandle, CoreError> {
        if let Some(h) = self.get(scope.doc_id())? {
            return Ok(h);
        }
        let h = self.add(Room::new_scoped(scope.clone()))?;
        lock(&self.inner.scoped)
            .entry(scope.parent)
            .or_default()
            .push(scope.clone());
        Ok(h)
    }

    fn add(&self, mut room: Room) -> Result<RoomHandle, CoreError> {
        let id = room.doc_id();
        let heads = room.heads();
        let h = match self.inner.store.add_synced_room(room, heads) {
            Ok(h) => h,
            // Two requests raced to create it: the other one won, use its document.
            Err(CoreError::Forbidden(_)) => {
                return self.get(id)?.ok_or(CoreError::NotFound("room"));
            }
            Err(e) => return Err(e),
        };
        self.keep(&h);
        Ok(h)
    }

    /// Puts a document from a backup (`bytes`: a whole save) into a store that lacks it: a
    /// restore, with the relay stopped.
    pub fn restore(
        &self,
        id: RoomId,
        kind: RoomKind,
        scope: Option<&Scope>,
        bytes: &[u8],
    ) -> Result<RoomHandle, CoreError> {
        // Verified like bytes from the network: a backup file is not authenticated.
        let room = Room::load(id, bytes)
            .map_err(|_| CoreError::Malformed("a backed-up document could not be read"))?;
        if room.kind() != kind || room.scope() != scope {
            return Err(CoreError::Malformed(
                "a backed-up document is not the one it names",
            ));
        }
        let h = self.add(room)?;
        if let Some(s) = scope {
            lock(&self.inner.scoped)
                .entry(s.parent)
                .or_default()
                .push(s.clone());
        }
        Ok(h)
    }

    /// The restricted documents of a patient room.
    pub fn scopes_of(&self, room: RoomId) -> Vec<Scope> {
        lock(&self.inner.scoped)
            .get(&room)
            .cloned()
            .unwrap_or_default()
    }

    /// The last post number given in `room`, read once from its stored report summaries
    /// (main and restricted documents) and then kept under the room lock.
    pub fn last_post_no(&self, state: &mut RoomState, room: RoomId) -> Result<u64, CoreError> {
        if let Some(n) = state.last_post_no {
            return Ok(n);
        }
        let mut max = 0;
        let mut docs = vec![room];
        docs.extend(self.scopes_of(room).iter().map(Scope::doc_id));
        for doc in docs {
            if let Some(h) = self.get(doc)? {
                match h.summaries() {
                    Ok(list) => {
                        for s in list {
                            max = max.max(s.post_no.unwrap_or(0));
                        }
                    }
                    // A report the reader cannot read (stored before the relay checked) must
                    // not stop the room's numbering: read the numbers alone.
                    Err(_) => max = max.max(h.read(|r| Ok(r.highest_post_no()))?),
                }
            }
        }
        state.last_post_no = Some(max);
        Ok(max)
    }

    /// Records the last post number given (after the document holding it was persisted).
    pub fn set_last_post_no(state: &mut RoomState, n: u64) {
        state.last_post_no = Some(n);
    }

    /// Forgets a cached counter (when a write failed after numbers were handed out).
    pub fn forget_post_no(state: &mut RoomState) {
        state.last_post_no = None;
    }

    /// How many documents are loaded now.
    pub fn loaded_count(&self) -> usize {
        lock(&self.inner.loaded)
            .values()
            .filter(|l| l.handle.is_loaded())
            .count()
    }

    /// Unloads every document not used within the idle time, then the least recently used
    /// ones while over the budget. Returns how many were unloaded.
    pub fn sweep(&self) -> usize {
        sweep(&self.inner)
    }

    fn keep(&self, h: &RoomHandle) {
        let meta = h.meta();
        let saved_bytes = meta.snapshot_bytes() + meta.chunk_bytes();
        lock(&self.inner.loaded).insert(
            h.id(),
            Loaded {
                handle: h.clone(),
                used: Instant::now(),
                saved_bytes,
            },
        );
    }
}

fn sweeper(weak: &Weak<Inner>, tick: Duration) {
    loop {
        std::thread::sleep(tick);
        let Some(inner) = weak.upgrade() else {
            return;
        };
        sweep(&inner);
    }
}

fn sweep(inner: &Inner) -> usize {
    let mut victims = Vec::new();
    {
        let mut loaded = lock(&inner.loaded);
        let now = Instant::now();
        let idle = inner.budget.idle;
        loaded.retain(|_, l| {
            if now.duration_since(l.used) >= idle {
                victims.push(l.handle.clone());
                false
            } else {
                true
            }
        });
        let mut by_age: Vec<(Instant, RoomId, u64)> = loaded
            .iter()
            .map(|(id, l)| (l.used, *id, l.saved_bytes))
            .collect();
        by_age.sort();
        let mut count = loaded.len();
        let mut bytes: u64 = by_age.iter().map(|x| x.2).sum();
        for (_, id, b) in by_age {
            if count <= inner.budget.max_docs && bytes <= inner.budget.max_saved_bytes {
                break;
            }
            if let Some(l) = loaded.remove(&id) {
                victims.push(l.handle);
            }
            count -= 1;
            bytes = bytes.saturating_sub(b);
        }
    }
    let n = victims.len();
    for h in victims {
        // Waits for a request still using the document, then drops it from memory; every
        // write was persisted already, so this loses nothing.
        if let Err(e) = h.unload() {
            tracing::warn!(room = %h.id(), error = %e, "unloading a room failed");
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_over_budget_documents_are_unloaded_and_reload_intact() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget {
            max_docs: 2,
            max_saved_bytes: u64::MAX,
            idle: Duration::from_secs(3600),
        };
        let docs = Documents::open(dir.path(), &[3; 32], budget).unwrap();
        let ids: Vec<RoomId> = (0..4).map(|_| RoomId::new()).collect();
        for id in &ids {
            let h = docs
                .get_or_create(*id, RoomKind::Patient, |_| Ok(()))
                .unwrap();
            h.read(|r| Ok(r.heads())).unwrap();
        }
        assert_eq!(docs.loaded_count(), 4);
        assert_eq!(docs.sweep(), 2, "the two least recently used go");
        assert!(docs.loaded_count() <= 2);
        let h = docs.get(ids[0]).unwrap().unwrap();
        assert_eq!(h.read(|r| Ok(r.kind())).unwrap(), RoomKind::Patient);

        let quick = MemoryBudget {
            idle: Duration::from_millis(1),
            ..MemoryBudget::default()
        };
        drop(h);
        drop(docs);
        let docs = Documents::open(dir.path(), &[3; 32], quick).unwrap();
        let h = docs.get(ids[1]).unwrap().unwrap();
        h.read(|r| Ok(r.heads())).unwrap();
        drop(h);
        std::thread::sleep(Duration::from_millis(5));
        docs.sweep();
        assert_eq!(docs.loaded_count(), 0, "idle documents leave memory");
    }
}
