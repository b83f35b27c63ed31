//! `kizuna admin restore`: puts a backup back into a data directory, with the relay stopped.
//!
//! Nothing is deleted: what the data directory held is moved to `before-restore-<time>/`
//! inside it. The journal folder (the directory's journal and the ledger of stored changes)
//! and the audit log stay where they are — they are newer than the backup and append-only
//! (the backup's audit log is used only when the directory has none). Then the directory's
//! journal is replayed from the backup's position, the relay gets a new author for its own
//! changes, and `journal/restored.json` tells the next start which changes to take back from
//! the phones (see the module [`super`]).

use super::backup::{Frame, Manifest, Reader};
use super::journal::{DirectoryOp, Journal};
use super::{Restored, journal_path, restored_path};
use crate::audit::{AuditLog, Entry};
use crate::blobs::{BlobLimits, Blobs};
use crate::identity::directory::{Directory, SledDirectory};
use crate::startup::StartError;
use crate::sync::documents::{Documents, MemoryBudget};
use kizuna_core::{DeviceId, ProfessionalId, Timestamp};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The key under which the relay keeps its author identity (see `state`).
pub const META_AUTHOR: &str = "relay:author";

/// What a restore did.
#[derive(Debug)]
pub struct Summary {
    /// When the backup was taken.
    pub backup_taken_at: Timestamp,
    /// Where the data directory's former contents are.
    pub moved_aside: PathBuf,
    /// Directory changes made after the backup and replayed.
    pub replayed: u64,
    /// Documents, attachments and directory records put back.
    pub documents: u64,
    /// Attachments put back.
    pub blobs: u64,
    /// Whether the backup's audit log was used (the directory had none).
    pub audit_from_backup: bool,
}

