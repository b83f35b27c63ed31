//! The session itself and its lifecycle: opening the store, enrolling, identity, the room
//! list, sync and live sync, listeners, and wiping. Reports, attachments and search add their
//! calls to [`Session`] in modules of their own.

use super::listen::{Event, Listener, Subscription};
use super::live::LiveSync;
use super::open::{https_of, make_enrolment, open_store};
use super::record::{self, Record};
use super::rooms::RoomInfo;
use super::shared::{Shared, lock, read, write};
use crate::enroll;
use crate::error::{ClientError, storage};
use crate::status::{SyncPhase, SyncState, SyncSummary};
use kizuna_core::{DeviceId, Profession, ProfessionalId};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Who this device belongs to, learnt at enrolment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The professional.
    pub professional: ProfessionalId,
    /// This device (the administrator revokes it by this id).
    pub device: DeviceId,
    /// Name shown beside posts.
    pub name: String,
    /// Profession.
    pub profession: Profession,
    /// Organisation's name.
    pub organisation: String,
    /// The relay's address.
    pub relay_url: String,
}

/// This phone: its encrypted store, its identity and its connection to the relay.
pub struct Session {
    pub(super) shared: Arc<Shared>,
}

impl Session {
    /// Opens (or creates) the device store in `data_dir`, an app-private folder, with the
    /// 32-byte store `key` the platform keeps. An enrolled device is ready to sync at once.
    pub fn open(data_dir: PathBuf, key: &[u8]) -> Result<Session, ClientError> {
        let open = Arc::new(open_store(&data_dir, key)?);
        let shared = Arc::new(Shared::new(data_dir, open.clone()));
        if let Some(record) = record::load(&open.store)? {
            let https = https_of(&record.enrolled)?;
            let e = make_enrolment(&open.store, record, https, shared.progress_fn())?;
            *write(&open.enrolment) = Some(Arc::new(e));
        }
        Ok(Session { shared })
    }

    /// Whether the device has an identity (enrolled and not wiped).
    pub fn is_enrolled(&self) -> bool {
        self.shared.enrolled().is_ok()
    }

    /// The professional of this device, once enrolled.
    pub fn me(&self) -> Option<ProfessionalId> {
        self.shared.me()
    }

    /// Enrolls from the text of the scanned QR code: makes the key pair here, sends its
    /// certificate request with the one-time code, keeps the certificate, and learns the
    /// professional's name and rooms. `label` names the device in the administrator's list.
    pub fn enroll(&self, qr_payload: &str, label: Option<&str>) -> Result<Identity, ClientError> {
        let open = self.shared.opened()?;
        if read(&open.enrolment).is_some() {
            return Err(ClientError::Forbidden {
                reason: "this device is already enrolled; wipe it first".into(),
            });
        }
        let payload = enroll::parse_payload(qr_payload)?;
        let enrolled = enroll::enroll(&payload, label)?;
        let https = https_of(&enrolled)?;
        let record = Record::new(enrolled);
        record::save(&open.store, &record)?;
        let e = make_enrolment(&open.store, record, https, self.shared.progress_fn())?;
        // Names come from the relay; enrolment stands even if this question fails (offline):
        // they are asked again after the next sync.
        if let Err(err) = self.shared.refresh_me(&open, &e) {
            tracing::debug!(error = %err, "profile not fetched after enrollment");
            *write(&open.enrolment) = Some(Arc::new(e));
        }
        self.shared.set_phase(SyncPhase::Idle);
        self.shared.publish_sync();
        self.identity().ok_or(ClientError::NotEnrolled)
    }

    /// Who this device belongs to, once enrolled.
    pub fn identity(&self) -> Option<Identity> {
        let (_, e) = self.shared.enrolled().ok()?;
        Some(Identity {
            professional: e.author.professional,
            device: e.author.device,
            name: e.record.name.clone(),
            profession: e.record.profession,
            organisation: e.record.organisation.clone(),
            relay_url: e.record.enrolled.relay.clone(),
        })
    }

