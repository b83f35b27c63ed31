//! The Kizuna client as the apps ship it, in plain Rust: the device [`Session`] (enrolment,
//! the encrypted store, the room list, reports, attachments, sync and live sync, search, care
//! plans), the HTTPS [`Transport`] to the relay, the [`SyncClient`] and the attachment queue.
//! The uniffi bindings (`kizuna-mobile`) convert its types for Swift and Kotlin; the
//! simulator and the benchmarks drive it directly, so they measure what the phones run.

pub mod blob_sync;
pub mod enroll;
pub mod error;
pub mod runtime;
pub mod session;
pub mod status;
pub mod sync_client;
pub mod transport;

pub use error::ClientError;
pub use session::{
    Identity, Listener, LiveSync, RENEW_WITHIN_DAYS, ReportView, RoomInfo, Session, Subscription,
};
pub use status::{SyncPhase, SyncState, SyncSummary, UploadProgress};
pub use sync_client::{SyncClient, SyncError};
pub use transport::{
    BlobSink, BlobSource, HttpsTransport, LiveEvents, Transport, TransportError, TransportLayer,
};
