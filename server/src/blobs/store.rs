//! The attachment store: blobs by hash, encrypted at rest, with the documents each was
//! uploaded for (its bindings) and the limits of sizes and quotas. No rule here: who may
//! upload and read is in [`super::access`].

use crate::error::RelayError;
pub use kizuna_core::blobs::UploadStatus;
use kizuna_core::blobs::{BlobError, BlobStore};
use kizuna_core::store::{SledBackend, Space, Vault, Write, key};
use kizuna_core::{ContentHash, DeviceId, RoomId, Timestamp};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Limits of the blob store.
#[derive(Clone, Debug)]
pub struct BlobLimits {
    /// Largest blob accepted (no 20 MB cap: a wound video is 50–200 MB).
    pub max_size: u64,
    /// Most bytes of unfinished uploads one device may hold.
    pub device_quota: u64,
    /// Unfinished uploads older than this are deleted.
    pub expire_after: Duration,
}

impl Default for BlobLimits {
    fn default() -> Self {
        BlobLimits {
            max_size: 2 * 1024 * 1024 * 1024,
            device_quota: 4 * 1024 * 1024 * 1024,
            expire_after: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// The blobs a document referenced at the given heads.
type References = (Vec<automerge::ChangeHash>, Arc<HashSet<ContentHash>>);

/// The relay's blobs: the store and a cache of which blobs each document references.
pub struct Blobs {
    pub(super) store: BlobStore,
    pub(super) limits: BlobLimits,
    pub(super) refs: Mutex<HashMap<RoomId, References>>,
    /// Serialises appends per unfinished upload (two connections of one device resuming
    /// it), keyed by [`staged_name`].
    pub(super) writing: Mutex<HashSet<ContentHash>>,
    /// Serialises promotions of finished uploads and imports (one copy per content).
    pub(super) promoting: Mutex<()>,
    /// The metadata vault, for the blob → document bindings.
    pub(super) vault: Vault,
    /// Upload bytes received that the relay already held (see [`Blobs::duplicate_bytes`]).
    pub(super) duplicate: AtomicU64,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Blobs(..)")
    }
}

impl Blobs {
    /// Opens the blob store in `dir`, sealed with `key` (the relay's store key).
    pub fn open(dir: &Path, key: &[u8], limits: BlobLimits) -> Result<Blobs, RelayError> {
        let backend = SledBackend::open(dir).map_err(|e| RelayError::Internal(e.to_string()))?;
        let vault =
            Vault::open(Arc::new(backend), key).map_err(|e| RelayError::Internal(e.to_string()))?;
        let store = BlobStore::in_dir(vault.clone(), &dir.join("files")).map_err(internal)?;
        Ok(Blobs {
            store,
            limits,
            refs: Mutex::default(),
            writing: Mutex::default(),
            promoting: Mutex::default(),
            vault,
            duplicate: AtomicU64::new(0),
        })
    }

    /// The store.
    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    /// The limits.
    pub fn limits(&self) -> &BlobLimits {
        &self.limits
    }

    /// Upload bytes received since start that the relay already held and skipped: a
    /// device sends them twice when it asks where to resume before the relay has read a cut
    /// request still on its way (the relay cannot count bytes it has not read yet). Lets
    /// tests and operators tell such resends from lost bytes, which would not appear here.
    pub fn duplicate_bytes(&self) -> u64 {
        self.duplicate.load(Ordering::Relaxed)
    }

    /// Records that the bytes of `hash` were uploaded for document `doc`.
    pub fn bind(&self, hash: &ContentHash, doc: RoomId) -> Result<(), RelayError> {
        self.vault
            .apply(vec![Write::Put(binding_key(hash, doc), Vec::new())])
            .map_err(internal)
    }

    /// Whether the bytes of `hash` were uploaded for document `doc` (also true for the
    /// document a blob stored before bindings existed was uploaded for).
    pub fn bound(&self, hash: &ContentHash, doc: RoomId) -> Result<bool, RelayError> {
        if self
            .vault
            .get(&binding_key(hash, doc))
            .map_err(internal)?
            .is_some()
        {
            return Ok(true);
        }
        Ok(self
            .store
            .meta(hash)
            .map_err(internal)?
            .is_some_and(|m| m.complete && m.doc == Some(doc)))
    }

    /// Every finished blob with the documents it is bound to, for a backup.
    pub fn finished_with_documents(
        &self,
    ) -> Result<Vec<(kizuna_core::blobs::BlobMeta, Vec<RoomId>)>, RelayError> {
        let mut out = Vec::new();
        for meta in self.store.list().map_err(internal)? {
            if !meta.complete {
                continue;
            }
            let prefix = key(Space::Meta, &[b"blobdoc/", &meta.hash.0]);
            let mut docs: Vec<RoomId> = Vec::new();
            for k in self.vault.keys_with_prefix(&prefix).map_err(internal)? {
                if let Some(id) = k
                    .get(prefix.len()..)
                    .and_then(|b| uuid::Uuid::from_slice(b).ok())
                {
                    docs.push(RoomId(id));
                }
            }
            if let Some(d) = meta.doc
                && !docs.contains(&d)
            {
                docs.push(d);
            }
            out.push((meta, docs));
        }
        Ok(out)
    }

    pub(super) fn promote_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.promoting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Deletes unfinished uploads past their expiry; returns how many.
    pub fn expire(&self) -> Result<usize, RelayError> {
        let age = i64::try_from(self.limits.expire_after.as_millis()).unwrap_or(i64::MAX);
        self.store
            .expire_incomplete(Timestamp::now().plus_millis(-age))
            .map_err(internal)
    }
}

fn binding_key(hash: &ContentHash, doc: RoomId) -> Vec<u8> {
    key(Space::Meta, &[b"blobdoc/", &hash.0, doc.as_bytes()])
}

/// The name an unfinished upload of `hash` by device `d` for document `doc` is kept under:
/// one per (hash, device, document), so no other device can reach it.
pub fn staged_name(hash: &ContentHash, d: DeviceId, doc: RoomId) -> ContentHash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"kizuna relay unfinished upload v1\0");
    ctx.update(&hash.0);
    ctx.update(d.as_bytes());
    ctx.update(doc.as_bytes());
    kizuna_core::blobs::digest(ctx)
}

pub(super) fn internal(e: impl std::fmt::Display) -> RelayError {
    RelayError::Internal(e.to_string())
}

/// The one answer for "no such blob" and "not yours to see".
pub fn denied() -> RelayError {
    RelayError::Forbidden("this attachment is not available to this device")
}

pub(super) fn blob_error(e: BlobError) -> RelayError {
    match e {
        BlobError::HashMismatch => {
            RelayError::Invalid("the uploaded bytes do not match the hash; upload again".into())
        }
        BlobError::WrongOffset { expected, .. } => RelayError::Conflict(format!(
            "the relay holds {expected} bytes; resume from there"
        )),
        BlobError::TooLong(n) => RelayError::Invalid(format!("more bytes than the size {n}")),
        other => internal(other),
    }
}
