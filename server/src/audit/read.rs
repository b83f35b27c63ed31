//! Reading the log back across its files (closed segments oldest first, then the live
//! file): checking the whole chain ([`AuditLog::verify`]) and exporting filtered records,
//! oldest first or newest first, as JSON lines.

use super::log::*;
use super::record::{AuditError, AuditRecord, Filter, Verdict};
use super::segments::{Part, segment_name};

/// The position of a file's first record, if it has one that reads. Read at offsets, so
/// the handle's own position (the walk's) does not move.
fn first_seq(p: &Part) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let mut line = Vec::new();
    let mut block = vec![0u8; usize::try_from(BLOCK).unwrap_or(65536)];
    while (line.len() as u64) < p.len {
        let n = p.file.read_at(&mut block, line.len() as u64).ok()?;
        if n == 0 {
            break;
        }
        let got = block.get(..n)?;
        if let Some(i) = got.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(got.get(..i)?);
            return serde_json::from_slice::<AuditRecord>(&line)
                .ok()
                .map(|r| r.seq);
        }
        line.extend_from_slice(got);
    }
    None
}

/// Checks the chain through `parts` (closed segments oldest first, then the live file),
/// against `head`, the last position written. A problem names the file it is in.
///
/// The chain may start after record 1 only at the start of a closed segment numbered above
/// 1: the segments before it were archived by the operator (docs/operations.md), and the
/// verdict says where the kept chain starts (`first_kept`) instead of calling it broken.
pub(super) fn verify_parts(
    parts: Vec<Part>,
    head: Option<(u64, String)>,
) -> Result<Verdict, AuditError> {
    let files = parts.len() as u64;
    let broken = |seq: u64, count: u64, why: String| Verdict {
        intact: false,
        records: count,
        first_broken: Some(seq),
        problem: Some(why),
        first_kept: None,
        files: Some(files),
    };
    // Files out of order (renamed) are named as such before the walk finds the jump.
    let firsts: Vec<Option<u64>> = parts.iter().map(first_seq).collect();
    let mut before: Option<(usize, u64)> = None;
    for (i, f) in firsts.iter().enumerate() {
        let Some(seq) = *f else { continue };
        if let Some((b, bseq)) = before
            && seq <= bseq
        {
            return Ok(broken(
                seq,
                0,
                format!(
                    "{} and {} are out of order: {} begins at record {seq}, {} at record {bseq}",
                    parts[b].name, parts[i].name, parts[i].name, parts[b].name
                ),
            ));
        }
        before = Some((i, seq));
    }
    let mut expected: Option<u64> = None;
    let mut prev = hex(&ZERO);
    let mut count = 0u64;
    let mut first_kept = None;
    let mut last_number: Option<u64> = None;
    let mut previous_name: Option<String> = None;
    for part in parts {
        let name = part.name.clone();
        if let Some(n) = part.number {
            if let Some(l) = last_number
                && n != l + 1
            {
                return Ok(broken(
                    expected.unwrap_or(1),
                    count,
                    format!(
                        "{} is missing: the segments go from {} to {name}",
                        segment_name(l + 1),
                        segment_name(l)
                    ),
                ));
            }
            last_number = Some(n);
        }
        let mut verdict = None;
        let mut first_line = true;
        forwards(part.file, part.len, |line| {
            count += 1;
            let at = expected.unwrap_or(1);
            let Ok(r) = serde_json::from_slice::<AuditRecord>(line) else {
                verdict = Some(broken(
                    at,
                    count,
                    format!("{name}: the record is unreadable"),
                ));
                return Ok(false);
            };
            let starts = std::mem::replace(&mut first_line, false);
            if expected.is_none() {
                if r.seq != 1 && part.number.is_some_and(|n| n > 1) {
                    // The segments before this one were archived.
                    first_kept = Some(r.seq);
                    prev = r.prev.clone();
                    expected = Some(r.seq);
                } else {
                    expected = Some(1);
                }
            }
            let exp = expected.unwrap_or(1);
            let why = if r.seq > exp {
                Some(match (&previous_name, starts) {
                    (Some(p), true) => format!(
                        "records {exp} to {} are missing: {p} ends before record {exp} and \
                         {name} begins at record {} ({p} was cut short, or the segment after \
                         it is missing)",
                        r.seq - 1,
                        r.seq
                    ),
                    (None, true) => format!(
                        "{name} begins at record {}: the records before it were removed \
                         (archiving keeps at least the newest closed segment; see \
                         docs/operations.md)",
                        r.seq
                    ),
                    _ => format!("{name}: a record is missing (or moved) at this position"),
                })
            } else if r.seq < exp {
                Some(format!(
                    "{name}: the record here belongs elsewhere (reordered)"
                ))
            } else if r.prev != prev {
                Some(format!(
                    "{name}: the record does not follow the one before it"
                ))
            } else if chain_hash(&r) != r.hash {
                Some(format!(
                    "{name}: the record was changed after it was written"
                ))
            } else if head
                .as_ref()
                .is_some_and(|(s, h)| *s == r.seq && *h != r.hash)
            {
                Some(format!(
                    "{name}: the record differs from the one last written here"
                ))
            } else {
                None
            };
            if let Some(why) = why {
                verdict = Some(broken(exp, count, why));
                return Ok(false);
            }
            prev = r.hash;
            expected = Some(exp + 1);
            Ok(true)
        })?;
        if let Some(v) = verdict {
            return Ok(v);
        }
        previous_name = Some(name);
    }
    let next = expected.unwrap_or(1);
    let Some((head_seq, _)) = head else {
        return Ok(Verdict {
            problem: Some("the log's record of its last position is missing".into()),
            first_broken: None,
            ..broken(next, count, String::new())
        });
    };
    if head_seq > next - 1 {
        return Ok(broken(
            next,
            count,
            format!(
                "records at the end of the log were removed (the last one written is {head_seq}; \
                 {} ends at {})",
                previous_name.as_deref().unwrap_or(LOG),
                next - 1
            ),
        ));
    }
    Ok(Verdict {
        intact: true,
        records: count,
        first_broken: None,
        problem: None,
        first_kept,
        files: Some(files),
    })
}

