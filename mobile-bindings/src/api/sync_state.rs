//! The sync indicator and what one sync did, as Swift and Kotlin see them, converted from
//! the client session's.

use super::types::{SyncPhase, SyncState, SyncSummary, UploadProgress};

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
