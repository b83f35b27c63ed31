//! The directory's journal: every change to the directory (professionals, devices and their
//! revocations, rooms, memberships, enrollment codes, named values) as one JSON line in
//! `DIR/journal/directory.jsonl`, on disk before the change is made.
//!
//! A backup records how many lines the journal had; a restore puts the backup's directory
//! back and then replays every line after that, so a device revoked, a professional removed
//! or a member added after the backup stays so. Replaying is idempotent (every line sets a
//! record to a value, or removes it), so lines the backup already holds do no harm. The
//! journal lives beside the data, not in it, and a restore keeps it.
//!
//! When a device last synced is left out: it changes on every sync, is not flushed, and a
//! restored relay learns it again at the next sync.

use crate::identity::directory::{Device, DirError, Directory, EnrollCode, Professional, Room};
use kizuna_core::{ProfessionalId, Role, RoomId};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Named values not worth a journal line: when each device last synced.
const UNJOURNALED_META: &str = "seen:";

/// One change to the directory, as journalled.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DirectoryOp {
    /// A professional inserted or replaced.
    Professional {
        /// The record.
        value: Professional,
    },
    /// A device inserted or replaced (enrolled, revoked).
    Device {
        /// The record.
        value: Device,
    },
    /// A room inserted or replaced.
    Room {
        /// The record.
        value: Room,
    },
    /// A membership set.
    Member {
        /// The room.
        room: RoomId,
        /// The member.
        professional: ProfessionalId,
        /// Their role.
        role: Role,
    },
    /// A membership removed.
    Unmember {
        /// The room.
        room: RoomId,
        /// The former member.
        professional: ProfessionalId,
    },
    /// An enrollment code stored (under the hash of its text, hex).
    Code {
        /// SHA-256 of the code, hex.
        hash: String,
        /// The record.
        value: EnrollCode,
    },
    /// An enrollment code used.
    TakeCode {
        /// SHA-256 of the code, hex.
        hash: String,
    },
    /// A named value set (hex).
    Meta {
        /// The name.
        key: String,
        /// The value, hex.
        value: String,
    },
}

fn hash_of(hex: &str) -> Result<[u8; 32], DirError> {
    let bytes = from_hex(hex)?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| DirError::Decode("a journalled code hash is not 32 bytes".into()))
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Result<Vec<u8>, DirError> {
    if !s.len().is_multiple_of(2) {
        return Err(DirError::Decode("a journalled value is not hex".into()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16)
                .map_err(|_| DirError::Decode("a journalled value is not hex".into()))
        })
        .collect()
}

impl DirectoryOp {
    /// Makes the change on `dir`.
    pub fn redo(&self, dir: &dyn Directory) -> Result<(), DirError> {
        match self {
            DirectoryOp::Professional { value } => dir.put_professional(value),
            DirectoryOp::Device { value } => dir.put_device(value),
            DirectoryOp::Room { value } => dir.put_room(value),
            DirectoryOp::Member {
                room,
                professional,
                role,
            } => dir.set_membership(*room, *professional, *role),
            DirectoryOp::Unmember { room, professional } => {
                dir.remove_membership(*room, *professional).map(|_| ())
            }
            DirectoryOp::Code { hash, value } => dir.put_enroll_code(hash_of(hash)?, value),
            DirectoryOp::TakeCode { hash } => dir.take_enroll_code(hash_of(hash)?).map(|_| ()),
            DirectoryOp::Meta { key, value } => dir.set_meta(key, &from_hex(value)?),
        }
    }
}

/// The journal file, appended to and flushed line by line.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    out: Mutex<(File, u64)>,
}

impl Journal {
    /// Opens (or creates, owner-only) the journal at `path`. A torn last line (a crash while
    /// it was written, before the change was made) is cut off.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(parent) = path.parent() {
            super::ledger::owner_only_dir(parent)?;
        }
        let mut lines = 0u64;
        let mut keep = 0u64;
        if let Ok(f) = File::open(path) {
            let mut r = std::io::BufReader::new(f);
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = r.read_until(b'\n', &mut line)?;
                if n == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                keep += n as u64;
                lines += 1;
            }
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        if file.metadata()?.len() != keep {
            file.set_len(keep)?;
            file.sync_all()?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            out: Mutex::new((file, lines)),
        })
    }

    /// How many lines the journal holds (the position a backup records).
    pub fn lines(&self) -> u64 {
        self.out.lock().unwrap_or_else(PoisonError::into_inner).1
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `op` and makes it durable.
    pub fn write(&self, op: &DirectoryOp) -> Result<(), DirError> {
        let mut line = serde_json::to_vec(op)?;
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let io = |e: std::io::Error| DirError::Storage(format!("directory journal: {e}"));
        out.0.write_all(&line).map_err(io)?;
        out.0.sync_data().map_err(io)?;
        out.1 += 1;
        Ok(())
    }

    /// Applies every line from position `from` on to `dir`; returns how many.
    pub fn replay(path: &Path, from: u64, dir: &dyn Directory) -> Result<u64, DirError> {
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(DirError::Storage(format!("directory journal: {e}"))),
        };
        let mut n = 0u64;
        for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| DirError::Storage(format!("directory journal: {e}")))?;
            if (i as u64) < from || line.is_empty() {
                continue;
            }
            let op: DirectoryOp = serde_json::from_str(&line)?;
            op.redo(dir)?;
            n += 1;
        }
        dir.flush()?;
        Ok(n)
    }
}

