//! What the audit log holds: the records (ids, change hashes and rule names only), the
//! entries callers hand it, the verdict of a verification and the export filter.

use kizuna_core::{DeviceId, ProfessionalId, RoomId, Timestamp};
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
    /// The live file `log.jsonl` is gone while closed segments are there: a new one would
    /// start a chain that hides what the lost file held.
    #[error(
        "audit/log.jsonl is missing beside the closed segments (the last is {0}); restore it \
         from the backup: the relay does not start a new chain"
    )]
    LiveMissing(String),
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

/// The verdict of [`AuditLog::verify`](super::AuditLog::verify): the contract's type, since
/// it is exactly what `GET /v1/admin/audit/verify` answers.
pub use kizuna_contract::audit::Verdict;

/// A stored record as the export writes it. The stored record stays the log's own type (its
/// canonical JSON is what is hashed); the export body is the contract's, field for field.
impl From<&AuditRecord> for kizuna_contract::audit::AuditRecord {
    fn from(r: &AuditRecord) -> kizuna_contract::audit::AuditRecord {
        kizuna_contract::audit::AuditRecord {
            seq: r.seq,
            at: r.at.into(),
            professional: r.professional.map(|p| p.0),
            device: r.device.map(|d| d.0),
            action: r.action.clone(),
            room: r.room.map(|x| x.0),
            subject: r.subject.clone(),
            changes: r.changes.clone(),
            reason: r.reason.clone(),
            prev: r.prev.clone(),
            hash: r.hash.clone(),
        }
    }
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
    /// Only records after this position: where an export that stopped at its limit goes on.
    pub after: Option<u64>,
}

impl Filter {
    pub(super) fn accepts(&self, r: &AuditRecord) -> bool {
        self.room.is_none_or(|x| r.room == Some(x))
            && self.professional.is_none_or(|x| r.professional == Some(x))
            && self.since.is_none_or(|t| r.at >= t)
            && self.until.is_none_or(|t| r.at < t)
            && self.after.is_none_or(|s| r.seq > s)
    }
}
