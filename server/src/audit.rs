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

use kizuna_core::store::group_commit::GroupCommit;
use kizuna_core::{DeviceId, ProfessionalId, RoomId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

const ZERO: [u8; 32] = [0; 32];
/// The records, one JSON object per line.
const LOG: &str = "log.jsonl";
/// `{seq:020} {hash}\n` of the last record known durable.
const HEAD: &str = "head";
/// Where the files of an old sled log are moved once copied.
const LEGACY: &str = "sled-before-migration";
/// Bytes read at a time when walking the log backwards.
const BLOCK: u64 = 64 * 1024;

/// Where the end of the log is: appends are serialised here.
struct Tail {
    /// Position of the last record (0 when empty).
    seq: u64,
    /// Its hash.
    prev: [u8; 32],
    /// Bytes of complete records in the file.
    bytes: u64,
    /// A failed write could not be cut off; no more appends.
    stuck: bool,
}

/// The hash-chained log.
pub struct AuditLog {
    dir: PathBuf,
    /// Opened for appending; every write is a whole batch of lines.
    file: File,
    /// Rewritten in place after each flush.
    head: File,
    tail: Mutex<Tail>,
    /// Concurrent appends share one flush.
    commit: GroupCommit,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog(..)")
    }
}

/// Lower-case hex without a formatter per byte (the log writes a dozen hashes per sync).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn digest(prev: &str, body: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev.as_bytes());
    ctx.update(body);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The stored line of a record whose `hash` is still empty, and that hash. The JSON is
/// written once: `hash` is the last field, so the empty value is filled in place.
fn seal(r: &AuditRecord) -> (Vec<u8>, [u8; 32]) {
    const EMPTY: &[u8] = br#""hash":""}"#;
    let mut json = serde_json::to_vec(r).unwrap_or_default();
    let hash = digest(&r.prev, &json);
    if json.ends_with(EMPTY) {
        json.truncate(json.len() - 2);
        json.extend_from_slice(hex(&hash).as_bytes());
        json.extend_from_slice(b"\"}");
    } else {
        let mut full = r.clone();
        full.hash = hex(&hash);
        json = serde_json::to_vec(&full).unwrap_or_default();
    }
    (json, hash)
}

/// The hash a record must carry: over the previous hash and the record with `hash` empty.
fn chain_hash(r: &AuditRecord) -> String {
    let mut body = r.clone();
    body.hash = String::new();
    hex(&seal(&body).1)
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

fn head_line(seq: u64, hash: &[u8; 32]) -> String {
    format!("{seq:020} {}\n", hex(hash))
}

/// `(seq, hash)` from the head file, if it is there and readable.
fn read_head(dir: &Path) -> Option<(u64, String)> {
    let text = std::fs::read_to_string(dir.join(HEAD)).ok()?;
    let (seq, hash) = text.trim_end().split_once(' ')?;
    Some((seq.parse().ok()?, hash.to_string()))
}

/// The lines of the first `len` bytes of `file`, newest first, without their newlines.
struct Backwards<'a> {
    file: &'a File,
    /// Bytes before this offset are not read yet.
    pos: u64,
    /// Read but not yet returned: the bytes from `pos` up to the end of the next line.
    pending: Vec<u8>,
}

impl<'a> Backwards<'a> {
    fn new(file: &'a File, len: u64) -> Self {
        // The log ends with a newline: skip it so the last line comes first.
        Backwards {
            file,
            pos: len.saturating_sub(1),
            pending: Vec::new(),
        }
    }

    fn next_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = self.pending.iter().rposition(|&b| b == b'\n') {
                let line = self.pending.split_off(i + 1);
                self.pending.truncate(i);
                return Ok(Some(line));
            }
            if self.pos == 0 {
                return Ok((!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending)));
            }
            let n = self.pos.min(BLOCK);
            self.pos -= n;
            let mut block = vec![0u8; usize::try_from(n).unwrap_or(0)];
            self.file.read_exact_at(&mut block, self.pos)?;
            block.extend_from_slice(&self.pending);
            self.pending = block;
        }
    }
}

