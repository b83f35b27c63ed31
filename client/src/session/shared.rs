//! The state one device's calls share — the open store, the sync status, the listeners, the
//! flags of live sync — and how a change of it reaches the listeners.

use super::listen::Hub;
use super::observed::ProgressFn;
use super::open::{Enrolment, Open};
use super::rooms::{RoomInfo, room_list};
use crate::error::ClientError;
use crate::status::{SyncPhase, SyncState, UploadProgress};
use kizuna_core::{ContentHash, ProfessionalId, RoomId};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Downloaded attachments kept on the device before the least recently used are dropped.
pub(crate) const DEFAULT_CACHE_LIMIT: u64 = 512 * 1024 * 1024;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone, Debug)]
pub(crate) struct Status {
    pub(crate) phase: SyncPhase,
    pub(crate) upload: Option<UploadProgress>,
}

/// Everything the session's calls and its background threads share.
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) open: RwLock<Option<Arc<Open>>>,
    pub(crate) status: Mutex<Status>,
    pub(crate) hub: Arc<Hub>,
    /// One sync at a time (the app's, live sync's, a nudge's).
    pub(crate) sync_lock: Mutex<()>,
    /// Live sync runs: changes made here are pushed at once.
    pub(crate) live: AtomicBool,
    pub(crate) nudge_pending: AtomicBool,
    pub(crate) cache_limit: AtomicU64,
}

impl Shared {
    pub(crate) fn new(dir: PathBuf, open: Arc<Open>) -> Shared {
        Shared {
            dir,
            open: RwLock::new(Some(open)),
            status: Mutex::new(Status {
                phase: SyncPhase::Idle,
                upload: None,
            }),
            hub: Arc::new(Hub::default()),
            sync_lock: Mutex::new(()),
            live: AtomicBool::new(false),
            nudge_pending: AtomicBool::new(false),
            cache_limit: AtomicU64::new(DEFAULT_CACHE_LIMIT),
        }
    }

    pub(crate) fn opened(&self) -> Result<Arc<Open>, ClientError> {
        read(&self.open).clone().ok_or(ClientError::NotEnrolled)
    }

    pub(crate) fn enrolled(&self) -> Result<(Arc<Open>, Arc<Enrolment>), ClientError> {
        let open = self.opened()?;
        let e = read(&open.enrolment)
            .clone()
            .ok_or(ClientError::NotEnrolled)?;
        Ok((open, e))
    }

    pub(crate) fn me(&self) -> Option<ProfessionalId> {
        self.enrolled().ok().map(|(_, e)| e.author.professional)
    }

    /// Reports upload progress to the status and the listeners while the session lives.
    pub(crate) fn progress_fn(self: &Arc<Self>) -> ProgressFn {
        let weak = Arc::downgrade(self);
        Arc::new(move |hash: &ContentHash, sent: u64, total: u64| {
            if let Some(shared) = weak.upgrade() {
                lock(&shared.status).upload = Some(UploadProgress {
                    hash: *hash,
                    sent,
                    total,
                });
                shared.publish_sync();
            }
        })
    }

    pub(crate) fn set_phase(&self, phase: SyncPhase) {
        {
            let mut s = lock(&self.status);
            if s.phase == phase {
                return;
            }
            s.phase = phase;
        }
        self.publish_sync();
    }

    pub(crate) fn sync_state(&self) -> SyncState {
        let status = lock(&self.status).clone();
        let (pending_changes, pending_uploads, last) = match self.enrolled() {
            Ok((open, e)) => {
                let pending = kizuna_core::sync::device::status(&open.store)
                    .map(|v| v.iter().map(|d| d.pending).sum())
                    .unwrap_or(0);
                let uploads = e
                    .client
                    .blobs()
                    .pending_uploads()
                    .map(|v| v.len() as u32)
                    .unwrap_or(0);
                (pending, uploads, e.record.last_synced)
            }
            Err(_) => (0, 0, None),
        };
        let phase = match (&status.phase, self.enrolled().is_ok()) {
            (SyncPhase::Revoked { wipe }, _) => SyncPhase::Revoked { wipe: *wipe },
            (_, false) => SyncPhase::NotEnrolled,
            (p, true) => p.clone(),
        };
        SyncState {
            phase,
            last_synced_ms: last,
            pending_changes,
            pending_uploads,
            upload: status.upload,
        }
    }

    pub(crate) fn publish_sync(&self) {
        if self.hub.is_empty() {
            return;
        }
        self.hub.send_sync(&self.sync_state());
    }

    pub(crate) fn rooms(&self) -> Result<Vec<RoomInfo>, ClientError> {
        room_list(self.opened()?.as_ref())
    }

    pub(crate) fn publish_rooms(&self, changed: Vec<RoomId>) {
        if self.hub.is_empty() {
            return;
        }
        match self.rooms() {
            Ok(rooms) => self.hub.send_rooms(&rooms, &changed),
            Err(e) => tracing::warn!(error = %e, "room list unavailable for listeners"),
        }
    }
}
