//! Kizuna's relay (`kizuna` binary): client-certificate identity, enrollment by one-time code,
//! the directory of professionals, devices and rooms, sync, attachments, the audit log, and
//! the admin API, console and CLI.
//!
//! One module per capability, each owning its rules (`impl Relay` blocks) and its routes:
//! - [`identity`]: the CA and certificates, the directory and its cache, enrollment,
//!   professionals, devices, revocation, rooms and memberships, who a request comes from.
//! - [`sync`]: serving `POST /v1/sync`, the room documents, the live channel.
//! - [`blobs`]: attachments (store, access rules, resumable upload and range download).
//! - [`audit`]: the hash-chained audit log, its verification and export.
//! - [`recovery`]: online backup, restore, and what keeps a restore from losing anything (the
//!   directory's journal and the ledger of stored changes beside the data).
//! - [`watch`]: the write gate (free space), `/readyz` and `/metrics`.
//! - [`admin`]: every administrative act (rule + audit record), the city's documents
//!   (notices, care plans, room activity), every admin route, and the browser console.
//!
//! Underneath them: [`state`] (the [`state::Relay`] they share: stores, caches, config — no
//! rules), [`error`] (the [`error::RelayError`] every rule returns) and [`http`]
//! (problem+json, extractors, middleware, TLS serving; no capability).
//! Above them: [`router`] composes every capability's routes (and serves the OpenAPI
//! document); [`startup`] prepares the data directory (and the demo city); [`cli`] is the
//! `kizuna` command line and its HTTPS client. `scripts/check-layers` keeps these layers free
//! of import cycles.
//!
//! Every JSON body, request or answer, is a `kizuna_contract` type, shared with the CLI's
//! client and the phone library; storage records are converted into the contract's views by
//! the capability that owns them, never served as they are.

pub mod admin;
pub mod audit;
pub mod blobs;
pub mod cli;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http;
pub mod identity;
pub mod recovery;
pub mod router;
pub mod startup;
pub mod state;
pub mod sync;
pub mod watch;

pub use http::serve;
pub use router::router;
