//! The device's sync loop: build a request from the store, send it, apply the answer, repeat
//! while the fallback protocol needs more rounds; retry with backoff while offline. The store
//! is the source of truth, so a sync cut at any point loses nothing and simply runs again.

use crate::blob_sync::{BlobSyncError, Progress, download, upload_queue_noting_refusals};
use crate::transport::{HttpsTransport, Transport, TransportError};
use kizuna_core::blobs::BlobStore;
use kizuna_core::sync::device::{SyncReport, apply_response, build_request};
use kizuna_core::sync::protocol::{SyncRequest, SyncResponse};
use kizuna_core::{ContentHash, RoomId};
use kizuna_core::{CoreError, RoomStore};
use std::sync::Arc;
use std::time::Duration;

/// Most request/response rounds in one `sync_now` (the fallback protocol takes a few).
pub const MAX_ROUNDS: usize = 8;

/// Why a sync did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The transfer failed (offline, revoked, refused).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The local store failed, or the relay's answer could not be used.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The relay's answer was not a valid sync response.
    #[error("the relay's answer is not a valid sync response")]
    Protocol,
}

/// Syncs one device store with the relay.
pub struct SyncClient {
    store: RoomStore,
    blobs: BlobStore,
    transport: Arc<dyn Transport>,
    /// This device, whose attachments are offered again after a fallback sync.
    device: Option<kizuna_core::DeviceId>,
}

impl SyncClient {
    /// A client over `store` that talks through `transport`.
    pub fn new(store: RoomStore, transport: Arc<dyn Transport>) -> Self {
        // Attachment files beside the store's folder; a store without a folder (tests with
        // another backend) keeps them in the store itself.
        let blobs = store
            .dir()
            .and_then(|d| BlobStore::in_dir(store.vault().clone(), &d.join("blobs")).ok())
            .unwrap_or_else(|| BlobStore::new(store.vault().clone()));
        SyncClient {
            store,
            blobs,
            transport,
            device: None,
        }
    }

    /// The same client, knowing it syncs for `device`: after a fallback sync it offers the
    /// relay again the attachments of this device's reports in those documents, since a
    /// relay restored from a backup may lack photos it had acknowledged (the upload status
    /// costs one request per attachment when the relay has it).
    pub fn for_device(mut self, device: kizuna_core::DeviceId) -> Self {
        self.device = Some(device);
        self
    }

    /// Queues again the attachments of this device's reports in `docs` that are held here.
    fn offer_again(&self, device: kizuna_core::DeviceId, docs: &[RoomId]) -> Result<(), CoreError> {
        for doc in docs {
            let Ok(handle) = self.store.open_room(*doc) else {
                continue;
            };
            let own = handle.read(|room| {
                let mut out = Vec::new();
                for id in room.report_ids()? {
                    // A report this store cannot read is not one this device can offer.
                    if let Ok(r) = room.report(id)
                        && r.author.device == device
                        && !r.content.attachments.is_empty()
                    {
                        out.push((r.content, r.post_time));
                    }
                }
                Ok(out)
            })?;
            for (content, posted) in own {
                self.blobs.queue_report(*doc, &content, posted)?;
            }
        }
        Ok(())
    }

    /// The attachments held on this device.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Uploads queued attachments (most important first), resuming where the relay stands.
    /// A cut leaves the rest queued for the next call. Photos are queued before their report
    /// is saved (so a crash between the two can never leave a saved report whose photos stay
    /// on the phone); an entry the relay refuses because no report references it, and that no
    /// report in this store's copy of the document references either, was queued for a report
    /// that was never saved: it leaves the queue (the bytes stay, as cache).
    pub fn upload_attachments(
        &self,
        progress: Progress<'_>,
    ) -> Result<Vec<ContentHash>, BlobSyncError> {
        let mut refused = Vec::new();
        let done = upload_queue_noting_refusals(
            &self.blobs,
            self.transport.as_ref(),
            progress,
            &mut refused,
        )?;
        for (hash, doc) in refused {
            let Ok(handle) = self.store.open_room(doc) else {
                continue;
            };
            if !handle
                .read(|room| kizuna_core::blobs::referenced(room))?
                .contains(&hash)
            {
                self.blobs.uploaded(&hash)?;
            }
        }
        Ok(done)
    }

