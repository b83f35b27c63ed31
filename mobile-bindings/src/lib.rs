//! Kizuna on the phone for Swift, Kotlin and Python: the uniffi surface ([`api`]), a thin
//! layer of type conversions over the plain-Rust client (`kizuna-client`: the session, the
//! HTTPS transport, the sync loop). The client's modules are re-exported for Rust callers
//! that reached them here.

pub mod api;

pub use kizuna_client as client;
pub use kizuna_client::{blob_sync, runtime, sync_client, transport};
pub use kizuna_core as core;
pub use sync_client::{SyncClient, SyncError};
pub use transport::{BlobSink, BlobSource, HttpsTransport, LiveEvents, Transport, TransportError};

uniffi::setup_scaffolding!("kizuna");
