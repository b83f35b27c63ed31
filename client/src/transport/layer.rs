//! [`TransportLayer`]: one wrapper shape for every transport that changes a single call and
//! passes the others through (upload progress in the session, byte counting in W2, fault
//! injection in the simulator), so none of them re-implements every method to forward it.

use super::{BlobSink, BlobSource, LiveEvents, Transport, TransportError};
use kizuna_core::blobs::UploadStatus;
use kizuna_core::{ContentHash, RoomId};
use std::sync::Arc;
use std::time::Duration;

/// A transport wrapped around another: every method forwards to [`TransportLayer::inner`]
/// unless the wrapper overrides it. Implementing this trait makes the wrapper a
/// [`Transport`].
pub trait TransportLayer: Send + Sync {
    /// The transport the calls go to.
    fn inner(&self) -> &dyn Transport;

    /// See [`Transport::exchange`].
    fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.inner().exchange(request)
    }

    /// See [`Transport::wait_for_changes`].
    fn wait_for_changes(
        &self,
        cursor: u64,
        timeout: Duration,
    ) -> Result<LiveEvents, TransportError> {
        self.inner().wait_for_changes(cursor, timeout)
    }

    /// See [`Transport::upload_status`].
    fn upload_status(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        size: u64,
        media_type: &str,
    ) -> Result<UploadStatus, TransportError> {
        self.inner().upload_status(hash, doc, size, media_type)
    }

    /// See [`Transport::upload`].
    fn upload(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        size: u64,
        source: Arc<dyn BlobSource>,
    ) -> Result<UploadStatus, TransportError> {
        self.inner().upload(hash, doc, offset, size, source)
    }

    /// See [`Transport::download`].
    fn download(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        sink: &mut dyn BlobSink,
    ) -> Result<(), TransportError> {
        self.inner().download(hash, doc, offset, sink)
    }
}

impl<L: TransportLayer> Transport for L {
    fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        TransportLayer::exchange(self, request)
    }

    fn wait_for_changes(
        &self,
        cursor: u64,
        timeout: Duration,
    ) -> Result<LiveEvents, TransportError> {
        TransportLayer::wait_for_changes(self, cursor, timeout)
    }

    fn upload_status(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        size: u64,
        media_type: &str,
    ) -> Result<UploadStatus, TransportError> {
        TransportLayer::upload_status(self, hash, doc, size, media_type)
    }

    fn upload(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        size: u64,
        source: Arc<dyn BlobSource>,
    ) -> Result<UploadStatus, TransportError> {
        TransportLayer::upload(self, hash, doc, offset, size, source)
    }

    fn download(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        sink: &mut dyn BlobSink,
    ) -> Result<(), TransportError> {
        TransportLayer::download(self, hash, doc, offset, sink)
    }
}
