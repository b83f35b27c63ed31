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
/// The ledger of stored changes.
pub const CHANGE_LEDGER: &str = "changes.log";
/// Written by a restore: where the restored relay's vouched changes start.
pub const RESTORED: &str = "restored.json";

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

/// The ledger's path for data directory `data`.
pub fn ledger_path(data: &Path) -> PathBuf {
    data.join(JOURNAL_DIR).join(CHANGE_LEDGER)
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
        let ledger = Arc::new(ChangeLedger::open(&ledger_path(data))?);
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
        let window = RECOVERY_DAYS * 24 * 3600 * 1000;
        let vouched = match &restored {
            Some(r) if kizuna_core::Timestamp::now().0 < r.restored_at.0.saturating_add(window) => {
                Some(ChangeLedger::read_from(ledger.path(), r.ledger_from)?)
            }
            _ => None,
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