    /// When this device's certificate expires (ms since 1970), once enrolled. A sync renews
    /// it in its last [`RENEW_WITHIN_DAYS`](super::RENEW_WITHIN_DAYS) days; an app can warn
    /// when the date comes close (the phone has not reached the relay for weeks).
    pub fn certificate_expires_ms(&self) -> Option<i64> {
        let (_, e) = self.shared.enrolled().ok()?;
        enroll::cert_not_after_ms(&e.record.enrolled.cert_pem)
    }

    /// Rooms on this device with unread counts and pending changes (patient rooms first).
    pub fn rooms(&self) -> Result<Vec<RoomInfo>, ClientError> {
        self.shared.rooms()
    }

    /// Syncs now: sends and receives room changes, then uploads queued attachments. Fails
    /// with `Offline` (nothing lost; try later) or `Revoked`.
    pub fn sync_now(&self) -> Result<SyncSummary, ClientError> {
        self.shared.sync()
    }

    /// Keeps the device in sync while the returned value lives (see [`LiveSync`]).
    pub fn start_live_sync(&self) -> LiveSync {
        LiveSync::start(&self.shared)
    }

    /// The sync indicator's state now.
    pub fn sync_state(&self) -> SyncState {
        self.shared.sync_state()
    }

    /// Follows rooms and sync: the listener gets the current room list and sync state at
    /// once, then every change, until the returned subscription is cancelled or dropped.
    pub fn subscribe(&self, listener: Arc<dyn Listener>) -> Subscription {
        let rooms = self.shared.rooms().unwrap_or_default();
        let ids = rooms.iter().map(|r| r.id).collect();
        let first = vec![
            Event::Rooms(rooms, ids),
            Event::Sync(self.shared.sync_state()),
        ];
        self.shared.hub.add(listener, first)
    }

    /// Erases everything this device holds (rooms, attachments, identity, search index) —
    /// what the app must do when told `Revoked { wipe: true }`, or when the user signs out.
    /// The device can enroll again afterwards with a new code (after opening anew).
    pub fn wipe(&self) -> Result<(), ClientError> {
        let shared = &self.shared;
        shared.live.store(false, Ordering::SeqCst);
        let _one = lock(&shared.sync_lock);
        let open = write(&shared.open).take();
        if let Some(open) = open {
            // Wait for calls in flight to let go of the store.
            let mut open = open;
            for _ in 0..200 {
                match Arc::try_unwrap(open) {
                    Ok(o) => {
                        drop(o);
                        break;
                    }
                    Err(back) => {
                        open = back;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
        let dir = &shared.dir;
        if dir.exists() {
            for entry in std::fs::read_dir(dir).map_err(storage)? {
                let p = entry.map_err(storage)?.path();
                let r = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                r.map_err(|_| storage("could not erase the local data"))?;
            }
        }
        lock(&shared.status).upload = None;
        shared.set_phase(SyncPhase::NotEnrolled);
        shared.publish_sync();
        shared.publish_rooms(Vec::new());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_store_key_must_be_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Session::open(dir.path().join("d"), &[1; 5]),
            Err(ClientError::KeyUnavailable { .. })
        ));
    }

    #[test]
    fn an_unenrolled_device_works_locally_and_refuses_to_sync() {
        let dir = tempfile::tempdir().unwrap();
        let s = Session::open(dir.path().join("d"), &[3; 32]).unwrap();
        assert!(!s.is_enrolled());
        assert_eq!(s.identity(), None);
        assert_eq!(s.rooms().unwrap(), Vec::new());
        assert_eq!(s.sync_state().phase, SyncPhase::NotEnrolled);
        assert_eq!(s.sync_now(), Err(ClientError::NotEnrolled));
        s.wipe().unwrap();
        assert_eq!(s.rooms(), Err(ClientError::NotEnrolled));
    }

    #[test]
    fn the_store_opens_again_with_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        drop(Session::open(dir.path().join("d"), &[3; 32]).unwrap());
        assert!(Session::open(dir.path().join("d"), &[3; 32]).is_ok());
        assert!(matches!(
            Session::open(dir.path().join("d"), &[4; 32]),
            Err(ClientError::KeyUnavailable { .. })
        ));
    }
}
