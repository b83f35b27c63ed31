//! What administrators write into and read from room documents, beside the directory: city
//! notices and disaster/infection alerts (with who has read them), care-plan imports into a
//! patient room, and a patient room's activity without clinical content.
//!
//! Every write follows the pattern of `Relay::membership_changed`: take the patient room's
//! lock, get (or create, with members and consent) the directory room's document, write one
//! change with `RoomHandle::write` (persisted and flushed before it returns), then publish
//! the document on the live channel so members' devices sync it.
//!
//! The writer is the administrator as a person (professional id, name) on the relay's own
//! actor (`Relay::relay_author`'s device): a console session signed in with a password has no
//! device, and the relay is what physically writes the change in both cases.

use crate::directory::Professional;
use crate::events::Target;
use crate::relay::{Relay, RelayError};
use kizuna_core::careplan::{self, CarePlanError, CarePlanImport, ImportSummary};
use kizuna_core::model::{Notice, NoticeContent};
use kizuna_core::room::Scope;
use kizuna_core::{Author, CoreError, NoticeId, RoomHandle, RoomId, RoomKind, Timestamp};
use serde::{Deserialize, Serialize};

/// Which city room a notice goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CityRoom {
    /// 市からのお知らせ: every professional reads it.
    Notices,
    /// 災害・感染症アラート: care providers read it.
    Alerts,
}

impl CityRoom {
    /// The key used in URLs and JSON.
    pub fn key(self) -> &'static str {
        match self {
            CityRoom::Notices => "notices",
            CityRoom::Alerts => "alerts",
        }
    }

    /// Parses [`CityRoom::key`].
    pub fn from_key(s: &str) -> Option<CityRoom> {
        match s {
            "notices" => Some(CityRoom::Notices),
            "alerts" => Some(CityRoom::Alerts),
            _ => None,
        }
    }
}

/// A notice with who should and who did read it, for administrators.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoticeView {
    /// The notice (content and first-read times).
    pub notice: Notice,
    /// Which room it is in.
    pub room: CityRoom,
    /// How many members the room has besides administrators (who should read it).
    pub audience: usize,
    /// Members who have read it, by name, earliest first.
    pub read_by: Vec<ReaderView>,
    /// Whether its expiry has passed.
    pub expired: bool,
}

/// One reader of a notice.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReaderView {
    /// The professional.
    pub professional: kizuna_core::ProfessionalId,
    /// Their name (removed professionals keep their id only).
    pub name: String,
    /// When they first read it.
    pub read_at: Timestamp,
}

/// A patient room's activity, from the stored report summaries (no document load, no
/// clinical text: counts only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomActivity {
    /// Reports in the room (restricted documents included).
    pub reports: u64,
    /// Reports whose care time or post time lies in the last 7 days.
    pub reports_this_week: u64,
    /// Must-read requests (特に読んでほしい人) not read yet: one per report and person.
    pub unread_must_reads: u64,
    /// When the newest report was posted.
    pub last_post: Option<Timestamp>,
}

/// One file of a care-plan import, as the JSON API takes it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarePlanUpload {
    /// The file's name as the care manager's system wrote it (`UPPLAN_…CSV`).
    pub name: String,
    /// Its bytes (Shift-JIS CSV), base64.
    pub data_base64: String,
}

/// `POST /v1/admin/rooms/{id}/care-plans`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarePlanUploadRequest {
    /// The files of one import (all or nothing).
    pub files: Vec<CarePlanUpload>,
}

/// One past import, without its rows (which are care data): for the console's list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CarePlanImportView {
    /// Import id.
    pub id: kizuna_core::EntryId,
    /// When.
    pub imported_at: Timestamp,
    /// By whom (name).
    pub imported_by: String,
    /// Each file's name and number of rows.
    pub files: Vec<(String, usize)>,
}

impl From<&CarePlanImport> for CarePlanImportView {
    fn from(i: &CarePlanImport) -> Self {
        CarePlanImportView {
            id: i.id,
            imported_at: i.imported_at,
            imported_by: i.imported_by.name.clone(),
            files: i
                .files
                .iter()
                .map(|f| (f.name.clone(), f.rows.len()))
                .collect(),
        }
    }
}

fn core(e: CoreError) -> RelayError {
    match e {
        CoreError::Invalid(v) => RelayError::Invalid(v.to_string()),
        other => RelayError::Internal(other.to_string()),
    }
}

/// Most files in one care-plan import (the standard has five kinds).
pub const MAX_CARE_PLAN_FILES: usize = 10;

impl Relay {
    /// The author under which an administrator's document writes are made: the person, on
    /// the relay's actor.
    pub fn admin_author(&self, admin: &Professional) -> Author {
        Author {
            professional: admin.id,
            device: self.relay_author().device,
            display_name: admin.name.clone(),
            profession: admin.profession,
            organisation: admin.organisation.name.clone(),
        }
    }

    /// The id of a city room.
    pub fn city_room(&self, which: CityRoom) -> Result<RoomId, RelayError> {
        match which {
            CityRoom::Notices => self.notices_room(),
            CityRoom::Alerts => self.alerts_room(),
        }
    }

    fn locked_doc<T>(
        &self,
        room: RoomId,
        f: impl FnOnce(&RoomHandle) -> Result<T, RelayError>,
    ) -> Result<T, RelayError> {
        let lock = self.documents().room_lock(room);
        let guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let handle = self
            .directory_room_doc(room)?
            .ok_or(RelayError::NotFound("room"))?;
        let out = f(&handle);
        drop(guard);
        out
    }

