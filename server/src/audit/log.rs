//! The live log file: where its end is, appending a batch with one shared flush, rotating
//! it into a closed segment when it grows past its size (the files are in
//! [`super::segments`]), the hash chain's arithmetic, reading a file forwards and backwards,
//! and copying an old sled log in once. Reading the log back (verify, export) is in
//! [`super::read`].

use super::record::{AuditError, AuditRecord, Entry};
use super::segments::{self, Part};
use kizuna_core::Timestamp;
use kizuna_core::store::Sealer;
use kizuna_core::store::group_commit::GroupCommit;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(super) const ZERO: [u8; 32] = [0; 32];
pub(super) use super::segments::{LOG, NEXT};
/// `{seq:020} {hash}\n` of the last record known durable.
pub(super) const HEAD: &str = "head";
/// Where the files of an old sled log are moved once copied.
pub(super) const LEGACY: &str = "sled-before-migration";
/// Bytes read at a time when walking the log backwards.
pub(super) const BLOCK: u64 = 64 * 1024;

/// Where the end of the log is: appends are serialised here.
pub(super) struct Tail {
    /// Position of the last record (0 when empty).
    pub(super) seq: u64,
    /// Its hash.
    pub(super) prev: [u8; 32],
    /// Bytes of complete records in the live file.
    pub(super) bytes: u64,
    /// A failed write could not be cut off; no more appends.
    pub(super) stuck: bool,
    /// The live file, opened for appending; every write is a whole batch of lines. Replaced
    /// when the log rotates.
    pub(super) file: Arc<File>,
}

/// One file of the log as a backup copies it: every file is needed for the chain to verify.
#[derive(Debug)]
pub struct LogFile {
    /// Its name in `DIR/audit/` (`log-000001.jsonl` … `log.jsonl`).
    pub name: String,
    /// Open for reading.
    pub file: File,
    /// The length of its complete records: the bytes to copy.
    pub len: u64,
}

/// The hash-chained log.
pub struct AuditLog {
    pub(super) dir: PathBuf,
    /// The live file is closed as a segment once it holds this many bytes (0: never).
    pub(super) rotate_bytes: u64,
    /// Rewritten in place after each flush.
    pub(super) head: File,
    pub(super) tail: Mutex<Tail>,
    /// Concurrent appends share one flush.
    pub(super) commit: GroupCommit,
    /// Records appended (and flushed) since the log was opened, for `/metrics`.
    pub(super) appended: AtomicU64,
    /// Appends that failed since the log was opened (their act or sync was refused).
    pub(super) failures: AtomicU64,
    /// Seals each record's details (subject and reason) with the store key, when set.
    pub(super) sealer: Option<Arc<Sealer>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog(..)")
    }
}

/// What a sealed detail starts with in the stored record.
const SEALED: &str = "sealed:";

fn detail_aad(seq: u64, field: &str) -> Vec<u8> {
    format!("kizuna-audit:{seq}:{field}").into_bytes()
}

/// Bytes from lower- or upper-case hex, `None` if it is not hex (the reverse of [`hex`]).
pub(crate) fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

impl AuditLog {
    /// From now on each record's details (its subject and reason: ids, a login's address,
    /// a rule's text) are sealed with `sealer` and bound to the record's position. The chain
    /// is over the stored bytes, so `verify` still needs no key; reading opens them.
    pub fn sealed_with(mut self, sealer: Arc<Sealer>) -> AuditLog {
        self.sealer = Some(sealer);
        self
    }

    fn seal_detail(&self, seq: u64, field: &str, value: Option<String>) -> Option<String> {
        let (Some(sealer), Some(v)) = (&self.sealer, &value) else {
            return value;
        };
        match sealer.seal(&detail_aad(seq, field), v.as_bytes()) {
            Ok(sealed) => Some(format!("{SEALED}{}", hex(&sealed))),
            // Sealing does not fail with a valid key; a record is never dropped for it.
            Err(_) => Some(format!("{SEALED}?")),
        }
    }

