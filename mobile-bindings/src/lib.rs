//! Kizuna on the phone: the core plus what only an app needs — the one tokio runtime of the
//! process, the HTTPS transport to the relay, and the sync loop. The uniffi surface for Swift,
//! Kotlin and Python ([`api`]) is built on these.

pub mod api;
pub mod blob_sync;
pub mod runtime;
pub mod sync_client;
pub mod transport;

pub use kizuna_core as core;
pub use sync_client::{SyncClient, SyncError};
pub use transport::{BlobSink, BlobSource, HttpsTransport, LiveEvents, Transport, TransportError};

uniffi::setup_scaffolding!("kizuna");
