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
//! Here: the record types; [`log`] the file and its appends; [`read`] verify and export.

mod log;
mod read;
#[cfg(test)]
mod tests;

use kizuna_core::{DeviceId, ProfessionalId, RoomId, Timestamp};
pub use log::AuditLog;
pub(crate) use log::hex;
use serde::{Deserialize, Serialize};

/// Why the log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading or writing the log's files failed.
    #[error("audit file: {0}")]
    Io(#[from] std::io::Error),
    /// The old sled log could not be read for copying.
    #[error("reading the old (sled) audit log: {0}")]
    Legacy(#[from] sled::Error),
    /// A stored record is not a record.
    #[error("audit record {0} is unreadable")]
    Unreadable(u64),
    /// The last complete line of the log is not a record, so the chain cannot be continued.
    #[error(
        "the last record of the audit log (the last line of audit/log.jsonl) is unreadable; \
         the relay does not continue a chain it cannot read"
    )]
    UnreadableEnd,
    /// A failed write could not be cut off again; appending more would break the chain.
    #[error("the audit log could not undo a failed write; restart the relay")]
    Stuck,
}

/// One audited event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When it happened (relay clock).
    pub at: Timestamp,
    /// Who did it (absent for the relay's own acts).
    pub professional: Option<ProfessionalId>,
    /// From which device.
    pub device: Option<DeviceId>,
    /// What was done: `read`, `write`, `refused`, `denied`, `created`, or `admin.*`.
    pub action: String,
    /// The document concerned (a room or a restricted document).
    pub room: Option<RoomId>,
    /// The object of an administrative act (a professional, device or membership), as an id.
    pub subject: Option<String>,
    /// Automerge change hashes (hex) sent, stored or refused.
    pub changes: Vec<String>,
    /// The rule broken, for refusals; never content.
    pub reason: Option<String>,
    /// Hash of the previous record (hex).
    pub prev: String,
    /// Hash of this record (hex).
    pub hash: String,
}

/// What to append: a record before it gets its place and hashes.
#[derive(Clone, Debug, Default)]
pub struct Entry {
    /// Who did it.
    pub professional: Option<ProfessionalId>,
    /// From which device.
    pub device: Option<DeviceId>,
    /// What was done.
    pub action: &'static str,
    /// The document concerned.
    pub room: Option<RoomId>,
    /// The object of an administrative act.
    pub subject: Option<String>,
    /// Change hashes (hex).
    pub changes: Vec<String>,
    /// The rule broken.
    pub reason: Option<String>,
}

/// The verdict of [`AuditLog::verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether every record is where and what it was when written.
    pub intact: bool,
    /// Records checked.
    pub records: u64,
    /// The first record that fails, by its position in the log.
    pub first_broken: Option<u64>,
    /// What is wrong with it.
    pub problem: Option<String>,
}

/// Which records to export.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Filter {
    /// Only this document.
    pub room: Option<RoomId>,
    /// Only this professional.
    pub professional: Option<ProfessionalId>,
    /// Only records at or after this time.
    pub since: Option<Timestamp>,
    /// Only records before this time.
    pub until: Option<Timestamp>,
}

impl Filter {
    fn accepts(&self, r: &AuditRecord) -> bool {
        self.room.is_none_or(|x| r.room == Some(x))
            && self.professional.is_none_or(|x| r.professional == Some(x))
            && self.since.is_none_or(|t| r.at >= t)
            && self.until.is_none_or(|t| r.at < t)
    }
}
