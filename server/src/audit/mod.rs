//! The audit log: every read and write of a room and every administrative act, appended to
//! one file of JSON lines (the export format) whose records are hash-chained, so an edited,
//! removed or reordered record is found by `verify`.
//!
//! Record `n` stores `prev` = the hash of record `n-1` (zeros for the first) and `hash` =
//! SHA-256(`prev` ‖ the record's canonical JSON with `hash` empty). Records hold ids, change
//! hashes and rule names only — never patient names or clinical text.
//!
//! Files in `DIR/audit/`: `log.jsonl`, the records, only ever appended to; and `head`, the
//! position and hash of the last record known to be on disk, rewritten after each flush so a
//! cut-off end of the log is found. The log was a sled tree until November 2026: there every
//! record cost page rewrites and a place in sled's in-memory page table, so a busy city's log
//! took most of the relay's disk writes and grew its memory with every record. A sled log
//! found on opening is copied into the file once (see [`AuditLog::open`]).
//!
//! Here: [`record`] the record types and filters; [`log`] the file and its appends;
//! [`read`] verify and export.

mod log;
mod read;
pub mod record;
#[cfg(test)]
mod tests;

pub use log::AuditLog;
pub(crate) use log::hex;
pub use record::{AuditError, AuditRecord, Entry, Filter, Verdict};
