//! The sync indicator and what one sync did, as Swift and Kotlin see them.

/// Where sync stands.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    /// Not syncing; the last sync (if any) succeeded.
    Idle,
    /// A sync is running.
    Syncing,
    /// The relay could not be reached; changes wait on the device.
    Offline,
    /// The device was revoked; `wipe` asks the app to erase local data.
    Revoked {
        /// Erase local data now.
        wipe: bool,
    },
    /// Not enrolled yet (or wiped).
    NotEnrolled,
}

/// Progress of the attachment being uploaded.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct UploadProgress {
    /// The attachment's hash.
    pub hash: String,
    /// Bytes the relay holds (or that are on their way).
    pub sent: u64,
    /// The attachment's size.
    pub total: u64,
}

/// The sync indicator's state.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncState {
    /// Phase.
    pub phase: SyncPhase,
    /// When the last sync completed.
    pub last_synced_ms: Option<i64>,
    /// Local changes not yet acknowledged by the relay, over all rooms.
    pub pending_changes: u32,
    /// Attachments waiting for upload.
    pub pending_uploads: u32,
    /// The upload in progress, if any.
    pub upload: Option<UploadProgress>,
}

/// What one `sync_now` did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    /// Rooms that received or sent changes.
    pub updated: Vec<String>,
    /// Rooms new on this device.
    pub added: Vec<String>,
    /// Rooms this device may no longer see (deleted here).
    pub removed: Vec<String>,
    /// Rooms whose changes the relay refused.
    pub refused: Vec<String>,
    /// Attachments still waiting for upload.
    pub pending_uploads: u32,
}

impl From<kizuna_client::SyncPhase> for SyncPhase {
    fn from(p: kizuna_client::SyncPhase) -> Self {
        match p {
            kizuna_client::SyncPhase::Idle => SyncPhase::Idle,
            kizuna_client::SyncPhase::Syncing => SyncPhase::Syncing,
            kizuna_client::SyncPhase::Offline => SyncPhase::Offline,
            kizuna_client::SyncPhase::Revoked { wipe } => SyncPhase::Revoked { wipe },
            kizuna_client::SyncPhase::NotEnrolled => SyncPhase::NotEnrolled,
        }
    }
}

impl From<kizuna_client::UploadProgress> for UploadProgress {
    fn from(u: kizuna_client::UploadProgress) -> Self {
        UploadProgress {
            hash: u.hash.to_hex(),
            sent: u.sent,
            total: u.total,
        }
    }
}

impl From<kizuna_client::SyncState> for SyncState {
    fn from(s: kizuna_client::SyncState) -> Self {
        SyncState {
            phase: s.phase.into(),
            last_synced_ms: s.last_synced_ms,
            pending_changes: s.pending_changes,
            pending_uploads: s.pending_uploads,
            upload: s.upload.map(Into::into),
        }
    }
}

impl From<kizuna_client::SyncSummary> for SyncSummary {
    fn from(s: kizuna_client::SyncSummary) -> Self {
        let ids = |v: Vec<kizuna_core::RoomId>| v.iter().map(ToString::to_string).collect();
        SyncSummary {
            updated: ids(s.updated),
            added: ids(s.added),
            removed: ids(s.removed),
            refused: ids(s.refused),
            pending_uploads: s.pending_uploads,
        }
    }
}
