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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Mutex;

    /// Answers every call and notes which one it got.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<&'static str>>);

    impl Recorder {
        fn note(&self, call: &'static str) {
            self.0.lock().unwrap().push(call);
        }
    }

    impl Transport for Recorder {
        fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
            self.note("exchange");
            Ok(request)
        }
        fn wait_for_changes(&self, cursor: u64, _: Duration) -> Result<LiveEvents, TransportError> {
            self.note("wait_for_changes");
            Ok(LiveEvents {
                cursor: cursor + 1,
                ..LiveEvents::default()
            })
        }
        fn upload_status(
            &self,
            _: &ContentHash,
            _: RoomId,
            _: u64,
            _: &str,
        ) -> Result<UploadStatus, TransportError> {
            self.note("upload_status");
            Err(TransportError::Offline("test".into()))
        }
        fn upload(
            &self,
            _: &ContentHash,
            _: RoomId,
            _: u64,
            _: u64,
            _: Arc<dyn BlobSource>,
        ) -> Result<UploadStatus, TransportError> {
            self.note("upload");
            Err(TransportError::Offline("test".into()))
        }
        fn download(
            &self,
            _: &ContentHash,
            _: RoomId,
            _: u64,
            _: &mut dyn BlobSink,
        ) -> Result<(), TransportError> {
            self.note("download");
            Ok(())
        }
    }

    /// Doubles every request and changes nothing else.
    struct Doubling(Recorder);

    impl TransportLayer for Doubling {
        fn inner(&self) -> &dyn Transport {
            &self.0
        }
        fn exchange(&self, mut request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
            request.extend(request.clone());
            self.0.exchange(request)
        }
    }

    #[test]
    fn a_layer_changes_its_one_call_and_forwards_the_others() {
        let layer = Doubling(Recorder::default());
        let t: &dyn Transport = &layer;
        assert_eq!(t.exchange(vec![1, 2]).unwrap(), vec![1, 2, 1, 2]);
        assert_eq!(
            t.wait_for_changes(4, Duration::ZERO).unwrap().cursor,
            5,
            "forwarded with its arguments"
        );
        let hash = ContentHash::of(b"x");
        let doc = RoomId::new();
        assert!(t.upload_status(&hash, doc, 1, "image/png").is_err());
        struct Empty;
        impl BlobSource for Empty {
            fn read(&self, _: u64, _: usize) -> Result<Vec<u8>, String> {
                Ok(Vec::new())
            }
        }
        assert!(t.upload(&hash, doc, 0, 1, Arc::new(Empty)).is_err());
        struct Nowhere;
        impl BlobSink for Nowhere {
            fn size(&mut self, _: u64) -> Result<(), String> {
                Ok(())
            }
            fn write(&mut self, _: &[u8]) -> Result<(), String> {
                Ok(())
            }
        }
        t.download(&hash, doc, 0, &mut Nowhere).unwrap();
        assert_eq!(
            *layer.0.0.lock().unwrap(),
            [
                "exchange",
                "wait_for_changes",
                "upload_status",
                "upload",
                "download"
            ]
        );
    }
}
