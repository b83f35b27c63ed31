//! The log's files: closed segments `log-000001.jsonl`, `log-000002.jsonl`, … (oldest
//! first) and the live file `log.jsonl`, whose records continue the chain of the last
//! segment. Rotation closes the live file as the next segment and starts an empty one; it is
//! made of renames so that a crash at any point leaves a log the next start accepts or
//! finishes (see [`rotate`] and [`finish_rotation`]).

use super::record::AuditError;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The live file: the newest records, one JSON object per line.
pub(super) const LOG: &str = "log.jsonl";
/// The empty live file a rotation makes before it closes `log.jsonl` (see [`rotate`]).
pub(super) const NEXT: &str = "log.jsonl.next";

/// The file name of closed segment `n`.
pub(super) fn segment_name(n: u64) -> String {
    format!("log-{n:06}.jsonl")
}

/// The number of a closed segment's file name, if `name` is one.
pub(super) fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("log-")?.strip_suffix(".jsonl")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The closed segments in `dir`, by number, oldest first.
pub(super) fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
            out.push((n, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(n, _)| *n);
    Ok(out)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Finishes or undoes a rotation a crash interrupted, before the log is opened:
/// - `log.jsonl.next` beside `log.jsonl`: the live file was not closed yet, so the empty
///   next file is removed (the rotation happens again when the live file is still large);
/// - `log.jsonl.next` without `log.jsonl`: the live file was closed as a segment already,
///   so the next file becomes the live one.
///
/// Returns whether anything was done.
pub(super) fn finish_rotation(dir: &Path) -> std::io::Result<bool> {
    let next = dir.join(NEXT);
    if !next.exists() {
        return Ok(false);
    }
    if dir.join(LOG).exists() {
        std::fs::remove_file(&next)?;
        tracing::warn!(
            "an audit log rotation was interrupted before it closed {}; it was undone",
            LOG
        );
    } else {
        std::fs::rename(&next, dir.join(LOG))?;
        tracing::warn!(
            "an audit log rotation was interrupted after it closed the live file; it was \
             finished"
        );
    }
    sync_dir(dir)?;
    Ok(true)
}

/// Closes the live file (synced first by the caller) as the next segment and puts an empty
/// live file in its place; returns the new live file and the segment's name.
///
/// The steps, each durable before the next: (1) an empty `log.jsonl.next` is made; (2)
/// `log.jsonl` is renamed to `log-N.jsonl`; (3) `log.jsonl.next` is renamed to `log.jsonl`;
/// (4) the directory is synced. A crash after (1) or (2) is put right by
/// [`finish_rotation`]; the chain does not change, since no record is written meanwhile.
pub(super) fn rotate(dir: &Path) -> Result<(File, String), AuditError> {
    let n = segments(dir)?.last().map_or(1, |(n, _)| n + 1);
    let name = segment_name(n);
    let (live, next, closed) = (dir.join(LOG), dir.join(NEXT), dir.join(&name));
    if closed.exists() {
        return Err(AuditError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{name} exists already"),
        )));
    }
    let fresh = File::create(&next)?;
    fresh.sync_all()?;
    sync_dir(dir)?;
    if let Err(e) = std::fs::rename(&live, &closed) {
        let _ = std::fs::remove_file(&next);
        return Err(e.into());
    }
    if let Err(e) = std::fs::rename(&next, &live) {
        // Put the live file back rather than leave the relay without one.
        if std::fs::rename(&closed, &live).is_err() {
            return Err(AuditError::Stuck);
        }
        let _ = std::fs::remove_file(&next);
        return Err(e.into());
    }
    sync_dir(dir)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(&live)?;
    Ok((file, name))
}

/// One file of the log as a reader sees it: its name, an open handle, and the length of its
/// complete records when it was opened.
#[derive(Debug)]
pub(super) struct Part {
    /// `log-000001.jsonl` … or `log.jsonl`.
    pub(super) name: String,
    /// The segment's number; `None` for the live file.
    pub(super) number: Option<u64>,
    pub(super) file: File,
    pub(super) len: u64,
}

/// The closed segments of `dir`, opened, oldest first.
pub(super) fn open_segments(dir: &Path) -> Result<Vec<Part>, AuditError> {
    let mut parts = Vec::new();
    for (n, path) in segments(dir)? {
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        parts.push(Part {
            name: segment_name(n),
            number: Some(n),
            file,
            len,
        });
    }
    Ok(parts)
}
