//! The audit log as administrators read it: the export (`GET /v1/admin/audit`, one JSON
//! record per line) and the hash-chain check (`GET /v1/admin/audit/verify`). The export's
//! limits and its line format live here once, for the API and the console's download alike.

use crate::people::Millis;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The media type of the export: newline-delimited JSON, one [`AuditRecord`] per line.
pub const AUDIT_EXPORT_MEDIA_TYPE: &str = "application/x-ndjson";

/// Records exported when the query names no `limit`.
pub const DEFAULT_EXPORT_LIMIT: usize = 100_000;

/// Records exported at most, whatever `limit` asks (the console's download uses this).
pub const MAX_EXPORT_LIMIT: usize = 1_000_000;

/// The query of `GET /v1/admin/audit`. Times are milliseconds since 1970 or RFC 3339.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// Only this document (room id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Only this professional (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub professional: Option<String>,
    /// Only records at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Only records before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Only records after this position (`seq`): the next page of an export that stopped
    /// at its limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// Records at most (default 100,000, capped at 1,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl AuditQuery {
    /// How many records this query may export: its `limit` or the default, within the cap.
    pub fn effective_limit(&self) -> usize {
        self.limit
            .unwrap_or(DEFAULT_EXPORT_LIMIT)
            .min(MAX_EXPORT_LIMIT)
    }
}

/// One audited event, exactly as the log stores and hashes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When it happened (relay clock).
    pub at: Millis,
    /// Who did it (`null` for the relay's own acts).
    pub professional: Option<Uuid>,
    /// From which device.
    pub device: Option<Uuid>,
    /// What was done: `read`, `write`, `refused`, `denied`, `created`, `blob.read`, `admin.*`….
    pub action: String,
    /// The document concerned (a room or a restricted document).
    pub room: Option<Uuid>,
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

/// The export body: one record per line, each line ending in `\n`. The one writer of the
/// format, for the API and the console's download.
pub fn to_json_lines(records: &[AuditRecord]) -> String {
    let mut body = String::new();
    for r in records {
        body.push_str(&serde_json::to_string(r).unwrap_or_default());
        body.push('\n');
    }
    body
}

/// `POST /v1/admin/audit/rotate`: the audit log's live file closed as a segment on request
/// (before archiving the segments, docs/operations.md), whatever its size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rotated {
    /// The file the live records went to (`log-000003.jsonl`); absent when the live file
    /// held no record (the record of this request goes into it, so it never is empty then).
    pub segment: Option<String>,
}

/// `GET /v1/admin/audit/verify`: whether the hash chain is whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verdict {
    /// Whether every record is where and what it was when written.
    pub intact: bool,
    /// Records checked.
    pub records: u64,
    /// The first record that fails, by its position in the log.
    pub first_broken: Option<u64>,
    /// What is wrong with it, naming the file of the log it is in.
    pub problem: Option<String>,
    /// The position of the first record kept on the relay, when the operator archived the
    /// oldest segments of the log (docs/operations.md); absent when the chain starts at
    /// record 1. The archived segments are checked against it, not lost from view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_kept: Option<u64>,
    /// Files of the log checked: the closed segments kept and the live file (absent from a
    /// relay older than the segments, whose log was one file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
}
