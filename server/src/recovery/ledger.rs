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

/// The open ledger. Appends are buffered; [`ChangeLedger::sync`] makes them durable, shared
/// between concurrent callers like the room store's flush.
pub struct ChangeLedger {
    path: PathBuf,
    out: Mutex<Appender>,
    /// A second handle on the file, so the disk flush runs without blocking appends.
    disk: File,
    commit: GroupCommit,
}

struct Appender {
    out: BufWriter<File>,
    entries: u64,
}

impl std::fmt::Debug for ChangeLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeLedger").finish_non_exhaustive()
    }
}

impl ChangeLedger {
    /// Opens (or creates, owner-only) the ledger at `path`. A torn last entry (a crash in the
    /// middle of an append that was never acknowledged) is cut off.
    pub fn open(path: &Path) -> std::io::Result<ChangeLedger> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(parent) = path.parent() {
            owner_only_dir(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        let len = file.metadata()?.len();
        if len % ENTRY != 0 {
            file.set_len(len - len % ENTRY)?;
            file.sync_all()?;
        }
        let disk = file.try_clone()?;
        Ok(ChangeLedger {
            path: path.to_path_buf(),
            out: Mutex::new(Appender {
                out: BufWriter::new(file),
                entries: len / ENTRY,
            }),
            disk,
            commit: GroupCommit::default(),
        })
    }

    /// Where the ledger is.
    pub fn path(&self) -> &Path {
        &self.path
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

    /// How many entries the ledger holds (the position a backup records).
    pub fn entries(&self) -> u64 {
        self.out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
    }

    /// Every entry from position `from` on, by document.
    pub fn read_from(path: &Path, from: u64) -> std::io::Result<ByDocument> {
        let mut by: HashMap<RoomId, HashSet<ChangeHash>> = HashMap::new();
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(e),
        };
        f.seek(SeekFrom::Start(from.saturating_mul(ENTRY)))?;
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
        let path = dir.path().join("changes.log");
        let doc = RoomId::new();
        let (a, b) = (ChangeHash([1; 32]), ChangeHash([2; 32]));
        let l = ChangeLedger::open(&path).unwrap();
        l.append(doc, &[a]).unwrap();
        l.sync().unwrap();
        let from = l.entries();
        l.append(doc, &[b]).unwrap();
        l.sync().unwrap();
        drop(l);
        // Half an entry, as a crash mid-append leaves it.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9; 20]).unwrap();
        drop(f);
        let l = ChangeLedger::open(&path).unwrap();
        assert_eq!(l.entries(), 2);
        let after = ChangeLedger::read_from(&path, from).unwrap();
        assert_eq!(after.len(), 1);
        assert!(after[&doc].contains(&b));
        assert!(!after[&doc].contains(&a));
        assert_eq!(ChangeLedger::read_from(&path, 0).unwrap()[&doc].len(), 2);
    }
}