    /// Posts a notice or alert with importance and optional expiry. Only administrators
    /// may; the caller has checked that `admin` is one.
    pub fn post_notice(
        &self,
        admin: &Professional,
        which: CityRoom,
        content: &NoticeContent,
    ) -> Result<NoticeId, RelayError> {
        if !admin.is_admin() {
            return Err(RelayError::Forbidden("only administrators post notices"));
        }
        let room = self.city_room(which)?;
        let author = self.admin_author(admin);
        let id = self.locked_doc(room, |h| {
            h.write(|doc| doc.post_notice(&author, Timestamp::now(), content))
                .map_err(core)
        })?;
        self.events().publish(vec![Target::Doc(room)]);
        tracing::info!(room = %room, notice = %id, "notice posted");
        Ok(id)
    }

    /// The notices of a city room, newest first, with who has read each.
    pub fn notices(&self, which: CityRoom) -> Result<Vec<NoticeView>, RelayError> {
        let room = self.city_room(which)?;
        let notices = self.locked_doc(room, |h| h.read(|doc| doc.notices()).map_err(core))?;
        let mut audience = 0;
        for (pid, _) in self.directory().members_of(room)? {
            if let Some(p) = self.directory().professional(pid)?
                && p.is_active()
                && !p.is_admin()
            {
                audience += 1;
            }
        }
        let now = Timestamp::now();
        let mut out = Vec::new();
        for n in notices {
            let mut read_by = Vec::new();
            for (pid, at) in &n.receipts {
                let name = self
                    .directory()
                    .professional(*pid)?
                    .map(|p| p.name)
                    .unwrap_or_else(|| pid.to_string());
                read_by.push(ReaderView {
                    professional: *pid,
                    name,
                    read_at: *at,
                });
            }
            read_by.sort_by_key(|r| r.read_at);
            let expired = n.content.expires_at.is_some_and(|t| t < now);
            out.push(NoticeView {
                notice: n,
                room: which,
                audience,
                read_by,
                expired,
            });
        }
        Ok(out)
    }

    /// A patient room's activity from its report summaries (main and restricted documents).
    pub fn room_activity(&self, room: RoomId) -> Result<RoomActivity, RelayError> {
        let r = self
            .directory()
            .room(room)?
            .ok_or(RelayError::NotFound("room"))?;
        let mut a = RoomActivity::default();
        if r.kind != RoomKind::Patient {
            return Ok(a);
        }
        let week_ago = Timestamp::now().plus_millis(-7 * 24 * 3_600_000);
        let mut docs = vec![room];
        docs.extend(self.documents().scopes_of(room).iter().map(Scope::doc_id));
        for doc in docs {
            let Some(h) = self.documents().get(doc).map_err(core)? else {
                continue;
            };
            for s in h.summaries().map_err(core)? {
                if s.withdrawn {
                    continue;
                }
                a.reports += 1;
                if s.care_time >= week_ago || s.post_time >= week_ago {
                    a.reports_this_week += 1;
                }
                a.unread_must_reads += s
                    .must_read
                    .iter()
                    .filter(|m| !s.readers.contains(m))
                    .count() as u64;
                a.last_post = a.last_post.max(Some(s.post_time));
            }
        }
        Ok(a)
    }

    /// Imports care-plan files (name, bytes) into a patient room: all checked first, then
    /// written as one change (`kizuna_core::careplan::import`).
    pub fn import_care_plan(
        &self,
        admin: &Professional,
        room: RoomId,
        files: &[(String, Vec<u8>)],
    ) -> Result<ImportSummary, RelayError> {
        let r = self
            .directory()
            .room(room)?
            .ok_or(RelayError::NotFound("room"))?;
        if r.kind != RoomKind::Patient {
            return Err(RelayError::Invalid(
                "room: care plans are imported into patient rooms".into(),
            ));
        }
        if r.archived_at.is_some() {
            return Err(RelayError::Conflict("room: the room is archived".into()));
        }
        if files.len() > MAX_CARE_PLAN_FILES {
            return Err(RelayError::Invalid(format!(
                "files: at most {MAX_CARE_PLAN_FILES} files in one import"
            )));
        }
        let author = self.admin_author(admin);
        let summary = self.locked_doc(room, |h| {
            careplan::import(h, &author, Timestamp::now(), files).map_err(|e| match e {
                CarePlanError::Invalid(issues) => RelayError::Invalid(
                    issues
                        .iter()
                        .take(20)
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                CarePlanError::Core(e) => core(e),
            })
        })?;
        self.events().publish(vec![Target::Doc(room)]);
        tracing::info!(room = %room, import = %summary.id, "care plan imported");
        Ok(summary)
    }

    /// The care-plan imports of a patient room, newest first, without their rows.
    pub fn care_plan_imports(&self, room: RoomId) -> Result<Vec<CarePlanImportView>, RelayError> {
        let r = self
            .directory()
            .room(room)?
            .ok_or(RelayError::NotFound("room"))?;
        if r.kind != RoomKind::Patient {
            return Ok(Vec::new());
        }
        let Some(h) = self.documents().get(room).map_err(core)? else {
            return Ok(Vec::new());
        };
        let history = h.read(|doc| careplan::history(doc)).map_err(core)?;
        Ok(history.iter().map(CarePlanImportView::from).collect())
    }
}
