//! The `Device` object: one per app process, over the encrypted store in the app's data
//! folder. Everything a nurse's app does goes through it; it is thread-safe and every method
//! blocks (call from a background thread or coroutine, never the UI thread). Each method
//! converts its arguments, calls the client session and converts the answer.

use super::error::{KizunaError, parse_hash, parse_id};
use super::listen::{Adapter, DeviceListener, Subscription};
use super::types::{
    Attachment, AttachmentKind, CarePlanFileInput, CarePlanImported, Identity, ReportDetail,
    ReportDraft, ReportRow, RoomInfo, SearchFilter, SearchPage, SyncState, SyncSummary,
    UploadProgress, Wound,
};
use kizuna_client::Session;
use kizuna_core::model;
use kizuna_core::{ReportId, RoomId};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Supplies the 32-byte key of the device store, kept by the app in the Keychain (iOS) or
/// the Android Keystore. Called when the device opens.
#[uniffi::export(with_foreign)]
pub trait KeyProvider: Send + Sync {
    /// The store key: 32 random bytes made once per installation and kept by the platform.
    fn store_key(&self) -> Result<Vec<u8>, KizunaError>;
}

/// This phone: its encrypted store, its identity and its connection to the relay.
#[derive(uniffi::Object)]
pub struct Device {
    session: Session,
}

/// Keeps the device syncing while it is alive: started by `Device.start_live_sync`, stopped
/// when closed or dropped.
#[derive(uniffi::Object)]
pub struct LiveSync {
    inner: kizuna_client::LiveSync,
}

#[uniffi::export]
impl LiveSync {
    /// Stops syncing in the background (the current long poll ends within 15 s).
    pub fn stop(&self) {
        self.inner.stop();
    }
}

fn parse_room(room_id: &str) -> Result<RoomId, KizunaError> {
    parse_id("room_id", room_id)
}

fn parse_report(report_id: &str) -> Result<ReportId, KizunaError> {
    parse_id("report_id", report_id)
}

#[uniffi::export]
impl Device {
    /// Opens (or creates) the device store in `data_dir`, an app-private folder, with the key
    /// from `keys`. An enrolled device is ready to sync at once.
    #[uniffi::constructor]
    pub fn new(data_dir: String, keys: Arc<dyn KeyProvider>) -> Result<Arc<Self>, KizunaError> {
        let key = keys.store_key()?;
        let session = Session::open(PathBuf::from(data_dir), &key)?;
        Ok(Arc::new(Device { session }))
    }

    /// Whether the device has an identity (enrolled and not wiped).
    pub fn is_enrolled(&self) -> bool {
        self.session.is_enrolled()
    }

    /// Enrolls from the text of the scanned QR code: makes the key pair here, sends its
    /// certificate request with the one-time code, keeps the certificate, and learns the
    /// professional's name and rooms. `label` names the device in the administrator's list.
    pub fn enroll(
        &self,
        qr_payload: String,
        label: Option<String>,
    ) -> Result<Identity, KizunaError> {
        Ok(self.session.enroll(&qr_payload, label.as_deref())?.into())
    }

    /// Who this device belongs to, once enrolled.
    pub fn identity(&self) -> Option<Identity> {
        self.session.identity().map(Into::into)
    }

    /// Rooms on this device with unread counts and pending changes (patient rooms first).
    pub fn rooms(&self) -> Result<Vec<RoomInfo>, KizunaError> {
        Ok(self.session.rooms()?.into_iter().map(Into::into).collect())
    }

    /// A room's reports, newest first (restricted ones this professional may see included).
    pub fn reports(&self, room_id: String) -> Result<Vec<ReportRow>, KizunaError> {
        let rows = self.session.reports(parse_room(&room_id)?)?;
        let me = self.session.me();
        Ok(rows.iter().map(|s| ReportRow::from_core(s, me)).collect())
    }

    /// One report with its content, comments and read receipts.
    pub fn report(&self, room_id: String, report_id: String) -> Result<ReportDetail, KizunaError> {
        let (room, id) = (parse_room(&room_id)?, parse_report(&report_id)?);
        let view = self.session.report(room, id)?;
        Ok(ReportDetail::from_view(&view, self.session.me()))
    }

