//! Backup and restore that lose nothing: an online backup of a running relay, a restore
//! that keeps every revocation and admin act made after the backup, and a restored relay
//! that takes back from the phones every change it had acknowledged.
//!
//! Beside the data, in `DIR/journal/`, the relay keeps two append-only files that a restore
//! does not replace: the directory's [`journal`] (every directory change, written before it is
//! made) and the [`ledger`] of stored changes (the hash of every change stored in a room
//! document, on disk before it is acknowledged). A backup ([`backup`]) records how far each
//! had got. A restore ([`restore`]) puts the backup's stores back, replays the journal from
//! the backup's position, gives the relay a new author for the changes it writes (the old
//! one's sequence numbers were used after the backup), and leaves `DIR/journal/restored.json`
//! with the ledger's position. From then on, at every start, the ledger's entries after that
//! position are the changes the relay vouches for: when a phone brings them back through the
//! fallback sync, they go back into the room without being checked as the phone's own
//! (`kizuna_core::sync::gate::recover`), and post numbers given twice are given anew.

pub mod backup;
pub mod journal;
pub mod ledger;
pub mod restore;
pub mod routes;

use journal::Journal;
use ledger::{ByDocument, ChangeLedger};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder of the journal and the ledger, inside the data directory.
pub const JOURNAL_DIR: &str = "journal";
/// The directory's journal.
pub const DIRECTORY_JOURNAL: &str = "directory.jsonl";
/// Written by a restore: where the restored relay's vouched changes start.
pub const RESTORED: &str = "restored.json";
/// One line per backup taken while serving: when, and the ledger's position then.
pub const BACKUPS: &str = "backups.jsonl";

/// The ledger keeps what every backup taken within this many days needs (and the newest one
/// before): a restore from an older backup must be asked for (`--older-than-ledger`).
pub const LEDGER_KEEP_DAYS: i64 = 180;

/// A backup the relay took, as its ledger needs to know it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupMark {
    /// When it was taken.
    pub taken_at: kizuna_core::Timestamp,
    /// The ledger's position then: a restore from it needs the entries after.
    pub ledger_entries: u64,
}

/// What a restore leaves for the relay's next starts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Restored {
    /// When the backup was taken.
    pub backup_taken_at: kizuna_core::Timestamp,
    /// When it was restored.
    pub restored_at: kizuna_core::Timestamp,
    /// The ledger's length when the backup was taken: later entries are vouched for.
    pub ledger_from: u64,
    /// The journal's length when the backup was taken (replayed by the restore from here).
    pub journal_from: u64,
}

/// Paths of the journal folder's files for data directory `data`.
pub fn journal_path(data: &Path) -> PathBuf {
    data.join(JOURNAL_DIR).join(DIRECTORY_JOURNAL)
}

/// The backup marks' path for data directory `data`.
pub fn backups_path(data: &Path) -> PathBuf {
    data.join(JOURNAL_DIR).join(BACKUPS)
}

/// Where the ledger must still start so that every backup of the last [`LEDGER_KEEP_DAYS`]
/// days, and the newest before them, can be restored with all it needs: the position of that
/// newest older backup (0 when none). Unreadable lines (a torn last line) only keep more.
fn ledger_cut(data: &Path, now: kizuna_core::Timestamp) -> std::io::Result<u64> {
    let text = match std::fs::read_to_string(backups_path(data)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let before = now.0.saturating_sub(LEDGER_KEEP_DAYS * 24 * 3600 * 1000);
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<BackupMark>(l).ok())
        .filter(|m| m.taken_at.0 < before)
        .map(|m| m.ledger_entries)
        .max()
        .unwrap_or(0))
}

/// The restore marker's path for data directory `data`.
pub fn restored_path(data: &Path) -> PathBuf {
    data.join(JOURNAL_DIR).join(RESTORED)
}

