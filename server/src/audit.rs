//! The audit log: every read and write of a room and every administrative act, in an
//! append-only sled tree whose records are hash-chained, so an edited, removed or reordered
//! record is found by `verify`.
//!
//! Record `n` stores `prev` = the hash of record `n-1` (zeros for the first) and `hash` =
//! SHA-256(`prev` ‖ the record's canonical JSON with `hash` empty). Records hold ids, change
//! hashes and rule names only — never patient names or clinical text.

use kizuna_core::store::group_commit::GroupCommit;
use kizuna_core::{DeviceId, ProfessionalId, RoomId, Timestamp};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;

/// Why the log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The sled tree failed.
    #[error("audit storage: {0}")]
    Storage(#[from] sled::Error),
    /// A stored record is not a record.
    #[error("audit record {0} is unreadable")]
    Unreadable(u64),
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

const ZERO: [u8; 32] = [0; 32];
const HEAD: &[u8] = b"head";

/// The hash-chained log.
pub struct AuditLog {
    db: sled::Db,
    records: sled::Tree,
    /// `(seq, hash)` of the last record; appends are serialised here.
    last: Mutex<(u64, [u8; 32])>,
    /// Concurrent appends share one flush.
    commit: GroupCommit,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash a record must carry: over the previous hash and the record with `hash` empty.
fn chain_hash(r: &AuditRecord) -> String {
    let mut body = r.clone();
    body.hash = String::new();
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(r.prev.as_bytes());
    ctx.update(&json);
    hex(ctx.finish().as_ref())
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl AuditLog {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path) -> Result<AuditLog, AuditError> {
        // An append-only log is read rarely (verify, export): a small cache suffices, and
        // sled's default (1 GiB) let the log's pages fill the relay's memory under load.
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(16 * 1024 * 1024)
            .open()?;
        let records = db.open_tree("records")?;
        let last = match records.last()? {
            Some((k, v)) => {
                let seq = seq_of(&k);
                let r: AuditRecord =
                    serde_json::from_slice(&v).map_err(|_| AuditError::Unreadable(seq))?;
                (seq, unhex(&r.hash).unwrap_or(ZERO))
            }
            None => (0, ZERO),
        };
        Ok(AuditLog {
            db,
            records,
            last: Mutex::new(last),
            commit: GroupCommit::default(),
        })
    }

    /// Appends records in one durable batch (flushed before returning): the caller answers
    /// the device only after its access is on disk.
    pub fn append(&self, entries: Vec<Entry>) -> Result<(), AuditError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (mut seq, mut prev) = *last;
        let now = Timestamp::now();
        let mut batch = sled::Batch::default();
        for e in entries {
            seq += 1;
            let mut r = AuditRecord {
                seq,
                at: now,
                professional: e.professional,
                device: e.device,
                action: e.action.to_string(),
                room: e.room,
                subject: e.subject,
                changes: e.changes,
                reason: e.reason,
                prev: hex(&prev),
                hash: String::new(),
            };
            r.hash = chain_hash(&r);
            prev = unhex(&r.hash).unwrap_or(ZERO);
            let json = serde_json::to_vec(&r).unwrap_or_default();
            batch.insert(&seq.to_be_bytes(), json);
        }
        self.records.apply_batch(batch)?;
        self.db.insert(HEAD, &seq.to_be_bytes())?;
        *last = (seq, prev);
        // Flushed after the lock is released, by one caller for all who are waiting (group
        // commit): sled writes its log in order, so a flush covers every earlier record. A
        // crash before the flush loses only records whose callers had not answered yet.
        drop(last);
        self.commit.flush(|| self.db.flush().map(drop))?;
        Ok(())
    }

    /// Appends one record.
    pub fn record(&self, entry: Entry) -> Result<(), AuditError> {
        self.append(vec![entry])
    }

    /// Checks the whole chain: positions without gaps, each record's `prev` the hash of the
    /// one before, each hash matching its record, and the last position the one written last.
    pub fn verify(&self) -> Result<Verdict, AuditError> {
        let mut expected_seq = 1u64;
        let mut prev = hex(&ZERO);
        let mut count = 0u64;
        let broken = |seq: u64, count: u64, why: &str| Verdict {
            intact: false,
            records: count,
            first_broken: Some(seq),
            problem: Some(why.to_string()),
        };
        for item in self.records.iter() {
            let (k, v) = item?;
            let key_seq = seq_of(&k);
            count += 1;
            let Ok(r) = serde_json::from_slice::<AuditRecord>(&v) else {
                return Ok(broken(key_seq, count, "the record is unreadable"));
            };
            if key_seq != expected_seq {
                return Ok(broken(
                    expected_seq,
                    count,
                    "a record is missing at this position",
                ));
            }
            if r.seq != key_seq {
                return Ok(broken(
                    key_seq,
                    count,
                    "the record stored here belongs elsewhere (reordered)",
                ));
            }
            if r.prev != prev {
                return Ok(broken(
                    key_seq,
                    count,
                    "the record does not follow the one before it",
                ));
            }
            if chain_hash(&r) != r.hash {
                return Ok(broken(
                    key_seq,
                    count,
                    "the record was changed after it was written",
                ));
            }
            prev = r.hash;
            expected_seq += 1;
        }
        let head = self.db.get(HEAD)?.map_or(0, |v| seq_of(&v));
        if head != expected_seq - 1 {
            return Ok(broken(
                expected_seq,
                count,
                "records at the end of the log were removed",
            ));
        }
        Ok(Verdict {
            intact: true,
            records: count,
            first_broken: None,
            problem: None,
        })
    }

    /// Records matching `filter`, oldest first, at most `limit`.
    pub fn export(&self, filter: &Filter, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let mut out = Vec::new();
        for item in self.records.iter() {
            let (k, v) = item?;
            let r: AuditRecord =
                serde_json::from_slice(&v).map_err(|_| AuditError::Unreadable(seq_of(&k)))?;
            if filter.accepts(&r) {
                out.push(r);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Records matching `filter`, newest first, at most `limit` (for the console's view).
    pub fn newest(&self, filter: &Filter, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let mut out = Vec::new();
        for item in self.records.iter().rev() {
            let (k, v) = item?;
            let r: AuditRecord =
                serde_json::from_slice(&v).map_err(|_| AuditError::Unreadable(seq_of(&k)))?;
            if filter.accepts(&r) {
                out.push(r);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Records as JSON lines (one record per line), the export format.
    pub fn to_json_lines(records: &[AuditRecord]) -> String {
        let mut body = String::new();
        for r in records {
            body.push_str(&serde_json::to_string(r).unwrap_or_default());
            body.push('\n');
        }
        body
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }

    /// Whether nothing was logged yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Raw access for tamper tests: the stored bytes of record `seq`.
    #[doc(hidden)]
    pub fn raw_get(&self, seq: u64) -> Option<Vec<u8>> {
        self.records
            .get(seq.to_be_bytes())
            .ok()
            .flatten()
            .map(|v| v.to_vec())
    }

    /// Raw access for tamper tests: overwrite (or with `None` remove) record `seq`.
    #[doc(hidden)]
    pub fn raw_put(&self, seq: u64, bytes: Option<Vec<u8>>) -> Result<(), AuditError> {
        match bytes {
            Some(b) => self.records.insert(seq.to_be_bytes(), b)?,
            None => self.records.remove(seq.to_be_bytes())?,
        };
        self.db.flush()?;
        Ok(())
    }
}

fn seq_of(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = k.len().min(8);
    b[8 - n..].copy_from_slice(&k[..n]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        for i in 0..n {
            log.record(Entry {
                professional: Some(ProfessionalId::new()),
                action: "write",
                room: Some(RoomId::new()),
                changes: vec![format!("{i:064x}")],
                ..Entry::default()
            })
            .unwrap();
        }
        (dir, log)
    }

    #[test]
    fn an_untouched_log_is_intact_and_survives_reopening() {
        let (dir, log) = log_with(5);
        assert!(log.verify().unwrap().intact);
        drop(log);
        let log = AuditLog::open(dir.path()).unwrap();
        log.record(Entry {
            action: "read",
            ..Entry::default()
        })
        .unwrap();
        let v = log.verify().unwrap();
        assert!(v.intact, "{v:?}");
        assert_eq!(v.records, 6);
    }

    #[test]
    fn an_edited_record_is_found() {
        let (_d, log) = log_with(5);
        let mut r: AuditRecord = serde_json::from_slice(&log.raw_get(3).unwrap()).unwrap();
        r.action = "read".into();
        log.raw_put(3, Some(serde_json::to_vec(&r).unwrap()))
            .unwrap();
        let v = log.verify().unwrap();
        assert!(!v.intact);
        assert_eq!(v.first_broken, Some(3));
    }

    #[test]
    fn a_removed_record_is_found() {
        let (_d, log) = log_with(5);
        log.raw_put(2, None).unwrap();
        let v = log.verify().unwrap();
        assert_eq!(v.first_broken, Some(2));
        let (_d, log) = log_with(5);
        log.raw_put(5, None).unwrap();
        let v = log.verify().unwrap();
        assert_eq!(v.first_broken, Some(5), "{v:?}");
    }

    #[test]
    fn reordered_records_are_found() {
        let (_d, log) = log_with(5);
        let a = log.raw_get(2).unwrap();
        let b = log.raw_get(4).unwrap();
        log.raw_put(2, Some(b)).unwrap();
        log.raw_put(4, Some(a)).unwrap();
        let v = log.verify().unwrap();
        assert_eq!(v.first_broken, Some(2));
    }

    #[test]
    fn export_filters_by_room_and_time() {
        let (_d, log) = log_with(3);
        let all = log.export(&Filter::default(), 100).unwrap();
        assert_eq!(all.len(), 3);
        let room = all[1].room;
        let one = log
            .export(
                &Filter {
                    room,
                    ..Filter::default()
                },
                100,
            )
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].seq, 2);
        let later = log
            .export(
                &Filter {
                    since: Some(Timestamp(all[2].at.0 + 1)),
                    ..Filter::default()
                },
                100,
            )
            .unwrap();
        assert!(later.is_empty());
    }
}
