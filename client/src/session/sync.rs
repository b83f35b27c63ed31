//! Sync orchestration: one complete sync at a time (the device certificate renewed when due,
//! documents, then attachments), with the
//! phase, the record, the room names, the search index and the listeners kept up to date
//! around it; and the push of a change made here while live sync runs.

use super::open::{Enrolment, Open, make_enrolment};
use super::record;
use super::rooms::changed_rooms;
use super::shared::{Shared, lock, write};
use crate::error::ClientError;
use crate::status::{SyncPhase, SyncSummary};
use kizuna_core::{RoomId, Timestamp};
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl Shared {
    /// Asks the relay who this device is and which rooms it may see (names for the list).
    pub(crate) fn refresh_me(
        self: &Arc<Self>,
        open: &Open,
        e: &Enrolment,
    ) -> Result<Arc<Enrolment>, ClientError> {
        let me = e.https.me()?;
        let mut record = e.record.clone();
        record.learn_me(&me);
        record::save(&open.store, &record)?;
        let next = Arc::new(make_enrolment(
            &open.store,
            record,
            e.https.clone(),
            self.progress_fn(),
        )?);
        *write(&open.enrolment) = Some(next.clone());
        Ok(next)
    }

    /// One complete sync (documents, then queued attachments), serialised with any other.
    pub(crate) fn sync(self: &Arc<Self>) -> Result<SyncSummary, ClientError> {
        let _one = lock(&self.sync_lock);
        let (open, e) = self.enrolled()?;
        self.set_phase(SyncPhase::Syncing);
        // A certificate near its end is renewed first; failing that, the sync goes on.
        let e = self.renew_if_due(&open, e);
        let result = e.client.sync_now();
        {
            lock(&self.status).upload = None;
        }
        let report = match result {
            Ok(r) => r,
            Err(err) => {
                let err: ClientError = err.into();
                self.after_sync_error(&err);
                return Err(err);
            }
        };
        // A relay retiring the CA of this certificate asked for a renewal during the sync.
        let mut e = self.renew_if_asked(&open, e);
        let names_missing = open
            .store
            .rooms()?
            .iter()
            .any(|m| m.scope.is_none() && !e.record.rooms.contains_key(&m.id));
        if names_missing || !report.added.is_empty() || !report.removed.is_empty() {
            match self.refresh_me(&open, &e) {
                Ok(next) => e = next,
                Err(err) => tracing::debug!(error = %err, "room names not refreshed"),
            }
        }
        let mut record = e.record.clone();
        record.last_synced = Some(Timestamp::now().0);
        record::save(&open.store, &record)?;
        *write(&open.enrolment) = Some(Arc::new(make_enrolment(
            &open.store,
            record,
            e.https.clone(),
            self.progress_fn(),
        )?));
        if let Err(err) = open.search.after_sync(&report) {
            tracing::debug!(error = %err, "search index not refreshed after sync");
        }
        self.set_phase(SyncPhase::Idle);
        self.publish_sync();
        let changed = changed_rooms(&open.store, &report);
        if !changed.is_empty() {
            self.publish_rooms(changed);
        }
        let pending_uploads = e
            .client
            .blobs()
            .pending_uploads()
            .map(|v| v.len() as u32)
            .unwrap_or(0);
        Ok(SyncSummary {
            updated: report.updated,
            added: report.added,
            removed: report.removed,
            refused: report.refused.into_iter().map(|(r, _)| r).collect(),
            pending_uploads,
        })
    }

    /// The phase after a failed sync; revocation also ends live sync.
    pub(crate) fn after_sync_error(&self, err: &ClientError) {
        match err {
            ClientError::Offline => self.set_phase(SyncPhase::Offline),
            ClientError::Revoked { wipe } => {
                self.live.store(false, Ordering::SeqCst);
                self.set_phase(SyncPhase::Revoked { wipe: *wipe })
            }
            _ => self.set_phase(SyncPhase::Idle),
        }
    }

    /// After a change made here: tell listeners, and push it at once when live sync runs.
    pub(crate) fn changed_here(self: &Arc<Self>, room: RoomId) {
        self.publish_rooms(vec![room]);
        self.publish_sync();
        if self.live.load(Ordering::SeqCst) && !self.nudge_pending.swap(true, Ordering::SeqCst) {
            let me = self.clone();
            std::thread::spawn(move || {
                me.nudge_pending.store(false, Ordering::SeqCst);
                let _ = me.sync();
            });
        }
    }
}