/// Calls `f` with each complete line of the first `len` bytes of `file`, oldest first,
/// until it returns `false`.
fn forwards(
    file: File,
    len: u64,
    mut f: impl FnMut(&[u8]) -> Result<bool, AuditError>,
) -> Result<(), AuditError> {
    let mut reader = BufReader::with_capacity(1 << 16, file.take(len));
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if !f(&line)? {
            return Ok(());
        }
    }
}

/// Cuts off a torn last line (a batch the relay crashed while writing: never acknowledged)
/// and returns the length of the complete lines.
fn complete_length(file: &File) -> Result<u64, AuditError> {
    let len = file.metadata()?.len();
    let mut end = len;
    while end > 0 {
        let n = end.min(BLOCK);
        let mut block = vec![0u8; usize::try_from(n).unwrap_or(0)];
        file.read_exact_at(&mut block, end - n)?;
        if let Some(i) = block.iter().rposition(|&b| b == b'\n') {
            end = end - n + i as u64 + 1;
            break;
        }
        end -= n;
    }
    if end != len {
        file.set_len(end)?;
        file.sync_all()?;
    }
    Ok(end)
}

/// Copies an old sled log (before November 2026) into `log.jsonl` byte for byte, so every
/// hash still holds, then moves sled's files into `sled-before-migration/`.
fn migrate_from_sled(dir: &Path) -> Result<(), AuditError> {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(4 * 1024 * 1024)
        .open()?;
    let records = db.open_tree("records")?;
    let tmp = dir.join("log.jsonl.copying");
    let mut out = BufWriter::new(File::create(&tmp)?);
    let mut last: Option<AuditRecord> = None;
    for item in records.iter() {
        let (_, v) = item?;
        out.write_all(&v)?;
        out.write_all(b"\n")?;
        last = serde_json::from_slice(&v).ok();
    }
    let file = out
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?;
    file.sync_all()?;
    // The old log's own record of its last position becomes the head file.
    let head = match db.get(b"head")? {
        Some(v) => {
            let mut b = [0u8; 8];
            let n = v.len().min(8);
            b[8 - n..].copy_from_slice(&v[..n]);
            let seq = u64::from_be_bytes(b);
            let at = records.get(seq.to_be_bytes())?;
            let hash = at
                .and_then(|v| serde_json::from_slice::<AuditRecord>(&v).ok())
                .and_then(|r| unhex(&r.hash))
                .unwrap_or(ZERO);
            Some(head_line(seq, &hash))
        }
        None => last.map(|r| head_line(r.seq, &unhex(&r.hash).unwrap_or(ZERO))),
    };
    drop(records);
    drop(db);
    if let Some(h) = head {
        std::fs::write(dir.join(HEAD), h)?;
    }
    std::fs::rename(&tmp, dir.join(LOG))?;
    let legacy = dir.join(LEGACY);
    std::fs::create_dir_all(&legacy)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name != LOG && name != HEAD && name != LEGACY {
            std::fs::rename(entry.path(), legacy.join(&name))?;
        }
    }
    File::open(dir)?.sync_all()?;
    tracing::warn!(
        "the audit log was copied out of sled into {}; the old files are in {} and can be \
         removed once `kizuna admin audit verify` says intact",
        dir.join(LOG).display(),
        legacy.display()
    );
    Ok(())
}

