//! Attachments on the relay: resumable uploads (ask how much the relay has, send the rest),
//! downloads with HTTP `Range`, the hash checked before a blob becomes visible, each blob
//! stored once (by hash) and encrypted at rest.
//!
//! **A blob belongs to the rooms it was uploaded for, not to whoever knows its hash.** For
//! each stored blob the relay records the documents a writer of that document actually sent
//! its bytes for (`Relay::finish_upload`). A download through document `X` needs all of:
//! the bytes were uploaded for `X`, or for the room `X` belongs to when `X` is a restricted
//! document (its audience is a subset of that room's members, so nothing widens; the
//! reverse is refused: bytes uploaded for a restricted document never become readable
//! through its parent room); `X`'s visible content references the hash; and the requester
//! may see `X`. A reference from another room grants nothing: a writer of that room must
//! upload the bytes for it (sending them proves possession; a reference alone does not).
//!
//! **An unfinished upload is its uploader's own.** It is kept under a name derived from the
//! hash, the device and the document ([`staged_name`]), so another device starting the
//! "same" upload, with any declared size, neither takes it over nor touches its bytes; the
//! first to finish makes the blob, the others' bytes then just prove possession.
//!
//! Anyone else gets the same `403` whether or not the blob exists, so a non-member cannot even
//! learn that a hash is stored.
//!
//! Here: the store ([`store`]), the rules of access and upload ([`access`]) and the routes
//! with the streaming upload/download pipeline ([`routes`]).

pub mod access;
pub mod routes;
pub mod store;

pub use access::BlobClaim;
pub use store::{BlobLimits, Blobs, UploadStatus, denied, staged_name};
