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
use super::ledger::ChangeLedger;
use super::{Restored, journal_path, restored_path};
use crate::audit::{AuditLog, Entry};
use crate::blobs::{BlobLimits, Blobs};
use crate::identity::directory::{Directory, SledDirectory};
use crate::startup::StartError;
use crate::sync::documents::{Documents, MemoryBudget};
use kizuna_core::store::Sealer;
use kizuna_core::{DeviceId, ProfessionalId, Timestamp};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

fn open_backup(
    from: &Path,
    sealer: Option<Arc<Sealer>>,
) -> Result<Reader<BufReader<std::fs::File>>, StartError> {
    Ok(Reader::new(
        BufReader::new(
            std::fs::File::open(from)
                .map_err(|e| format!("cannot read the backup {}: {e}", from.display()))?,
        ),
        sealer,
    )?)
}

/// Reads the whole backup once without writing anything, opening every sealed frame: a
/// file cut short, changed, sealed with another key, or not a backup, is refused before the
/// data directory is touched.
fn check(from: &Path, sealer: Option<Arc<Sealer>>) -> Result<Manifest, StartError> {
    let mut r = open_backup(from, sealer)?;
    let mut manifest = None;
    loop {
        match r.next_frame()? {
            Frame::Manifest(m) => manifest = Some(m),
            Frame::Blob(_, _, len) => {
                r.copy_blob(len, &mut std::io::sink())?;
            }
            Frame::End(_) => break,
            _ => {}
        }
    }
    manifest.ok_or_else(|| "the backup has no manifest".into())
}

/// The store key a format 2 backup is opened with: the data directory's `store.key`, which
/// the operator keeps apart from the backups and puts back first.
fn store_key_for(data: &Path) -> Result<Vec<u8>, StartError> {
    let path = data.join("store.key");
    if !path.exists() {
        return Err(format!(
            "the backup is sealed with the store key, and {} is missing: copy the store.key \
             kept apart from the backups there (chmod 600), then run the restore again",
            path.display()
        )
        .into());
    }
    Ok(crate::sync::documents::load_or_create_key(&path)?)
}

/// Restores the backup `from` into the data directory `data` (see the module's docs).
pub fn restore(data: &Path, from: &Path, older_than_ledger: bool) -> Result<Summary, StartError> {
    let format = open_backup(from, None)?.format();
    let sealer = match format {
        2 => Some(Arc::new(
            Sealer::new(&store_key_for(data)?).map_err(|e| e.to_string())?,
        )),
        _ => None,
    };
    let manifest = check(from, sealer.clone())?;
    if manifest.format != format {
        return Err(format!(
            "backup format {} is not one this relay reads",
            manifest.format
        )
        .into());
    }
    crate::startup::ensure_dir(data)?;
    // sled locks its store: if this fails, a relay is running on the directory.
    if data.join("directory").exists() {
        SledDirectory::check_not_in_use(&data.join("directory")).map_err(|e| {
            format!(
                "cannot open {} ({e}): is the relay running? Stop it first \
                 (systemctl stop kizuna)",
                data.join("directory").display()
            )
        })?;
    }
    // The ledger must still hold what was stored after the backup, or the phones' teammates'
    // work since then could not be told from forgeries: only on request.
    let kept = ChangeLedger::first_kept_in(&data.join(super::JOURNAL_DIR))?;
    if manifest.ledger_entries < kept && !older_than_ledger {
        return Err(format!(
            "the backup of {} is older than the ledger of stored changes keeps (it keeps what \
             backups of the last {} days need); nothing was changed. Restore a newer backup, or \
             add --older-than-ledger: then changes acknowledged between that backup and the \
             ledger's start come back only as far as the write rules accept them from the \
             phones that hold them",
            manifest.taken_at,
            super::LEDGER_KEEP_DAYS
        )
        .into());
    }
    let aside = data.join(format!("before-restore-{}", Timestamp::now().0));
    std::fs::create_dir(&aside)?;
    for name in REPLACED.iter().chain(["demo"].iter()) {
        // A sealed backup holds no store key: the one in place opens it and stays.
        if format == 2 && *name == "store.key" {
            continue;
        }
        let p = data.join(name);
        if p.exists() {
            std::fs::rename(&p, aside.join(name))?;
        }
    }
    let audit_from_backup = !crate::audit::AuditLog::exists_in(&data.join("audit"));

    let mut r = open_backup(from, sealer.clone())?;
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
            Frame::Blob(name, _, len) => {
                let p = staging.join(format!("blob-{}", blobs_seen.len()));
                let mut f = std::fs::File::create(&p)?;
                r.copy_blob(len, &mut f)?;
                blobs_seen.push((name, p));
            }
            Frame::Sealed(_) => return Err("a sealed frame was not opened".into()),
            Frame::End(_) => break,
        }
    }
    let key = std::fs::read(data.join("store.key"))
        .map_err(|e| format!("the backup holds no store.key: {e}"))?;
    let sealer = match sealer {
        Some(s) => s,
        None => Arc::new(Sealer::new(&key).map_err(|e| e.to_string())?),
    };

    let dir = SledDirectory::open(&data.join("directory"), &key)?;
    dir.import_records(&records)?;
    let replayed = Journal::replay(&journal_path(data), manifest.journal_lines, &dir, &sealer)?;
    // The old author's sequence numbers were used after the backup: changes the relay writes
    // from now on carry a new one, so they never collide with those the phones bring back.
    let journal = Journal::open(&journal_path(data), sealer.clone())?;
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

    let audit = AuditLog::open(&data.join("audit"))?.sealed_with(sealer.clone());
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
