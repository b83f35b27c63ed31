//! The ledger of stored changes: the hash of every change the relay stores, by document, in
//! `DIR/journal/changes.log`, written ahead of the room store and on disk before any answer
//! that acknowledges the change.
//!
//! A backup holds the room documents as they were when it was taken. After a restore, the
//! phones bring back what the relay acknowledged since — their own changes, but also their
//! teammates' and the relay's own post numbers, which no device may send as its own. The
//! ledger is how the restored relay tells those from forgeries: a change in the ledger after
//! the backup's position was checked by the write rules when it first arrived, so it goes
//! back in unchecked (`kizuna_core::sync::gate::recover`); anything else is checked as usual.
//! The ledger lives beside the data, not in it, and a restore keeps it.
//!
//! Positions are absolute (a backup records one). Entries older than every backup a restore
//! may still use are dropped at start ([`ChangeLedger::trim`]): the file then starts at a
//! later position, named in it (`changes-from-<position>.log`; `changes.log` starts at 0).

use automerge::ChangeHash;
use kizuna_core::RoomId;
use kizuna_core::store::group_commit::GroupCommit;
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Creates `dir` (owner-only) if it is not there: the journal folder.
pub(super) fn owner_only_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Bytes of one entry: the document id (16) and the change hash (32).
const ENTRY: u64 = 48;

/// Hashes of changes by document.
pub type ByDocument = HashMap<RoomId, Arc<HashSet<ChangeHash>>>;

/// The file holding the ledger from absolute position `base` on, in journal folder `dir`.
fn file_for(dir: &Path, base: u64) -> PathBuf {
    if base == 0 {
        dir.join("changes.log")
    } else {
        dir.join(format!("changes-from-{base}.log"))
    }
}

/// The ledger's file in `dir` and the position it starts at. A trim that a crash interrupted
/// may have left its unfinished copy (ignored, removed) or the file it replaced (removed: the
/// copy was complete before it took its name).
fn current(dir: &Path) -> std::io::Result<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, file_for(dir, 0))),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("changes-from-") && name.ends_with(".log.tmp") {
            std::fs::remove_file(entry.path())?;
            continue;
        }
        let base = if name == "changes.log" {
            Some(0)
        } else {
            name.strip_prefix("changes-from-")
                .and_then(|r| r.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok())
        };
        if let Some(base) = base {
            found.push((base, entry.path()));
        }
    }
    found.sort();
    let newest = found.pop().unwrap_or_else(|| (0, file_for(dir, 0)));
    for (_, older) in found {
        std::fs::remove_file(older)?;
    }
    Ok(newest)
}

/// The open ledger. Appends are buffered; [`ChangeLedger::sync`] makes them durable, shared
/// between concurrent callers like the room store's flush.
pub struct ChangeLedger {
    dir: PathBuf,
    /// The absolute position of the file's first entry.
    base: u64,
    out: Mutex<Appender>,
    /// A second handle on the file, so the disk flush runs without blocking appends.
    disk: File,
    commit: GroupCommit,
}

struct Appender {
    out: BufWriter<File>,
    /// Entries in the file (not counting those trimmed before `base`).
    entries: u64,
}

impl std::fmt::Debug for ChangeLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeLedger").finish_non_exhaustive()
    }
}