    /// Fetches an attachment referenced in document `doc` (resuming a partial copy), keeping
    /// at most `cache_limit` bytes of downloaded attachments.
    pub fn fetch_attachment(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        media_type: &str,
        cache_limit: u64,
        progress: Progress<'_>,
    ) -> Result<(), BlobSyncError> {
        download(
            &self.blobs,
            self.transport.as_ref(),
            hash,
            doc,
            media_type,
            cache_limit,
            progress,
        )
    }

    /// The store being synced.
    pub fn store(&self) -> &RoomStore {
        &self.store
    }

    /// The transport in use.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// One complete sync: the documents, then the queued attachments (after the reports that
    /// reference them, which the relay checks). Attachments that could not be sent stay
    /// queued; `blobs().pending_uploads()` tells what is left.
    pub fn sync_now(&self) -> Result<SyncReport, SyncError> {
        let report = self.sync_documents()?;
        if let Err(e) = self.upload_attachments(&|_, _, _| {}) {
            match e {
                BlobSyncError::Transport(TransportError::Revoked { wipe }) => {
                    return Err(SyncError::Transport(TransportError::Revoked { wipe }));
                }
                other => tracing::debug!(error = %other, "attachments left queued"),
            }
        }
        Ok(report)
    }

    /// Syncs the documents only: rounds until nothing is left to exchange.
    pub fn sync_documents(&self) -> Result<SyncReport, SyncError> {
        let mut total = SyncReport::default();
        for _ in 0..MAX_ROUNDS {
            let request = build_request(&self.store, true)?;
            let bytes = self.transport.exchange(request.encode())?;
            let response = decode_response(&bytes)?;
            let report = apply_response(&self.store, &response)?;
            // Queued at once, round by round: a link cut in a later round must not lose the
            // offer (the relay asks for the fallback only once after a restore).
            if let (Some(device), false) = (self.device, report.fell_back.is_empty())
                && let Err(e) = self.offer_again(device, &report.fell_back)
            {
                tracing::debug!(error = %e, "attachments could not be offered again");
            }
            let again = report.again;
            total.updated.extend(report.updated);
            total.added.extend(report.added);
            total.removed.extend(report.removed);
            total.refused.extend(report.refused);
            total.fell_back.extend(report.fell_back);
            if !again {
                break;
            }
        }
        total.updated.sort();
        total.updated.dedup();
        total.fell_back.sort();
        total.fell_back.dedup();
        Ok(total)
    }

    /// `sync_now`, retried while offline with exponential backoff (from `first` doubling up
    /// to 30 s) for at most `attempts` tries. Revocation and refusals are not retried.
    pub fn sync_with_retry(&self, attempts: u32, first: Duration) -> Result<SyncReport, SyncError> {
        let mut wait = first;
        let mut last = None;
        for _ in 0..attempts.max(1) {
            match self.sync_now() {
                Err(SyncError::Transport(TransportError::Offline(e))) => {
                    tracing::debug!("relay unreachable; retrying");
                    last = Some(TransportError::Offline(e));
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
                other => return other,
            }
        }
        Err(SyncError::Transport(last.unwrap_or(
            TransportError::Offline("no attempt made".into()),
        )))
    }
}

fn decode_response(bytes: &[u8]) -> Result<SyncResponse, SyncError> {
    SyncResponse::decode(bytes).map_err(|_| SyncError::Protocol)
}

/// One exchange of the sync protocol from inside an async runtime, over the same HTTPS
/// client, encoding and error mapping as [`SyncClient`]: for callers that keep documents in
/// memory rather than in a store (the W3 load generator runs hundreds of devices on one
/// runtime).
pub async fn exchange_async(
    https: &HttpsTransport,
    request: &SyncRequest,
) -> Result<SyncResponse, SyncError> {
    let bytes = https.exchange_async(request.encode()).await?;
    decode_response(&bytes)
}
