//! Moving sync bytes between the device and the relay. The core decides *what* to send; a
//! [`Transport`] only carries it. [`HttpsTransport`] is the default (reqwest on rustls, TLS 1.3,
//! the device's client certificate, trusting only the relay's CA); an iOS app may register a
//! native one (background `URLSession`) through the same trait. A wrapper that changes one
//! call (counting bytes, injecting faults, observing uploads) implements [`TransportLayer`]
//! and inherits the rest.

mod https;
mod layer;
pub(crate) mod wire;

pub use https::{HttpsTransport, device_tls};
pub use layer::TransportLayer;

use kizuna_core::blobs::UploadStatus;
use kizuna_core::{ContentHash, RoomId};
use std::sync::Arc;
use std::time::Duration;

/// Why a transfer failed, in the terms an app acts on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection (no signal, relay down, TLS failure): keep working offline, retry later.
    #[error("the relay cannot be reached: {0}")]
    Offline(String),
    /// The administrator revoked this device; `wipe` asks the app to erase local data.
    #[error("this device has been revoked")]
    Revoked {
        /// Erase local data now.
        wipe: bool,
    },
    /// The relay refused the request (a bug or a version mismatch; retrying will not help).
    #[error("the relay refused the request ({status}): {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The relay's explanation.
        detail: String,
    },
}

/// Which rooms changed on the relay since a cursor (the live channel), in core's ids: the
/// relay's answer (`kizuna_contract::events::Changed`) converted with `From`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveEvents {
    /// Pass this back to wait for the next changes.
    pub cursor: u64,
    /// Documents that changed (rooms or restricted documents this device may see).
    pub docs: Vec<kizuna_core::RoomId>,
    /// The relay did not know the cursor (restarted, or the device was away long): sync
    /// every document.
    pub resync: bool,
}

/// Where the bytes of an upload come from (the device's encrypted blob store), read piece by
/// piece so a video is never whole in memory.
pub trait BlobSource: Send + Sync {
    /// Up to `max` bytes from `offset`.
    fn read(&self, offset: u64, max: usize) -> Result<Vec<u8>, String>;
}

/// Where downloaded bytes go, as they arrive (so a cut keeps what came).
pub trait BlobSink {
    /// The blob's full size, learnt from the first answer.
    fn size(&mut self, total: u64) -> Result<(), String>;
    /// The next bytes, in order.
    fn write(&mut self, bytes: &[u8]) -> Result<(), String>;
}

/// Carries sync requests and attachments to the relay. Blocking: call from a background
/// thread, never from inside an async task.
pub trait Transport: Send + Sync {
    /// Sends an encoded `SyncRequest`, returns the encoded `SyncResponse`.
    fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError>;
    /// Waits up to `timeout` for documents to change after `cursor` (long poll).
    fn wait_for_changes(
        &self,
        cursor: u64,
        timeout: Duration,
    ) -> Result<LiveEvents, TransportError>;
    /// Asks how much of a blob the relay holds (starting the upload if new).
    fn upload_status(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        size: u64,
        media_type: &str,
    ) -> Result<UploadStatus, TransportError>;
    /// Sends the blob's bytes from `offset` to `size`, streamed from `source`.
    fn upload(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        size: u64,
        source: Arc<dyn BlobSource>,
    ) -> Result<UploadStatus, TransportError>;
    /// Receives the blob's bytes from `offset` to the end into `sink`.
    fn download(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        sink: &mut dyn BlobSink,
    ) -> Result<(), TransportError>;
}