impl ChangeLedger {
    /// Opens (or creates, owner-only) the ledger in journal folder `dir`. A torn last entry (a
    /// crash in the middle of an append that was never acknowledged) is cut off.
    pub fn open(dir: &Path) -> std::io::Result<ChangeLedger> {
        use std::os::unix::fs::OpenOptionsExt;
        owner_only_dir(dir)?;
        let (base, path) = current(dir)?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)?;
        let len = file.metadata()?.len();
        if len % ENTRY != 0 {
            file.set_len(len - len % ENTRY)?;
            file.sync_all()?;
        }
        let disk = file.try_clone()?;
        Ok(ChangeLedger {
            dir: dir.to_path_buf(),
            base,
            out: Mutex::new(Appender {
                out: BufWriter::new(file),
                entries: len / ENTRY,
            }),
            disk,
            commit: GroupCommit::default(),
        })
    }

    /// Drops the entries before absolute position `cut` from the ledger in journal folder
    /// `dir` (before it is opened): the rest is copied to a file named by `cut`, made durable,
    /// and only then replaces the old one. Returns how many entries were dropped.
    pub fn trim(dir: &Path, cut: u64) -> std::io::Result<u64> {
        use std::os::unix::fs::OpenOptionsExt;
        let (base, path) = current(dir)?;
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len() - m.len() % ENTRY,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let cut = cut.min(base + len / ENTRY);
        if cut <= base {
            return Ok(0);
        }
        let target = file_for(dir, cut);
        let tmp = target.with_extension("log.tmp");
        let mut from = File::open(&path)?;
        from.seek(SeekFrom::Start((cut - base) * ENTRY))?;
        let mut to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        std::io::copy(&mut from.take(len - (cut - base) * ENTRY), &mut to)?;
        to.sync_all()?;
        std::fs::rename(&tmp, &target)?;
        File::open(dir)?.sync_all()?;
        std::fs::remove_file(&path)?;
        File::open(dir)?.sync_all()?;
        Ok(cut - base)
    }

    /// The first position the ledger in journal folder `dir` still holds.
    pub fn first_kept_in(dir: &Path) -> std::io::Result<u64> {
        Ok(current(dir)?.0)
    }

    /// Where the ledger's file is now.
    pub fn path(&self) -> PathBuf {
        file_for(&self.dir, self.base)
    }

    /// The first position the ledger still holds (0 unless it was trimmed).
    pub fn first_kept(&self) -> u64 {
        self.base
    }

    /// Adds `hashes` of document `doc` (buffered: [`ChangeLedger::sync`] before answering).
    pub fn append(&self, doc: RoomId, hashes: &[ChangeHash]) -> std::io::Result<()> {
        let mut a = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        for h in hashes {
            a.out.write_all(doc.as_bytes())?;
            a.out.write_all(&h.0)?;
        }
        a.entries += hashes.len() as u64;
        Ok(())
    }

    /// Makes every entry appended before this call durable.
    pub fn sync(&self) -> std::io::Result<()> {
        self.commit.flush(|| {
            self.out
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .out
                .flush()?;
            self.disk.sync_data()
        })
    }

    /// The position after the last entry (what a backup records).
    pub fn entries(&self) -> u64 {
        self.base
            + self
                .out
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entries
    }

    /// Every entry from absolute position `from` on (or from the first kept), by document.
    pub fn read_from(&self, from: u64) -> std::io::Result<ByDocument> {
        let mut by: HashMap<RoomId, HashSet<ChangeHash>> = HashMap::new();
        let mut f = match File::open(self.path()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(e),
        };
        let skip = from.saturating_sub(self.base);
        f.seek(SeekFrom::Start(skip.saturating_mul(ENTRY)))?;
        let mut r = std::io::BufReader::new(f);
        let mut entry = [0u8; ENTRY as usize];
        loop {
            match r.read_exact(&mut entry) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            let mut id = [0u8; 16];
            id.copy_from_slice(&entry[..16]);
            let mut h = [0u8; 32];
            h.copy_from_slice(&entry[16..]);
            by.entry(RoomId(uuid::Uuid::from_bytes(id)))
                .or_default()
                .insert(ChangeHash(h));
        }
        Ok(by.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let doc = RoomId::new();
        let (a, b) = (ChangeHash([1; 32]), ChangeHash([2; 32]));
        let l = ChangeLedger::open(dir.path()).unwrap();
        l.append(doc, &[a]).unwrap();
        l.sync().unwrap();
        let from = l.entries();
        l.append(doc, &[b]).unwrap();
        l.sync().unwrap();
        let path = l.path();
        drop(l);
        // Half an entry, as a crash mid-append leaves it.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9; 20]).unwrap();
        drop(f);
        let l = ChangeLedger::open(dir.path()).unwrap();
        assert_eq!(l.entries(), 2);
        let after = l.read_from(from).unwrap();
        assert_eq!(after.len(), 1);
        assert!(after[&doc].contains(&b));
        assert!(!after[&doc].contains(&a));
        assert_eq!(l.read_from(0).unwrap()[&doc].len(), 2);
    }

    fn hash(i: u8) -> ChangeHash {
        ChangeHash([i; 32])
    }

    #[test]
    fn a_trimmed_ledger_keeps_positions_and_goes_on_appending() {
        let dir = tempfile::tempdir().unwrap();
        let doc = RoomId::new();
        let l = ChangeLedger::open(dir.path()).unwrap();
        for i in 1..=5 {
            l.append(doc, &[hash(i)]).unwrap();
        }
        l.sync().unwrap();
        drop(l);
        assert_eq!(ChangeLedger::trim(dir.path(), 3).unwrap(), 3);
        // Trimming again to an earlier or the same position drops nothing.
        assert_eq!(ChangeLedger::trim(dir.path(), 2).unwrap(), 0);
        let l = ChangeLedger::open(dir.path()).unwrap();
        assert_eq!(l.first_kept(), 3);
        assert_eq!(l.entries(), 5, "positions are absolute");
        assert!(!dir.path().join("changes.log").exists());
        let kept = l.read_from(0).unwrap();
        assert_eq!(kept[&doc].len(), 2);
        assert!(kept[&doc].contains(&hash(4)) && kept[&doc].contains(&hash(5)));
        assert_eq!(l.read_from(4).unwrap()[&doc].len(), 1);
        l.append(doc, &[hash(6)]).unwrap();
        l.sync().unwrap();
        drop(l);
        let l = ChangeLedger::open(dir.path()).unwrap();
        assert_eq!(l.entries(), 6);
        assert!(l.read_from(5).unwrap()[&doc].contains(&hash(6)));
        // A cut past the end keeps nothing but the position.
        drop(l);
        assert_eq!(ChangeLedger::trim(dir.path(), 100).unwrap(), 3);
        let l = ChangeLedger::open(dir.path()).unwrap();
        assert_eq!((l.first_kept(), l.entries()), (6, 6));
    }

    #[test]
    fn a_trim_cut_short_by_a_crash_leaves_a_whole_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let doc = RoomId::new();
        let l = ChangeLedger::open(dir.path()).unwrap();
        for i in 1..=4 {
            l.append(doc, &[hash(i)]).unwrap();
        }
        l.sync().unwrap();
        drop(l);
        // Crashed while copying: a partial copy beside the untouched ledger.
        std::fs::write(dir.path().join("changes-from-2.log.tmp"), [7u8; 30]).unwrap();
        let l = ChangeLedger::open(dir.path()).unwrap();
        assert_eq!((l.first_kept(), l.entries()), (0, 4));
        assert!(!dir.path().join("changes-from-2.log.tmp").exists());
        drop(l);
        // Crashed after the copy took its name, before the old file was removed.
        let old = std::fs::read(dir.path().join("changes.log")).unwrap();
        std::fs::write(
            dir.path().join("changes-from-2.log"),
            &old[2 * ENTRY as usize..],
        )
        .unwrap();
        let l = ChangeLedger::open(dir.path()).unwrap();
        assert_eq!((l.first_kept(), l.entries()), (2, 4));
        assert!(!dir.path().join("changes.log").exists());
        assert_eq!(l.read_from(0).unwrap()[&doc].len(), 2);
    }
}