impl AuditLog {
    /// Checks the whole chain across the log's files: positions without gaps, each record's
    /// `prev` the hash of the one before (the first record of a file chains to the last of
    /// the file before), each hash matching its record, the segments numbered without gaps,
    /// and the last position written (in `head`) still there. Needs no key: the hashes are
    /// over the stored bytes.
    pub fn verify(&self) -> Result<Verdict, AuditError> {
        // Read before the files: `head` never names a record beyond what is in them.
        let head = read_head(&self.dir);
        let (parts, _, _) = self.parts()?;
        verify_parts(parts, head)
    }

    /// Records matching `filter`, oldest first, at most `limit`, across the log's files.
    pub fn export(&self, filter: &Filter, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let (parts, _, _) = self.parts()?;
        let mut out = Vec::new();
        let mut at = 0u64;
        for part in parts {
            // A whole file before the one wanted is passed over by its last record alone.
            if let Some(after) = filter.after
                && part.number.is_some()
                && let Ok(Some(line)) = Backwards::new(&part.file, part.len).next_line()
                && let Ok(r) = serde_json::from_slice::<AuditRecord>(&line)
                && r.seq <= after
            {
                at = r.seq;
                continue;
            }
            forwards(part.file, part.len, |line| {
                at += 1;
                let r: AuditRecord =
                    serde_json::from_slice(line).map_err(|_| AuditError::Unreadable(at))?;
                at = r.seq;
                if filter.accepts(&r) {
                    out.push(self.opened(r));
                }
                Ok(out.len() < limit)
            })?;
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Records matching `filter`, newest first, at most `limit` (for the console's view),
    /// from the live file back through the segments.
    pub fn newest(&self, filter: &Filter, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let (parts, last, _) = self.parts()?;
        // Positions counted back from the last one, for naming an unreadable line.
        let mut at = last + 1;
        let mut out = Vec::new();
        for part in parts.iter().rev() {
            let mut lines = Backwards::new(&part.file, part.len);
            while out.len() < limit {
                let Some(line) = lines.next_line()? else {
                    break;
                };
                at = at.saturating_sub(1);
                let r: AuditRecord =
                    serde_json::from_slice(&line).map_err(|_| AuditError::Unreadable(at))?;
                at = r.seq;
                if filter.accepts(&r) {
                    out.push(self.opened(r));
                }
            }
            if out.len() >= limit {
                break;
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