impl AuditLog {
    /// Opens (or creates) the log in `dir`. An old sled log there is copied into the file
    /// first; a torn last line (a crash mid-write, never acknowledged) is cut off.
    pub fn open(dir: &Path) -> Result<AuditLog, AuditError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG);
        if !path.exists() && dir.join("db").exists() {
            migrate_from_sled(dir)?;
        }
        let fresh = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        if fresh {
            File::open(dir)?.sync_all()?;
        }
        let len = complete_length(&file)?;
        let (seq, prev) = match Backwards::new(&file, len).next_line()? {
            Some(line) => {
                let r: AuditRecord =
                    serde_json::from_slice(&line).map_err(|_| AuditError::UnreadableEnd)?;
                (r.seq, unhex(&r.hash).ok_or(AuditError::UnreadableEnd)?)
            }
            None => (0, ZERO),
        };
        let head = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(HEAD))?;
        if fresh {
            head.write_all_at(head_line(0, &ZERO).as_bytes(), 0)?;
            head.sync_all()?;
        }
        Ok(AuditLog {
            dir: dir.to_path_buf(),
            file,
            head,
            tail: Mutex::new(Tail {
                seq,
                prev,
                bytes: len,
                stuck: false,
            }),
            commit: GroupCommit::default(),
        })
    }

    fn tail(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends records in one durable batch (flushed before returning): the caller answers
    /// the device only after its access is on disk.
    pub fn append(&self, entries: Vec<Entry>) -> Result<(), AuditError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tail = self.tail();
        if tail.stuck {
            return Err(AuditError::Stuck);
        }
        let (mut seq, mut prev) = (tail.seq, tail.prev);
        let now = Timestamp::now();
        let mut lines = Vec::with_capacity(entries.len() * 512);
        for e in entries {
            seq += 1;
            let r = AuditRecord {
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
            let (line, hash) = seal(&r);
            lines.extend_from_slice(&line);
            lines.push(b'\n');
            prev = hash;
        }
        if let Err(e) = (&self.file).write_all(&lines) {
            // Part of a batch on disk would break the chain for every later record.
            if self.file.set_len(tail.bytes).is_err() {
                tail.stuck = true;
            }
            return Err(e.into());
        }
        tail.seq = seq;
        tail.prev = prev;
        tail.bytes += lines.len() as u64;
        // Flushed after the lock is released, by one caller for all who are waiting (group
        // commit). A crash before the flush loses only records whose callers had not
        // answered yet.
        drop(tail);
        self.commit.flush(|| self.sync())?;
        Ok(())
    }

    /// Makes every record written so far durable, then records the last one in `head`.
    fn sync(&self) -> std::io::Result<()> {
        let (seq, prev) = {
            let t = self.tail();
            (t.seq, t.prev)
        };
        self.file.sync_data()?;
        // Not synced itself: after a crash `head` may lag behind, never run ahead.
        self.head.write_all_at(head_line(seq, &prev).as_bytes(), 0)
    }

    /// Appends one record.
    pub fn record(&self, entry: Entry) -> Result<(), AuditError> {
        self.append(vec![entry])
    }

    /// A reader of the log, the length of its complete records now, and the last position.
    fn snapshot(&self) -> Result<(File, u64, u64), AuditError> {
        let (len, seq) = {
            let t = self.tail();
            (t.bytes, t.seq)
        };
        Ok((File::open(self.dir.join(LOG))?, len, seq))
    }

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
        self.tail().seq
    }

    /// Whether nothing was logged yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Raw access for tamper tests: the stored bytes of the `seq`-th line.
    #[doc(hidden)]
    pub fn raw_get(&self, seq: u64) -> Option<Vec<u8>> {
        let text = std::fs::read(self.dir.join(LOG)).ok()?;
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        text.split(|&b| b == b'\n').nth(index).map(<[u8]>::to_vec)
    }

    /// Raw access for tamper tests: overwrite (or with `None` remove) the `seq`-th line,
    /// rewriting the file in place as someone with access to the disk could.
    #[doc(hidden)]
    pub fn raw_put(&self, seq: u64, bytes: Option<Vec<u8>>) -> Result<(), AuditError> {
        let mut tail = self.tail();
        let path = self.dir.join(LOG);
        let text = std::fs::read(&path)?;
        let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        lines.pop();
        let index = usize::try_from(seq.saturating_sub(1)).unwrap_or(usize::MAX);
        if index < lines.len() {
            match &bytes {
                Some(b) => lines[index] = b,
                None => {
                    lines.remove(index);
                }
            }
        }
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        let mut f = OpenOptions::new().write(true).truncate(true).open(&path)?;
        f.write_all(&out)?;
        f.sync_all()?;
        tail.bytes = out.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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

    /// Opens the log in `dir` again, appends one record and checks the chain holds `records`.
    fn reopen_append_and_verify(dir: &Path, records: u64) -> AuditLog {
        let log = AuditLog::open(dir).unwrap();
        log.record(Entry {
            action: "read",
            ..Entry::default()
        })
        .unwrap();
        let v = log.verify().unwrap();
        assert!(v.intact, "{v:?}");
        assert_eq!(v.records, records);
        log
    }

    #[test]
    fn an_untouched_log_is_intact_and_survives_reopening() {
        let (dir, log) = log_with(5);
        assert!(log.verify().unwrap().intact);
        drop(log);
        reopen_append_and_verify(dir.path(), 6);
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
    fn a_sealed_line_is_the_record_with_its_chain_hash() {
        let (_d, log) = log_with(3);
        for seq in 1..=3 {
            let line = log.raw_get(seq).unwrap();
            let r: AuditRecord = serde_json::from_slice(&line).unwrap();
            assert_eq!(r.seq, seq);
            assert_eq!(chain_hash(&r), r.hash);
            assert_eq!(serde_json::to_vec(&r).unwrap(), line, "one canonical form");
        }
    }

    #[test]
    fn a_torn_last_batch_is_cut_off_and_the_chain_continues() {
        let (dir, log) = log_with(4);
        drop(log);
        // A crash in the middle of writing a batch: half a line at the end.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG))
            .unwrap();
        f.write_all(br#"{"seq":5,"at":1,"professio"#).unwrap();
        drop(f);
        assert_eq!(AuditLog::open(dir.path()).unwrap().len(), 4);
        reopen_append_and_verify(dir.path(), 5);
    }

    #[test]
    fn a_cut_off_end_is_found_through_the_head() {
        let (dir, log) = log_with(5);
        drop(log);
        let path = dir.path().join(LOG);
        let text = std::fs::read(&path).unwrap();
        let keep = text[..text.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap();
        std::fs::write(&path, &text[..=keep]).unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        let v = log.verify().unwrap();
        assert_eq!(v.first_broken, Some(5), "{v:?}");
        std::fs::remove_file(dir.path().join(HEAD)).unwrap();
        assert!(!log.verify().unwrap().intact, "a deleted head is noticed");
    }

    #[test]
    fn newest_reads_backwards_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        let room = RoomId::new();
        // Long records so the log spans several of the blocks read backwards.
        for i in 0..300u64 {
            log.record(Entry {
                action: if i % 3 == 0 { "write" } else { "read" },
                room: Some(room),
                changes: (0..10).map(|k| format!("{:064x}", i * 100 + k)).collect(),
                ..Entry::default()
            })
            .unwrap();
        }
        assert!(std::fs::metadata(dir.path().join(LOG)).unwrap().len() > 3 * BLOCK);
        let newest = log.newest(&Filter::default(), 1000).unwrap();
        let seqs: Vec<u64> = newest.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (1..=300).rev().collect::<Vec<_>>());
        let three = log.newest(&Filter::default(), 3).unwrap();
        assert_eq!(
            three.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [300, 299, 298]
        );
        assert!(log.verify().unwrap().intact);
    }

    #[test]
    fn an_old_sled_log_is_copied_into_the_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        {
            // The layout written before November 2026: records keyed by big-endian position
            // in the tree `records`, the last position under `head`.
            let db = sled::open(dir.path()).unwrap();
            let records = db.open_tree("records").unwrap();
            let mut prev = ZERO;
            for seq in 1..=20u64 {
                let r = AuditRecord {
                    seq,
                    at: Timestamp(1_700_000_000_000 + i64::try_from(seq).unwrap()),
                    professional: Some(ProfessionalId::new()),
                    device: None,
                    action: "write".into(),
                    room: Some(RoomId::new()),
                    subject: None,
                    changes: vec![format!("{seq:064x}")],
                    reason: None,
                    prev: hex(&prev),
                    hash: String::new(),
                };
                let (line, hash) = seal(&r);
                records.insert(seq.to_be_bytes(), line).unwrap();
                prev = hash;
            }
            db.insert(b"head", &20u64.to_be_bytes()).unwrap();
            db.flush().unwrap();
        }
        let log = AuditLog::open(dir.path()).unwrap();
        assert_eq!(log.len(), 20);
        let v = log.verify().unwrap();
        assert!(v.intact, "{v:?}");
        assert_eq!(v.records, 20);
        assert!(!dir.path().join("db").exists(), "sled's files moved aside");
        assert!(dir.path().join(LEGACY).join("db").exists());
        drop(log);
        reopen_append_and_verify(dir.path(), 21);
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