    /// Stores a photo, video, audio or document from a file the app wrote (the camera's
    /// output) in the encrypted store, with a thumbnail for photos (for videos, from
    /// `video_frame_path`, a still the app took from the clip). Put the result in a draft's
    /// `attachments`; it is uploaded after the report is synced. The app may delete its file
    /// afterwards.
    pub fn attach_file(
        &self,
        path: String,
        kind: AttachmentKind,
        media_type: String,
        caption: Option<String>,
        video_frame_path: Option<String>,
    ) -> Result<Attachment, KizunaError> {
        let a = self.session.attach_file(
            Path::new(&path),
            kind.into(),
            &media_type,
            caption,
            video_frame_path.as_deref().map(Path::new),
        )?;
        Ok(Attachment::from_core(&a, true))
    }

    /// Posts a report (works offline; it reaches the relay at the next sync). Returns its id.
    pub fn post_report(&self, room_id: String, draft: ReportDraft) -> Result<String, KizunaError> {
        let room = parse_room(&room_id)?;
        let content = draft.to_core()?;
        Ok(self.session.post_report(room, &content)?.to_string())
    }

    /// Replaces the content of one of this professional's reports with `draft` (its audience
    /// cannot change, and intake/output, which a draft does not carry, is kept). Returns the
    /// names of the changed fields.
    pub fn edit_report(
        &self,
        room_id: String,
        report_id: String,
        draft: ReportDraft,
    ) -> Result<Vec<String>, KizunaError> {
        let content = draft.to_core()?;
        let (room, id) = (parse_room(&room_id)?, parse_report(&report_id)?);
        Ok(self.session.edit_report(room, id, move |c| {
            // What a draft cannot express stays as it is: intake/output written by another
            // client, and the share scope (a report stays in the document it was posted to).
            let intake = c.intake.take();
            let scope = c.scope.clone();
            *c = content;
            c.intake = intake;
            c.scope = scope;
        })?)
    }

    /// Adds a pressure-ulcer assessment (DESIGN-R 2020) to one of this professional's
    /// reports; its photos must be among the report's attachments.
    pub fn add_wound_assessment(
        &self,
        room_id: String,
        report_id: String,
        wound: Wound,
    ) -> Result<(), KizunaError> {
        let w = wound.to_core()?;
        let (room, id) = (parse_room(&room_id)?, parse_report(&report_id)?);
        self.session
            .edit_report(room, id, move |c| c.wounds.push(w))?;
        Ok(())
    }

    /// Replies to a report. Returns the comment's id.
    pub fn add_comment(
        &self,
        room_id: String,
        report_id: String,
        text: String,
    ) -> Result<String, KizunaError> {
        let (room, id) = (parse_room(&room_id)?, parse_report(&report_id)?);
        Ok(self.session.add_comment(room, id, &text)?.to_string())
    }

    /// Records that this professional opened the report now (既読). Returns false when it was
    /// already marked.
    pub fn mark_read(&self, room_id: String, report_id: String) -> Result<bool, KizunaError> {
        let (room, id) = (parse_room(&room_id)?, parse_report(&report_id)?);
        Ok(self.session.mark_read(room, id)?)
    }

    /// The patient profile as JSON (sections `basic`, `family`, `medical`, `care`, `housing`,
    /// `medications`; see docs/mobile.md).
    pub fn profile_json(&self, room_id: String) -> Result<String, KizunaError> {
        let profile = self.session.profile(parse_room(&room_id)?)?;
        serde_json::to_string(&profile).map_err(|e| KizunaError::Storage {
            detail: e.to_string(),
        })
    }

    /// Saves an edited profile (the JSON of `profile_json` with changes). Only the fields that
    /// differ are written, so others' concurrent edits of other fields merge. Returns the
    /// changed fields (`basic.phone`…).
    pub fn edit_profile(
        &self,
        room_id: String,
        profile_json: String,
    ) -> Result<Vec<String>, KizunaError> {
        let room = parse_room(&room_id)?;
        let edited: model::Profile =
            serde_json::from_str(&profile_json).map_err(|err| KizunaError::InvalidInput {
                field: "profile_json".into(),
                problem: format!(
                    "does not have the profile's shape (line {}, column {})",
                    err.line(),
                    err.column()
                ),
            })?;
        Ok(self.session.edit_profile(room, edited)?)
    }

