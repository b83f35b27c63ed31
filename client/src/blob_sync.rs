//! Moving attachments between the phone's blob store and the relay: the upload queue (most
//! important reports first, resuming at the byte the relay holds, never dropping a blob the
//! relay does not have) and downloads on demand that resume the same way and respect a cache
//! limit.

use crate::transport::{BlobSink, BlobSource, Transport, TransportError};
use kizuna_core::blobs::{BlobError, BlobStore};
use kizuna_core::{ContentHash, CoreError, RoomId};
use std::sync::Arc;

/// Why moving a blob stopped.
#[derive(Debug, thiserror::Error)]
pub enum BlobSyncError {
    /// The transfer failed (offline, cut, revoked, refused); what arrived is kept.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The local store failed or the bytes did not match their hash.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl From<CoreError> for BlobSyncError {
    fn from(e: CoreError) -> Self {
        BlobSyncError::Blob(e.into())
    }
}

/// Bytes of a download buffered before each durable append (what a cut can cost at most is
/// unaffected: buffered bytes are appended when the transfer stops).
const DOWNLOAD_APPEND: usize = 4 * 1024 * 1024;

/// Progress of one blob: its hash, bytes the relay (or the phone) holds, and its size.
pub type Progress<'a> = &'a dyn Fn(&ContentHash, u64, u64);

struct StoreSource {
    store: BlobStore,
    hash: ContentHash,
}

impl BlobSource for StoreSource {
    fn read(&self, offset: u64, max: usize) -> Result<Vec<u8>, String> {
        self.store
            .read_at(&self.hash, offset, max)
            .map_err(|e| e.to_string())
    }
}

/// Uploads every queued blob, in queue order. Stops at the first transfer error (the rest
/// wait for the next call); returns the blobs that reached the relay. A blob the relay
/// refuses stays queued and the queue goes on (see [`upload_queue_noting_refusals`]).
pub fn upload_queue(
    store: &BlobStore,
    transport: &dyn Transport,
    progress: Progress<'_>,
) -> Result<Vec<ContentHash>, BlobSyncError> {
    upload_queue_noting_refusals(store, transport, progress, &mut Vec::new())
}

/// [`upload_queue`], noting in `refused` each blob (with its document) the relay refused —
/// typically because no report in that document references it (yet) — instead of stopping
/// there, so one such entry never holds up the photos queued behind it.
pub fn upload_queue_noting_refusals(
    store: &BlobStore,
    transport: &dyn Transport,
    progress: Progress<'_>,
    refused: &mut Vec<(ContentHash, RoomId)>,
) -> Result<Vec<ContentHash>, BlobSyncError> {
    let mut done = Vec::new();
    for meta in store.pending_uploads()? {
        let Some(up) = &meta.upload else {
            continue;
        };
        let hash = meta.hash;
        let status = match transport.upload_status(&hash, up.doc, meta.size, &meta.media_type) {
            Err(TransportError::Rejected { .. }) => {
                refused.push((hash, up.doc));
                continue;
            }
            other => other?,
        };
        let mut status = status;
        if !status.complete && status.offset < meta.size {
            progress(&hash, status.offset, meta.size);
            let source = Arc::new(StoreSource {
                store: store.clone(),
                hash,
            });
            status = match transport.upload(&hash, up.doc, status.offset, meta.size, source) {
                Err(TransportError::Rejected { .. }) => {
                    refused.push((hash, up.doc));
                    continue;
                }
                other => other?,
            };
        }
        if status.complete {
            store.uploaded(&hash)?;
            progress(&hash, meta.size, meta.size);
            done.push(hash);
        }
    }
    Ok(done)
}

struct StoreSink<'a> {
    store: &'a BlobStore,
    hash: ContentHash,
    media_type: String,
    offset: u64,
    pending: Vec<u8>,
    progress: Progress<'a>,
    total: u64,
}

impl StoreSink<'_> {
    fn flush(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let piece = std::mem::take(&mut self.pending);
        self.offset = self
            .store
            .append(&self.hash, self.offset, &piece)
            .map_err(|e| e.to_string())?;
        (self.progress)(&self.hash, self.offset, self.total);
        Ok(())
    }
}

impl BlobSink for StoreSink<'_> {
    fn size(&mut self, total: u64) -> Result<(), String> {
        self.total = total;
        let held = self
            .store
            .begin(self.hash, total, &self.media_type, None, None)
            .map_err(|e| e.to_string())?;
        if held != self.offset {
            return Err("the local copy changed during the download".into());
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= DOWNLOAD_APPEND {
            self.flush()?;
        }
        Ok(())
    }
}

/// Downloads a blob referenced in document `doc` unless it is already here, resuming a
/// partial copy; checks its hash; then trims the cache to `cache_limit` bytes (never touching
/// blobs waiting for upload or this one).
pub fn download(
    store: &BlobStore,
    transport: &dyn Transport,
    hash: &ContentHash,
    doc: RoomId,
    media_type: &str,
    cache_limit: u64,
    progress: Progress<'_>,
) -> Result<(), BlobSyncError> {
    if let Some(m) = store.meta(hash)?
        && m.complete
    {
        store.touch(hash)?;
        return Ok(());
    }
    let offset = store.meta(hash)?.map_or(0, |m| m.stored);
    let mut sink = StoreSink {
        store,
        hash: *hash,
        media_type: media_type.to_string(),
        offset,
        pending: Vec::new(),
        progress,
        total: 0,
    };
    let result = transport.download(hash, doc, offset, &mut sink);
    // Keep whatever arrived, even after a cut.
    let kept = sink.flush();
    result?;
    kept.map_err(BlobError::Io)?;
    store.finish(hash)?;
    store.touch(hash)?;
    let meta_size = store.meta(hash)?.map_or(0, |m| m.size);
    store.evict_to(cache_limit.max(meta_size))?;
    Ok(())
}
