//! Where sync stands, as the app's sync indicator shows it, and what one sync did.

use kizuna_core::{ContentHash, RoomId};

/// The phase of sync.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadProgress {
    /// The attachment.
    pub hash: ContentHash,
    /// Bytes the relay holds (or that are on their way).
    pub sent: u64,
    /// The attachment's size.
    pub total: u64,
}

/// The sync indicator's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncState {
    /// Phase.
    pub phase: SyncPhase,
    /// When the last sync completed, ms since the epoch.
    pub last_synced_ms: Option<i64>,
    /// Local changes not yet acknowledged by the relay, over all rooms.
    pub pending_changes: u32,
    /// Attachments waiting for upload.
    pub pending_uploads: u32,
    /// The upload in progress, if any.
    pub upload: Option<UploadProgress>,
}

/// What one session sync did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncSummary {
    /// Documents that received or sent changes.
    pub updated: Vec<RoomId>,
    /// Documents new on this device.
    pub added: Vec<RoomId>,
    /// Documents this device may no longer see (deleted here).
    pub removed: Vec<RoomId>,
    /// Documents whose changes the relay refused.
    pub refused: Vec<RoomId>,
    /// Attachments still waiting for upload.
    pub pending_uploads: u32,
}