    /// Syncs now: sends and receives room changes, then uploads queued attachments. Fails
    /// with `Offline` (nothing lost; try later) or `Revoked`.
    pub fn sync_now(&self) -> Result<SyncSummary, KizunaError> {
        Ok(self.session.sync_now()?.into())
    }

    /// Keeps the device in sync while the returned object lives: syncs, then waits on the
    /// relay's live channel and syncs whenever a room changes there or here; backs off while
    /// offline; stops on revocation (the listener hears it).
    pub fn start_live_sync(&self) -> Arc<LiveSync> {
        Arc::new(LiveSync {
            inner: self.session.start_live_sync(),
        })
    }

    /// The sync indicator's state now.
    pub fn sync_state(&self) -> SyncState {
        self.session.sync_state().into()
    }

    /// Attachments waiting for upload, most important first, with the bytes the relay holds
    /// as far as this device knows.
    pub fn pending_uploads(&self) -> Result<Vec<UploadProgress>, KizunaError> {
        Ok(self
            .session
            .pending_uploads()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Makes an attachment of a report in `room_id` available as a plain file at `dest_path`
    /// (an app-private cache path): downloaded from the relay unless already here (resuming
    /// a partial download), checked against its hash, then decrypted to the file.
    pub fn fetch_attachment(
        &self,
        room_id: String,
        hash: String,
        dest_path: String,
    ) -> Result<(), KizunaError> {
        let (room, h) = (parse_room(&room_id)?, parse_hash("hash", &hash)?);
        Ok(self
            .session
            .fetch_attachment(room, &h, Path::new(&dest_path))?)
    }

    /// Bytes of downloaded attachments kept before the least recently used are dropped
    /// (attachments waiting for upload are never dropped).
    pub fn set_attachment_cache_limit(&self, bytes: u64) {
        self.session.set_attachment_cache_limit(bytes);
    }

    /// Searches reports and profiles on this device (works offline).
    pub fn search(&self, filter: SearchFilter) -> Result<SearchPage, KizunaError> {
        let (query, must_read_me) = filter.to_query()?;
        Ok(self.session.search(query, must_read_me)?.into())
    }

    /// Imports care-plan CSV files (the standard's Shift-JIS files, as picked by the user)
    /// into a patient room, all or nothing.
    pub fn import_care_plan(
        &self,
        room_id: String,
        files: Vec<CarePlanFileInput>,
    ) -> Result<CarePlanImported, KizunaError> {
        let room = parse_room(&room_id)?;
        let files: Vec<(String, Vec<u8>)> = files.into_iter().map(|f| (f.name, f.bytes)).collect();
        Ok(self.session.import_care_plan(room, &files)?.into())
    }

    /// `import_care_plan` with files read from paths.
    pub fn import_care_plan_files(
        &self,
        room_id: String,
        paths: Vec<String>,
    ) -> Result<CarePlanImported, KizunaError> {
        let room = parse_room(&room_id)?;
        Ok(self.session.import_care_plan_files(room, &paths)?.into())
    }

    /// Follows rooms and sync: the listener gets the current room list and sync state at
    /// once, then every change, until the returned subscription is closed or dropped.
    pub fn subscribe(&self, listener: Arc<dyn DeviceListener>) -> Arc<Subscription> {
        Arc::new(Subscription {
            inner: self.session.subscribe(Arc::new(Adapter(listener))),
        })
    }

    /// Erases everything this device holds (rooms, attachments, identity, search index) —
    /// what the app must do when told `Revoked { wipe: true }`, or when the user signs out.
    /// The device can enroll again afterwards with a new code (after `Device(…)` anew).
    pub fn wipe(&self) -> Result<(), KizunaError> {
        Ok(self.session.wipe()?)
    }
}

/// Starts logging to standard error (`level`: `error`, `warn`, `info`, `debug`, `trace`, or
/// a tracing filter). Logs carry ids, never patient data. Calling it again does nothing.
#[uniffi::export]
pub fn init_logging(level: String) {
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The version of the bindings, for the app's about screen and bug reports.
#[uniffi::export]
pub fn kizuna_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