    fn open_detail(&self, seq: u64, field: &str, value: &mut Option<String>) {
        let Some(sealed) = value.as_deref().and_then(|v| v.strip_prefix(SEALED)) else {
            return;
        };
        let opened = self.sealer.as_ref().and_then(|s| {
            let bytes = from_hex(sealed)?;
            String::from_utf8(s.open(&detail_aad(seq, field), &bytes).ok()?).ok()
        });
        *value = Some(opened.unwrap_or_else(|| "(sealed: the store key does not open it)".into()));
    }

    /// `r` with its details opened (as the administrator reads them).
    pub(super) fn opened(&self, mut r: AuditRecord) -> AuditRecord {
        self.open_detail(r.seq, "subject", &mut r.subject);
        self.open_detail(r.seq, "reason", &mut r.reason);
        r
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

pub(super) fn digest(prev: &str, body: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev.as_bytes());
    ctx.update(body);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The stored line of a record whose `hash` is still empty, and that hash. The JSON is
/// written once: `hash` is the last field, so the empty value is filled in place.
pub(super) fn seal(r: &AuditRecord) -> (Vec<u8>, [u8; 32]) {
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
pub(super) fn chain_hash(r: &AuditRecord) -> String {
    let mut body = r.clone();
    body.hash = String::new();
    hex(&seal(&body).1)
}

pub(super) fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub(super) fn head_line(seq: u64, hash: &[u8; 32]) -> String {
    format!("{seq:020} {}\n", hex(hash))
}

/// `(seq, hash)` from the head file, if it is there and readable.
pub(super) fn read_head(dir: &Path) -> Option<(u64, String)> {
    let text = std::fs::read_to_string(dir.join(HEAD)).ok()?;
    let (seq, hash) = text.trim_end().split_once(' ')?;
    Some((seq.parse().ok()?, hash.to_string()))
}

/// The lines of the first `len` bytes of `file`, newest first, without their newlines.
pub(super) struct Backwards<'a> {
    file: &'a File,
    /// Bytes before this offset are not read yet.
    pos: u64,
    /// Read but not yet returned: the bytes from `pos` up to the end of the next line.
    pending: Vec<u8>,
}

impl<'a> Backwards<'a> {
    pub(super) fn new(file: &'a File, len: u64) -> Self {
        // The log ends with a newline: skip it so the last line comes first.
        Backwards {
            file,
            pos: len.saturating_sub(1),
            pending: Vec::new(),
        }
    }

    pub(super) fn next_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
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
pub(super) fn forwards(
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
pub(super) fn complete_length(file: &File) -> Result<u64, AuditError> {
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
pub(super) fn migrate_from_sled(dir: &Path) -> Result<(), AuditError> {
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

/// The position and hash of the last record in `file`'s first `len` bytes, if any.
fn last_record(file: &File, len: u64) -> Result<Option<(u64, [u8; 32])>, AuditError> {
    match Backwards::new(file, len).next_line()? {
        Some(line) => {
            let r: AuditRecord =
                serde_json::from_slice(&line).map_err(|_| AuditError::UnreadableEnd)?;
            Ok(Some((
                r.seq,
                unhex(&r.hash).ok_or(AuditError::UnreadableEnd)?,
            )))
        }
        None => Ok(None),
    }
}

impl AuditLog {
    /// Opens (or creates) the log in `dir`, never rotating. See [`AuditLog::open_rotating`].
    pub fn open(dir: &Path) -> Result<AuditLog, AuditError> {
        AuditLog::open_rotating(dir, 0)
    }

    /// Opens (or creates) the log in `dir`, closing the live file as a segment whenever it
    /// holds `rotate_bytes` or more (0: never). An old sled log there is copied into the file
    /// first; a rotation a crash interrupted is finished or undone; a torn last line (a
    /// crash mid-write, never acknowledged) is cut off. A live file missing beside closed
    /// segments is an error, not a new chain.
    pub fn open_rotating(dir: &Path, rotate_bytes: u64) -> Result<AuditLog, AuditError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG);
        if !path.exists() && dir.join("db").exists() {
            migrate_from_sled(dir)?;
        }
        segments::finish_rotation(dir)?;
        let closed = segments::segments(dir)?;
        let fresh = !path.exists();
        if fresh && let Some((n, _)) = closed.last() {
            return Err(AuditError::LiveMissing(segments::segment_name(*n)));
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        if fresh {
            File::open(dir)?.sync_all()?;
        }
        let len = complete_length(&file)?;
        let mut last = last_record(&file, len)?;
        if last.is_none()
            && let Some((_, seg)) = closed.last()
        {
            // Just rotated: the chain goes on from the last segment's last record.
            let f = File::open(seg)?;
            let seg_len = f.metadata()?.len();
            last = last_record(&f, seg_len)?;
        }
        let (seq, prev) = last.unwrap_or((0, ZERO));
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
            rotate_bytes,
            head,
            tail: Mutex::new(Tail {
                seq,
                prev,
                bytes: len,
                stuck: false,
                file: Arc::new(file),
            }),
            commit: GroupCommit::default(),
            appended: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            sealer: None,
        })
    }

    /// The files a log that was opened before must still have in `dir`: `log.jsonl` (or,
    /// after a rotation a crash interrupted, `log.jsonl.next`, which becomes it), `head`,
    /// and the closed segments `log-NNNNNN.jsonl` there are; or the sled log of a relay from
    /// before November 2026 (copied on opening). A start checks them before it creates
    /// anything, so a lost log is never silently replaced by an empty one. Closed segments
    /// the operator archived (moved away) are not needed: `verify` says where the kept chain
    /// starts.
    pub fn files_needed(dir: &Path) -> Vec<PathBuf> {
        if !dir.join(LOG).exists() && dir.join("db").exists() {
            return vec![dir.join("db")];
        }
        let live = if !dir.join(LOG).exists() && dir.join(NEXT).exists() {
            dir.join(NEXT)
        } else {
            dir.join(LOG)
        };
        let mut files: Vec<PathBuf> = segments::segments(dir)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        files.push(live);
        files.push(dir.join(HEAD));
        files
    }

    /// Whether `dir` holds an audit log at all (any of its files, or an old sled log): a
    /// restore keeps the directory's own, newer log and takes the backup's only when not.
    pub fn exists_in(dir: &Path) -> bool {
        [LOG, NEXT, "db"].iter().any(|f| dir.join(f).exists())
            || segments::segments(dir).is_ok_and(|s| !s.is_empty())
    }

    pub(super) fn tail(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends records in one durable batch (flushed before returning): the caller answers
    /// the device only after its access is on disk, and an administrative act is done only
    /// after its record is (write-ahead, `admin::acts`). On an error no record of the batch
    /// counts: a partly written batch is cut off again.
    pub fn append(&self, entries: Vec<Entry>) -> Result<(), AuditError> {
        if entries.is_empty() {
            return Ok(());
        }
        let n = entries.len() as u64;
        let result = self.append_batch(entries);
        match &result {
            Ok(()) => self.appended.fetch_add(n, Ordering::Relaxed),
            Err(_) => self.failures.fetch_add(1, Ordering::Relaxed),
        };
        result
    }

    /// Records appended since the log was opened.
    pub fn records_appended(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// Appends that failed since the log was opened.
    pub fn failed_appends(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Why no record can be appended now, if so (for `/readyz`): a failed write that could
    /// not be cut off, or a log file the relay may no longer open for writing.
    pub fn unwritable(&self) -> Option<String> {
        // Held while looking, so a rotation (whose renames leave no `log.jsonl` for a moment)
        // is never taken for a lost file.
        let tail = self.tail();
        if tail.stuck {
            return Some("the audit log could not undo a failed write; restart the relay".into());
        }
        match OpenOptions::new().append(true).open(self.dir.join(LOG)) {
            Ok(_) => None,
            Err(e) => Some(format!(
                "the audit log cannot be opened for writing ({})",
                e.kind()
            )),
        }
    }

    fn append_batch(&self, entries: Vec<Entry>) -> Result<(), AuditError> {
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
                subject: self.seal_detail(seq, "subject", e.subject),
                changes: e.changes,
                reason: self.seal_detail(seq, "reason", e.reason),
                prev: hex(&prev),
                hash: String::new(),
            };
            let (line, hash) = seal(&r);
            lines.extend_from_slice(&line);
            lines.push(b'\n');
            prev = hash;
        }
        if let Err(e) = (&*tail.file).write_all(&lines) {
            // Part of a batch on disk would break the chain for every later record.
            if tail.file.set_len(tail.bytes).is_err() {
                tail.stuck = true;
            }
            return Err(e.into());
        }
        tail.seq = seq;
        tail.prev = prev;
        tail.bytes += lines.len() as u64;
        if self.rotate_bytes > 0 && tail.bytes >= self.rotate_bytes {
            // The batch is written; a rotation that fails leaves it in the live file, which
            // is tried again after the next batch.
            if let Err(e) = self.rotate_locked(&mut tail) {
                tracing::warn!(error = %e, "the audit log could not be rotated");
            }
        }
        // Flushed after the lock is released, by one caller for all who are waiting (group
        // commit). A crash before the flush loses only records whose callers had not
        // answered yet.
        drop(tail);
        self.commit.flush(|| self.sync())?;
        Ok(())
    }

    /// Closes the live file as the next segment now (`kizuna admin audit rotate`, before
    /// archiving), unless it holds no record; returns the segment's name.
    pub fn rotate(&self) -> Result<Option<String>, AuditError> {
        let mut tail = self.tail();
        if tail.stuck {
            return Err(AuditError::Stuck);
        }
        if tail.bytes == 0 {
            return Ok(None);
        }
        self.rotate_locked(&mut tail).map(Some)
    }

    /// With the appends held: makes every record of the live file durable (a closed segment
    /// is complete, so the next file's first record never chains to one a crash could
    /// lose), names the last one in `head`, and rotates.
    fn rotate_locked(&self, tail: &mut Tail) -> Result<String, AuditError> {
        tail.file.sync_all()?;
        self.head
            .write_all_at(head_line(tail.seq, &tail.prev).as_bytes(), 0)?;
        match segments::rotate(&self.dir) {
            Ok((file, name)) => {
                tail.file = Arc::new(file);
                tail.bytes = 0;
                tracing::info!(segment = %name, last = tail.seq, "audit log rotated");
                Ok(name)
            }
            Err(AuditError::Stuck) => {
                tail.stuck = true;
                Err(AuditError::Stuck)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes every record written so far durable, then records the last one in `head`.
    pub(super) fn sync(&self) -> std::io::Result<()> {
        let (seq, prev, file) = {
            let t = self.tail();
            (t.seq, t.prev, t.file.clone())
        };
        file.sync_data()?;
        // Not synced itself: after a crash `head` may lag behind, never run ahead.
        self.head.write_all_at(head_line(seq, &prev).as_bytes(), 0)
    }

    /// The log as far as it is complete now, for a backup: each file (closed segments
    /// oldest first, then `log.jsonl`) with an open handle and the length of its complete
    /// records, and the head line that names the last record.
    pub fn complete_files(&self) -> Result<(Vec<LogFile>, String), AuditError> {
        let (parts, seq, prev) = self.parts()?;
        let files = parts
            .into_iter()
            .map(|p| LogFile {
                name: p.name,
                file: p.file,
                len: p.len,
            })
            .collect();
        Ok((files, head_line(seq, &prev)))
    }

    /// Appends one record.
    pub fn record(&self, entry: Entry) -> Result<(), AuditError> {
        self.append(vec![entry])
    }

    /// Readers of every file of the log (closed segments oldest first, then the live file
    /// with the length of its complete records), and the last position and hash, all taken
    /// with the appends held so they agree. A rotation afterwards does not disturb them: the
    /// handles follow the files they opened.
    pub(super) fn parts(&self) -> Result<(Vec<Part>, u64, [u8; 32]), AuditError> {
        let t = self.tail();
        let mut parts = segments::open_segments(&self.dir)?;
        parts.push(Part {
            name: LOG.to_string(),
            number: None,
            file: File::open(self.dir.join(LOG))?,
            len: t.bytes,
        });
        Ok((parts, t.seq, t.prev))
    }
}