/// A directory whose every change is journalled first (see the module's documentation).
pub struct JournaledDirectory {
    inner: Box<dyn Directory>,
    journal: std::sync::Arc<Journal>,
}

impl JournaledDirectory {
    /// Journals every change to `inner` in `journal`.
    pub fn new(inner: Box<dyn Directory>, journal: std::sync::Arc<Journal>) -> Self {
        JournaledDirectory { inner, journal }
    }
}

impl Directory for JournaledDirectory {
    fn put_professional(&self, p: &Professional) -> Result<(), DirError> {
        self.journal
            .write(&DirectoryOp::Professional { value: p.clone() })?;
        self.inner.put_professional(p)
    }
    fn professional(&self, id: ProfessionalId) -> Result<Option<Professional>, DirError> {
        self.inner.professional(id)
    }
    fn professionals(&self) -> Result<Vec<Professional>, DirError> {
        self.inner.professionals()
    }
    fn put_device(&self, d: &Device) -> Result<(), DirError> {
        let mut value = d.clone();
        value.last_seen = None;
        self.journal.write(&DirectoryOp::Device { value })?;
        self.inner.put_device(d)
    }
    fn device(&self, id: kizuna_core::DeviceId) -> Result<Option<Device>, DirError> {
        self.inner.device(id)
    }
    fn devices(&self) -> Result<Vec<Device>, DirError> {
        self.inner.devices()
    }
    fn put_room(&self, r: &Room) -> Result<(), DirError> {
        self.journal
            .write(&DirectoryOp::Room { value: r.clone() })?;
        self.inner.put_room(r)
    }
    fn room(&self, id: RoomId) -> Result<Option<Room>, DirError> {
        self.inner.room(id)
    }
    fn rooms(&self) -> Result<Vec<Room>, DirError> {
        self.inner.rooms()
    }
    fn set_membership(
        &self,
        room: RoomId,
        professional: ProfessionalId,
        role: Role,
    ) -> Result<(), DirError> {
        self.journal.write(&DirectoryOp::Member {
            room,
            professional,
            role,
        })?;
        self.inner.set_membership(room, professional, role)
    }
    fn remove_membership(
        &self,
        room: RoomId,
        professional: ProfessionalId,
    ) -> Result<bool, DirError> {
        self.journal
            .write(&DirectoryOp::Unmember { room, professional })?;
        self.inner.remove_membership(room, professional)
    }
    fn memberships_of(
        &self,
        professional: ProfessionalId,
    ) -> Result<Vec<(RoomId, Role)>, DirError> {
        self.inner.memberships_of(professional)
    }
    fn members_of(&self, room: RoomId) -> Result<Vec<(ProfessionalId, Role)>, DirError> {
        self.inner.members_of(room)
    }
    fn put_enroll_code(&self, hash: [u8; 32], code: &EnrollCode) -> Result<(), DirError> {
        self.journal.write(&DirectoryOp::Code {
            hash: to_hex(&hash),
            value: code.clone(),
        })?;
        self.inner.put_enroll_code(hash, code)
    }
    fn take_enroll_code(&self, hash: [u8; 32]) -> Result<Option<EnrollCode>, DirError> {
        self.journal.write(&DirectoryOp::TakeCode {
            hash: to_hex(&hash),
        })?;
        self.inner.take_enroll_code(hash)
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, DirError> {
        self.inner.meta(key)
    }
    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), DirError> {
        if !key.starts_with(UNJOURNALED_META) {
            self.journal.write(&DirectoryOp::Meta {
                key: key.to_string(),
                value: to_hex(value),
            })?;
        }
        self.inner.set_meta(key, value)
    }
    fn flush(&self) -> Result<(), DirError> {
        self.inner.flush()
    }
    fn export_records(&self) -> Result<Vec<crate::identity::directory::RawRecord>, DirError> {
        self.inner.export_records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::directory::SledDirectory;

    #[test]
    fn replaying_the_journal_after_a_position_redoes_later_changes_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let journal = std::sync::Arc::new(Journal::open(&dir.path().join("j.jsonl")).unwrap());
        let live = JournaledDirectory::new(
            Box::new(SledDirectory::open(&dir.path().join("live")).unwrap()),
            journal.clone(),
        );
        let room = RoomId::new();
        let (a, b) = (ProfessionalId::new(), ProfessionalId::new());
        live.set_membership(room, a, Role::Writer).unwrap();
        live.set_meta("seen:x", b"1").unwrap();
        let at_backup = journal.lines();
        assert_eq!(
            at_backup, 1,
            "when a device was last seen is not journalled"
        );
        // The backup's copy, taken a moment later than the position it records.
        let restored = SledDirectory::open(&dir.path().join("restored")).unwrap();
        restored.set_membership(room, a, Role::Writer).unwrap();
        live.set_membership(room, b, Role::Reader).unwrap();
        restored.set_membership(room, b, Role::Reader).unwrap();
        live.remove_membership(room, a).unwrap();
        live.set_meta("k", &[0, 255]).unwrap();
        drop(live);
        let n = Journal::replay(&dir.path().join("j.jsonl"), at_backup, &restored).unwrap();
        assert_eq!(n, 3);
        assert_eq!(restored.members_of(room).unwrap(), vec![(b, Role::Reader)]);
        assert_eq!(restored.meta("k").unwrap(), Some(vec![0, 255]));
    }
}
