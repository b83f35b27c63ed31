//! Kizuna's relay (`kizuna` binary): client-certificate identity, enrollment by one-time code,
//! the directory of professionals, devices and rooms, and the admin API and CLI.
//!
//! - [`pki`]: the relay's CA, device certificates, TLS 1.3 configurations.
//! - [`directory`]: storage of the directory behind a trait (sled today);
//!   [`directory_cache`]: the relay's lookups of it answered from memory.
//! - [`relay`]: the rules (who may see which room, enrollment, revocation).
//! - [`sync`]: serving `POST /v1/sync` (visibility, write checks, post numbers);
//!   [`documents`]: the encrypted room documents, loaded on demand and unloaded when idle;
//!   [`events`]: the live channel; [`audit`]: the hash-chained audit log;
//!   [`blobs`]: attachments (resumable uploads, range downloads, access by reference).
//! - [`api`]: `router(state) -> Router`, problem+json errors, per-request identity checks;
//!   [`admin_api`]: the admin routes added with the console (edit, archive, notices, care
//!   plans, console credentials).
//! - [`admin`]: every administrative act as one function (rule + audit record), shared by
//!   the JSON API and the console; [`admin_docs`]: administrators' notices and care-plan
//!   imports in room documents, and room activity.
//! - [`console`]: the city's admin console in the browser (`/console/…`).
//! - [`net`]: `serve(listener, tls, router, shutdown)`, the TLS accept loop.
//! - [`data`]: the data directory and start-up; [`demo`]: the demo city.
//! - [`client`]: the HTTPS client used by `kizuna admin` and the tests.
//! - [`fuzzing`]: the bodies of the fuzz targets on the relay's input (`tests/fuzz/`).

pub mod admin;
pub mod admin_api;
pub mod admin_docs;
pub mod api;
pub mod audit;
pub mod blobs;
pub mod client;
pub mod console;
pub mod data;
pub mod demo;
pub mod directory;
pub mod directory_cache;
pub mod documents;
pub mod events;
pub mod fuzzing;
pub mod net;
pub mod pki;
pub mod relay;
pub mod sync;
pub mod wire;

pub use api::router;
pub use net::serve;
