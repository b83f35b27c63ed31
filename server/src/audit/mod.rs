//! The audit log: every read and write of a room and every administrative act, appended to
//! files of JSON lines (the export format) whose records are hash-chained, so an edited,
//! removed or reordered record, or a removed, cut or reordered file, is found by `verify`.
//!
//! Record `n` stores `prev` = the hash of record `n-1` (zeros for the first) and `hash` =
//! SHA-256(`prev` ‖ the record's canonical JSON with `hash` empty). Records hold ids, change
//! hashes and rule names only — never patient names or clinical text.
//!
//! Files in `DIR/audit/`: `log.jsonl`, the live file, only ever appended to; the closed
//! segments `log-000001.jsonl`, `log-000002.jsonl`, … it became when it grew past the
//! rotation size (`--audit-rotate-mb`) or on `kizuna admin audit rotate`, whose chain it
//! continues (the first record of a file chains to the last of the one before); and `head`,
//! the position and hash of the last record known to be on disk, rewritten after each flush
//! so a cut-off end of the log is found. The log was a sled tree until November 2026: there every
//! record cost page rewrites and a place in sled's in-memory page table, so a busy city's log
//! took most of the relay's disk writes and grew its memory with every record. A sled log
//! found on opening is copied into the file once (see [`AuditLog::open`]).
//!
//! Here: [`record`] the record types and filters; [`log`] the live file and its appends;
//! [`segments`] the closed segments and rotation; [`read`] verify and export.

mod log;
mod read;
pub mod record;
mod segments;
#[cfg(test)]
mod tests;

pub use log::{AuditLog, LogFile};

/// The default size (64 MiB) at which the live file is closed as a segment: small enough to
/// copy and archive, large enough that a busy city rotates every few days, not minutes.
pub const DEFAULT_ROTATE_BYTES: u64 = 64 * 1024 * 1024;
pub(crate) use log::{from_hex, hex};
pub use record::{AuditError, AuditRecord, Entry, Filter, Verdict};
