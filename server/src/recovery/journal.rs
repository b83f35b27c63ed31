//! The directory's journal: every change to the directory (professionals, devices and their
//! revocations, rooms, memberships, enrollment codes, named values) as one line in
//! `DIR/journal/directory.jsonl`, on disk before the change is made.
//!
//! Each line is `{"sealed":"<hex>"}`: the change as JSON, sealed (AES-256-GCM) with the store
//! key and bound to its line number, so lines cannot be moved or swapped. Journals written by
//! an older relay hold the change's JSON in plain; they are still read, and the relay seals
//! them at start ([`Journal::seal_plain_lines`], one atomic rename).
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
use kizuna_core::store::Sealer;
use kizuna_core::{ProfessionalId, Role, RoomId};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

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
    crate::audit::from_hex(s)
        .ok_or_else(|| DirError::Decode("a journalled value is not hex".into()))
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

/// A journal line as written: the sealed change, hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedLine {
    sealed: String,
}

/// What the line at `position` is bound to.
fn line_aad(position: u64) -> Vec<u8> {
    let mut a = b"kizuna directory journal\0".to_vec();
    a.extend_from_slice(&position.to_be_bytes());
    a
}

/// Whether a line is an older relay's plain JSON change.
fn is_plain(line: &[u8]) -> bool {
    !line.starts_with(b"{\"sealed\":")
}

fn seal_line(sealer: &Sealer, position: u64, op_json: &[u8]) -> Result<Vec<u8>, DirError> {
    let sealed = sealer
        .seal(&line_aad(position), op_json)
        .map_err(|e| DirError::Storage(format!("sealing a journal line: {e}")))?;
    let mut line = serde_json::to_vec(&SealedLine {
        sealed: to_hex(&sealed),
    })?;
    line.push(b'\n');
    Ok(line)
}

/// The change a line holds (`position` counts from 0).
fn read_line(sealer: &Sealer, position: u64, line: &str) -> Result<DirectoryOp, DirError> {
    if is_plain(line.as_bytes()) {
        return Ok(serde_json::from_str(line)?);
    }
    let sealed: SealedLine = serde_json::from_str(line)?;
    let plain = sealer
        .open(&line_aad(position), &from_hex(&sealed.sealed)?)
        .map_err(|_| {
            DirError::Storage(format!(
                "directory journal: line {} does not open with the store key \
                 (changed, moved, or sealed with another store.key)",
                position + 1
            ))
        })?;
    Ok(serde_json::from_slice(&plain)?)
}