/// What the data directory held that a restore replaces (moved aside, never deleted).
const REPLACED: [&str; 11] = [
    "directory",
    "rooms",
    "blobs",
    "ca.crt",
    "ca.key",
    "ca-next.crt",
    "ca-next.key",
    "ca-next.cross.crt",
    "ca.cross.crt",
    "store.key",
    "admin",
];

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(p) = path.parent() {
        crate::startup::ensure_dir(p)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Reads the whole backup once without writing anything: a file cut short, or not a backup,
/// is refused before the data directory is touched.
fn check(from: &Path) -> Result<Manifest, StartError> {
    let mut r =
        Reader::new(BufReader::new(std::fs::File::open(from).map_err(|e| {
            format!("cannot read the backup {}: {e}", from.display())
        })?))?;
    let mut manifest = None;
    loop {
        match r.next_frame()? {
            Frame::Manifest(m) => manifest = Some(m),
            Frame::Blob(_, _, size) => {
                let skipped = std::io::copy(&mut r.inner().take(size), &mut std::io::sink())?;
                if skipped != size {
                    return Err("the backup was cut short inside an attachment".into());
                }
            }
            Frame::End(_) => break,
            _ => {}
        }
    }
    manifest.ok_or_else(|| "the backup has no manifest".into())
}

/// Restores the backup `from` into the data directory `data` (see the module's docs).
pub fn restore(data: &Path, from: &Path) -> Result<Summary, StartError> {
    let manifest = check(from)?;
    if manifest.format != 1 {
        return Err(format!(
            "backup format {} is not one this relay reads",
            manifest.format
        )
        .into());
    }
    crate::startup::ensure_dir(data)?;
    // sled locks its store: if this fails, a relay is running on the directory.
    if data.join("directory").exists() {
        drop(SledDirectory::open(&data.join("directory")).map_err(|e| {
            format!(
                "cannot open {} ({e}): is the relay running? Stop it first \
                 (systemctl stop kizuna)",
                data.join("directory").display()
            )
        })?);
    }
    let aside = data.join(format!("before-restore-{}", Timestamp::now().0));
    std::fs::create_dir(&aside)?;
    for name in REPLACED.iter().chain(["demo"].iter()) {
        let p = data.join(name);
        if p.exists() {
            std::fs::rename(&p, aside.join(name))?;
        }
    }
    let audit_from_backup = !data.join("audit").join("log.jsonl").exists();

    let mut r = Reader::new(BufReader::new(std::fs::File::open(from)?))?;
    let mut records = Vec::new();
    let mut rooms = Vec::new();
    let mut blobs_seen: Vec<(super::backup::BlobName, PathBuf)> = Vec::new();
    let staging = aside.join("staging");
    crate::startup::ensure_dir(&staging)?;
    loop {
        match r.next_frame()? {
            Frame::Manifest(_) => {}
            Frame::File(path, bytes) => {
                if path.starts_with("audit/") && !audit_from_backup {
                    continue;
                }
                write_private(&data.join(&path), &bytes)?;
            }
            Frame::Record(rec) => records.push(rec),
            Frame::Document(name, bytes) => rooms.push((name, bytes)),
            Frame::Blob(name, _, size) => {
                let p = staging.join(format!("blob-{}", blobs_seen.len()));
                let mut f = std::fs::File::create(&p)?;
                std::io::copy(&mut r.inner().take(size), &mut f)?;
                blobs_seen.push((name, p));
            }
            Frame::End(_) => break,
        }
    }
    let key = std::fs::read(data.join("store.key"))
        .map_err(|e| format!("the backup holds no store.key: {e}"))?;

    let dir = SledDirectory::open(&data.join("directory"))?;
    dir.import_records(&records)?;
    let replayed = Journal::replay(&journal_path(data), manifest.journal_lines, &dir)?;
    // The old author's sequence numbers were used after the backup: changes the relay writes
    // from now on carry a new one, so they never collide with those the phones bring back.
    let journal = Journal::open(&journal_path(data))?;
    let mut author = ProfessionalId::new().as_bytes().to_vec();
    author.extend_from_slice(DeviceId::new().as_bytes());
    let op = DirectoryOp::Meta {
        key: META_AUTHOR.to_string(),
        value: author.iter().map(|b| format!("{b:02x}")).collect(),
    };
    journal.write(&op)?;
    op.redo(&dir)?;
    dir.flush()?;

    let documents = Documents::open(&data.join("rooms"), &key, MemoryBudget::default())?;
    let count_docs = rooms.len() as u64;
    for (name, bytes) in rooms {
        documents.restore(name.id, name.kind, name.scope.as_ref(), &bytes)?;
    }
    documents.store().flush()?;
    drop(documents);

    let blobs = Blobs::open(&data.join("blobs"), &key, BlobLimits::default())?;
    let count_blobs = blobs_seen.len() as u64;
    for (name, path) in &blobs_seen {
        let hash = blobs
            .store()
            .import_file(path, &name.media_type)
            .map_err(|e| format!("an attachment could not be put back: {e}"))?;
        if hash.to_hex() != name.hash {
            return Err("an attachment in the backup does not match its hash".into());
        }
        for d in &name.docs {
            blobs.bind(&hash, *d)?;
        }
        std::fs::remove_file(path)?;
    }
    std::fs::remove_dir(&staging)?;
    drop(blobs);

    let restored = Restored {
        backup_taken_at: manifest.taken_at,
        restored_at: Timestamp::now(),
        ledger_from: manifest.ledger_entries,
        journal_from: manifest.journal_lines,
    };
    let tmp = restored_path(data).with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&restored)?)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, restored_path(data))?;

    let audit = AuditLog::open(&data.join("audit"))?;
    audit.record(Entry {
        action: "admin.restore",
        subject: Some(format!("backup of {}", manifest.taken_at)),
        ..Entry::default()
    })?;
    Ok(Summary {
        backup_taken_at: manifest.taken_at,
        moved_aside: aside,
        replayed,
        documents: count_docs,
        blobs: count_blobs,
        audit_from_backup,
    })
}
