//! Upload progress for the sync indicator, read off the bytes the transport pulls from the
//! store for the network (so it runs at most a few MiB ahead of what the relay holds).

use crate::transport::{BlobSource, Transport, TransportLayer};
use kizuna_core::blobs::UploadStatus;
use kizuna_core::{ContentHash, RoomId};
use std::sync::Arc;

/// Told the hash, bytes sent and size as an upload advances.
pub(crate) type ProgressFn = Arc<dyn Fn(&ContentHash, u64, u64) + Send + Sync>;

/// The session's transport: the HTTPS one, with uploads reporting their progress.
pub(crate) struct Observed {
    pub(crate) inner: Arc<dyn Transport>,
    pub(crate) on_progress: ProgressFn,
}

struct CountingSource {
    inner: Arc<dyn BlobSource>,
    hash: ContentHash,
    size: u64,
    on_progress: ProgressFn,
}

impl BlobSource for CountingSource {
    fn read(&self, offset: u64, max: usize) -> Result<Vec<u8>, String> {
        let bytes = self.inner.read(offset, max)?;
        (self.on_progress)(&self.hash, offset + bytes.len() as u64, self.size);
        Ok(bytes)
    }
}

impl TransportLayer for Observed {
    fn inner(&self) -> &dyn Transport {
        self.inner.as_ref()
    }

    fn upload(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        size: u64,
        source: Arc<dyn BlobSource>,
    ) -> Result<UploadStatus, crate::transport::TransportError> {
        let source = Arc::new(CountingSource {
            inner: source,
            hash: *hash,
            size,
            on_progress: self.on_progress.clone(),
        });
        self.inner.upload(hash, doc, offset, size, source)
    }
}