/// The journal file, appended to and flushed line by line.
pub struct Journal {
    path: PathBuf,
    out: Mutex<(File, u64)>,
    sealer: Arc<Sealer>,
    /// Whether `open` saw a plain line (only an older relay's journal has them).
    has_plain: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

impl Journal {
    /// Opens (or creates, owner-only) the journal at `path`, whose lines are sealed with
    /// `sealer` (the store key). A torn last line (a crash while it was written, before the
    /// change was made) is cut off.
    pub fn open(path: &Path, sealer: Arc<Sealer>) -> std::io::Result<Journal> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(parent) = path.parent() {
            super::ledger::owner_only_dir(parent)?;
        }
        let mut lines = 0u64;
        let mut keep = 0u64;
        let mut has_plain = false;
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
                has_plain |= line.len() > 1 && is_plain(&line);
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
            sealer,
            has_plain: has_plain.into(),
        })
    }

    /// Seals the lines an older relay wrote in plain, each at its own position: the whole
    /// file is written anew beside the journal, made durable, and renamed over it, so a crash
    /// leaves either the old file or the new one. Returns how many lines were sealed. To be
    /// called once the store key is known to be the right one.
    pub fn seal_plain_lines(&self) -> Result<u64, DirError> {
        let io = |e: std::io::Error| DirError::Storage(format!("directory journal: {e}"));
        use std::sync::atomic::Ordering;
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.has_plain.load(Ordering::Acquire) {
            return Ok(0);
        }
        let text = std::fs::read(&self.path).map_err(io)?;
        let mut sealed_now = 0u64;
        let mut new = Vec::with_capacity(text.len() * 2);
        for (i, line) in text.split_inclusive(|b| *b == b'\n').enumerate() {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            if body.is_empty() || !is_plain(body) {
                new.extend_from_slice(line);
                continue;
            }
            // Checked to be a change before it is sealed: a line that is not stays an error
            // at replay rather than becoming one that opens.
            serde_json::from_slice::<DirectoryOp>(body)?;
            new.extend_from_slice(&seal_line(&self.sealer, i as u64, body)?);
            sealed_now += 1;
        }
        if sealed_now == 0 {
            self.has_plain.store(false, Ordering::Release);
            return Ok(0);
        }
        let tmp = self.path.with_extension("jsonl.sealing");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io)?;
            f.write_all(&new).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(parent) = self.path.parent() {
            File::open(parent).and_then(|d| d.sync_all()).map_err(io)?;
        }
        out.0 = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        self.has_plain.store(false, Ordering::Release);
        Ok(sealed_now)
    }

    /// The sealer of the journal's lines (the store key), also the backup's.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// How many lines the journal holds (the position a backup records).
    pub fn lines(&self) -> u64 {
        self.out.lock().unwrap_or_else(PoisonError::into_inner).1
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `op`, sealed and bound to its line number, and makes it durable.
    pub fn write(&self, op: &DirectoryOp) -> Result<(), DirError> {
        let json = serde_json::to_vec(op)?;
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let line = seal_line(&self.sealer, out.1, &json)?;
        let io = |e: std::io::Error| DirError::Storage(format!("directory journal: {e}"));
        out.0.write_all(&line).map_err(io)?;
        out.0.sync_data().map_err(io)?;
        out.1 += 1;
        Ok(())
    }

    /// Applies every line from position `from` on to `dir`, opening sealed lines with
    /// `sealer`; returns how many.
    pub fn replay(
        path: &Path,
        from: u64,
        dir: &dyn Directory,
        sealer: &Sealer,
    ) -> Result<u64, DirError> {
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
            let op = read_line(sealer, i as u64, &line)?;
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
    use kizuna_core::{Organisation, Profession, Timestamp};

    const KEY: [u8; 32] = [9; 32];

    fn sealer() -> Arc<Sealer> {
        Arc::new(Sealer::new(&KEY).unwrap())
    }

    fn nurse() -> Professional {
        Professional {
            id: ProfessionalId::new(),
            name: "佐藤 美咲".into(),
            kana: "さとう みさき".into(),
            profession: Profession::Nurse,
            organisation: Organisation {
                name: "みどり訪問看護".into(),
                office_number: None,
            },
            registered_at: Timestamp(1),
            removed_at: None,
        }
    }

    fn contains(hay: &[u8], needle: &str) -> bool {
        hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn replaying_the_journal_after_a_position_redoes_later_changes_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Journal::open(&dir.path().join("j.jsonl"), sealer()).unwrap());
        let live = JournaledDirectory::new(
            Box::new(SledDirectory::open(&dir.path().join("live"), &KEY).unwrap()),
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
        let restored = SledDirectory::open(&dir.path().join("restored"), &KEY).unwrap();
        restored.set_membership(room, a, Role::Writer).unwrap();
        live.set_membership(room, b, Role::Reader).unwrap();
        restored.set_membership(room, b, Role::Reader).unwrap();
        live.remove_membership(room, a).unwrap();
        live.set_meta("k", &[0, 255]).unwrap();
        drop(live);
        let n =
            Journal::replay(&dir.path().join("j.jsonl"), at_backup, &restored, &sealer()).unwrap();
        assert_eq!(n, 3);
        assert_eq!(restored.members_of(room).unwrap(), vec![(b, Role::Reader)]);
        assert_eq!(restored.meta("k").unwrap(), Some(vec![0, 255]));
    }

    /// Every line is sealed: the names of a professional are not in the file, the line
    /// replays with the right key only, and two lines swapped no longer open.
    #[test]
    fn lines_are_sealed_and_bound_to_their_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let journal = Journal::open(&path, sealer()).unwrap();
        let p = nurse();
        journal
            .write(&DirectoryOp::Professional { value: p.clone() })
            .unwrap();
        journal
            .write(&DirectoryOp::Meta {
                key: "console:login:sato".into(),
                value: "00".into(),
            })
            .unwrap();
        let text = std::fs::read(&path).unwrap();
        for name in [
            "佐藤 美咲",
            "さとう みさき",
            "みどり訪問看護",
            "console:login",
            "sato",
        ] {
            assert!(!contains(&text, name), "{name} is in the journal");
        }
        let d = SledDirectory::open(&dir.path().join("d"), &KEY).unwrap();
        assert_eq!(Journal::replay(&path, 0, &d, &sealer()).unwrap(), 2);
        assert_eq!(d.professional(p.id).unwrap(), Some(p));

        let other = Sealer::new(&[1; 32]).unwrap();
        let err = Journal::replay(&path, 0, &d, &other).unwrap_err();
        assert!(err.to_string().contains("does not open"), "{err}");

        let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
        std::fs::write(&path, [lines[1], lines[0]].concat()).unwrap();
        let err = Journal::replay(&path, 0, &d, &sealer()).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    /// An older relay's journal (plain JSON lines) is read as it is, then sealed in place:
    /// the same changes replay, at the same positions, and the names are gone from the file.
    #[test]
    fn a_plain_journal_from_an_older_relay_is_sealed_at_its_positions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let p = nurse();
        let room = RoomId::new();
        let mut old = serde_json::to_vec(&DirectoryOp::Professional { value: p.clone() }).unwrap();
        old.push(b'\n');
        old.extend_from_slice(
            &serde_json::to_vec(&DirectoryOp::Member {
                room,
                professional: p.id,
                role: Role::Writer,
            })
            .unwrap(),
        );
        old.push(b'\n');
        std::fs::write(&path, &old).unwrap();
        assert!(contains(&old, "佐藤 美咲"));

        let journal = Journal::open(&path, sealer()).unwrap();
        assert_eq!(journal.lines(), 2);
        // Plain lines still replay before they are sealed.
        let before = SledDirectory::open(&dir.path().join("before"), &KEY).unwrap();
        assert_eq!(Journal::replay(&path, 0, &before, &sealer()).unwrap(), 2);

        assert_eq!(journal.seal_plain_lines().unwrap(), 2);
        assert_eq!(
            journal.seal_plain_lines().unwrap(),
            0,
            "nothing left to seal"
        );
        journal
            .write(&DirectoryOp::Unmember {
                room,
                professional: p.id,
            })
            .unwrap();
        let text = std::fs::read(&path).unwrap();
        assert!(!contains(&text, "佐藤 美咲"));
        assert!(!contains(&text, "\"op\""));
        assert_eq!(journal.lines(), 3);

        let after = SledDirectory::open(&dir.path().join("after"), &KEY).unwrap();
        assert_eq!(Journal::replay(&path, 1, &after, &sealer()).unwrap(), 2);
        assert_eq!(
            after.professional(p.id).unwrap(),
            None,
            "line 0 was skipped"
        );
        assert_eq!(after.members_of(room).unwrap(), vec![]);
        assert_eq!(Journal::replay(&path, 0, &after, &sealer()).unwrap(), 3);
        assert_eq!(after.professional(p.id).unwrap(), Some(p));
    }
}