/// The relay's journal, ledger and, after a restore, the changes it vouches for.
#[derive(Debug)]
pub struct Recovery {
    /// The data directory.
    pub data: PathBuf,
    /// The directory's journal.
    pub journal: Arc<Journal>,
    /// The ledger of stored changes.
    pub ledger: Arc<ChangeLedger>,
    /// After a restore: the changes stored after the backup, by document.
    pub vouched: Option<ByDocument>,
    /// After a restore: what it was.
    pub restored: Option<Restored>,
    /// Devices that synced since this start while the relay recovers (see
    /// [`Recovery::needs_reoffer`]).
    reoffered: std::sync::Mutex<std::collections::HashSet<kizuna_core::DeviceId>>,
}

/// How long after a restore the relay takes back what it acknowledged before: phones that
/// have not synced within it bring back only what the write rules accept from them.
pub const RECOVERY_DAYS: i64 = 30;

impl Recovery {
    /// Opens the journal (sealed with `store_key`) and the ledger of data directory `data`,
    /// and reads what a restore left, if anything.
    pub fn open(data: &Path, store_key: &[u8]) -> std::io::Result<Recovery> {
        let sealer = kizuna_core::store::Sealer::new(store_key)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let journal = Arc::new(Journal::open(&journal_path(data), Arc::new(sealer))?);
        let restored: Option<Restored> = match std::fs::read(restored_path(data)) {
            Ok(b) => Some(serde_json::from_slice(&b).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is unreadable: {e}", restored_path(data).display()),
                )
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let now = kizuna_core::Timestamp::now();
        let window = RECOVERY_DAYS * 24 * 3600 * 1000;
        let recovering = restored
            .as_ref()
            .filter(|r| now.0 < r.restored_at.0.saturating_add(window));
        // Entries no kept backup needs go, but never those a recovery still vouches for.
        let mut cut = ledger_cut(data, now)?;
        if let Some(r) = recovering {
            cut = cut.min(r.ledger_from);
        }
        let dropped = ChangeLedger::trim(&data.join(JOURNAL_DIR), cut)?;
        if dropped > 0 {
            tracing::info!(
                dropped,
                "the ledger of stored changes dropped what no kept backup needs"
            );
        }
        let ledger = Arc::new(ChangeLedger::open(&data.join(JOURNAL_DIR))?);
        let vouched = match recovering {
            Some(r) => Some(ledger.read_from(r.ledger_from)?),
            None => None,
        };
        Ok(Recovery {
            data: data.to_path_buf(),
            journal,
            ledger,
            vouched,
            restored,
            reoffered: std::sync::Mutex::default(),
        })
    }

    /// Whether device `d` should be made to run the fallback for every document it names in
    /// this sync: while the relay recovers, once per device and relay start. The fallback is
    /// what makes a phone offer its attachments again, and a teammate may already have
    /// brought back its reports (so its heads would look current) while the relay still lacks
    /// its photos.
    pub fn needs_reoffer(&self, d: kizuna_core::DeviceId) -> bool {
        self.vouched.is_some()
            && !self
                .reoffered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(&d)
    }

    /// Notes that device `d` ran the fallback since this start (after a sync answered).
    pub fn reoffered(&self, d: kizuna_core::DeviceId) {
        self.reoffered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(d);
    }

    /// Notes a backup taken while serving, so the ledger keeps what a restore from it needs.
    pub fn note_backup(&self, mark: &BackupMark) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut line = serde_json::to_vec(mark).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(backups_path(&self.data))?;
        f.write_all(&line)?;
        f.sync_data()
    }

    /// The hook that puts every stored change in the ledger before the store writes it.
    pub fn stored_hook(&self) -> kizuna_core::store::rooms::StoredHook {
        let ledger = self.ledger.clone();
        Arc::new(move |doc, hashes, flush| {
            let io = |e: std::io::Error| {
                kizuna_core::CoreError::Store(kizuna_core::StoreError::Backend(format!(
                    "the ledger of stored changes: {e}"
                )))
            };
            ledger.append(doc, hashes).map_err(io)?;
            if flush {
                ledger.sync().map_err(io)?;
            }
            Ok(())
        })
    }
}
