//! Sync: how a phone and the relay bring rooms to the same state, with no I/O here.
//!
//! One request carries many documents. For each, the device sends the relay heads it last
//! saw and the changes made since; the relay checks every change against the write rules,
//! stores it, numbers new reports, and answers with what the device lacks and its new heads.
//! When nothing diverged but new work, that is one round trip whose bytes are the new
//! changes themselves. When the relay does not know the heads the device names (a restored
//! relay, a restored phone), both fall back to Automerge's sync protocol.
//!
//! - [`protocol`]: the wire types, versioned, with size limits.
//! - [`gate`]: the one way a device's changes enter a room on the relay: bounded decoding,
//!   dependency order, the write rules, and the only value a room merges.
//! - [`invariants`]: what must hold after every merge; a violation rolls the merge back.
//! - [`write_rules`]: the write rules (`docs/rules.md`), applied to raw changes before they are stored.
//! - [`relay`]: the relay's handling of one document (pure; the server adds locks and I/O).
//! - [`device`]: building a request from the device store and applying the answer.

pub mod device;
pub mod gate;
pub mod invariants;
pub mod protocol;
pub mod relay;
pub mod write_rules;

pub use protocol::{DocInfo, DocResult, DocSync, Outcome, SyncRequest, SyncResponse};
