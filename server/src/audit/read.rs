//! Reading the log back: checking the whole chain ([`AuditLog::verify`]) and exporting
//! filtered records, oldest first or newest first, as JSON lines.

use super::log::*;
use super::record::{AuditError, AuditRecord, Filter, Verdict};

impl AuditLog {
    /// Checks the whole chain: positions without gaps, each record's `prev` the hash of the
    /// one before, each hash matching its record, and the last position written (in `head`)
    /// still there.
    pub fn verify(&self) -> Result<Verdict, AuditError> {
        // Read before the length: `head` never names a record beyond what is in the file.
        let head = read_head(&self.dir);
        let (file, len, _) = self.snapshot()?;
        let mut expected_seq = 1u64;
        let mut prev = hex(&ZERO);
        let mut count = 0u64;
        let mut verdict = None;
        let broken = |seq: u64, count: u64, why: &str| Verdict {
            intact: false,
            records: count,
            first_broken: Some(seq),
            problem: Some(why.to_string()),
        };
        forwards(file, len, |line| {
            count += 1;
            let Ok(r) = serde_json::from_slice::<AuditRecord>(line) else {
                verdict = Some(broken(expected_seq, count, "the record is unreadable"));
                return Ok(false);
            };
            let why = if r.seq > expected_seq {
                Some("a record is missing (or moved) at this position")
            } else if r.seq < expected_seq {
                Some("the record here belongs elsewhere (reordered)")
            } else if r.prev != prev {
                Some("the record does not follow the one before it")
            } else if chain_hash(&r) != r.hash {
                Some("the record was changed after it was written")
            } else if head
                .as_ref()
                .is_some_and(|(s, h)| *s == r.seq && *h != r.hash)
            {
                Some("the record differs from the one last written here")
            } else {
                None
            };
            if let Some(why) = why {
                verdict = Some(broken(expected_seq, count, why));
                return Ok(false);
            }
            prev = r.hash;
            expected_seq += 1;
            Ok(true)
        })?;
        if let Some(v) = verdict {
            return Ok(v);
        }
        let Some((head_seq, _)) = head else {
            return Ok(Verdict {
                intact: false,
                records: count,
                first_broken: None,
                problem: Some("the log's record of its last position is missing".into()),
            });
        };
        if head_seq > expected_seq - 1 {
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
        let (file, len, _) = self.snapshot()?;
        let mut out = Vec::new();
        let mut at = 0u64;
        forwards(file, len, |line| {
            at += 1;
            let r: AuditRecord =
                serde_json::from_slice(line).map_err(|_| AuditError::Unreadable(at))?;
            if filter.accepts(&r) {
                out.push(r);
            }
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Records matching `filter`, newest first, at most `limit` (for the console's view).
    pub fn newest(&self, filter: &Filter, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let (file, len, last) = self.snapshot()?;
        // Positions counted back from the last one, for naming an unreadable line.
        let mut at = last + 1;
        let mut lines = Backwards::new(&file, len);
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(line) = lines.next_line()? else {
                break;
            };
            at = at.saturating_sub(1);
            let r: AuditRecord =
                serde_json::from_slice(&line).map_err(|_| AuditError::Unreadable(at))?;
            if filter.accepts(&r) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        self.tail().seq
    }

    /// Whether nothing was logged yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
