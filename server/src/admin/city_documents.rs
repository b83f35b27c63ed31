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

use crate::error::RelayError;
use crate::identity::directory::Professional;
use crate::state::Relay;
use crate::sync::events::Target;
use kizuna_contract::careplans::{CarePlanImportView, MAX_CARE_PLAN_FILES};
use kizuna_contract::notices::{CityRoom, NoticeView, ReaderView};
use kizuna_contract::rooms::RoomActivity;
use kizuna_core::careplan::{self, CarePlanError, CarePlanImport, ImportSummary};
use kizuna_core::model::NoticeContent;
use kizuna_core::room::Scope;
use kizuna_core::{Author, CoreError, NoticeId, RoomHandle, RoomId, RoomKind, Timestamp};

/// A past import as administrators list it: names and row counts, never the rows.
fn import_view(i: &CarePlanImport) -> CarePlanImportView {
    CarePlanImportView {
        id: i.id.0,
        imported_at: i.imported_at.into(),
        imported_by: i.imported_by.name.clone(),
        files: i
            .files
            .iter()
            .map(|f| (f.name.clone(), f.rows.len() as u64))
            .collect(),
    }
}

fn core(e: CoreError) -> RelayError {
    match e {
        CoreError::Invalid(v) => RelayError::Invalid(v.to_string()),
        other => RelayError::Internal(other.to_string()),
    }
}

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
        let mut audience = 0u64;
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
                    professional: pid.0,
                    name,
                    read_at: (*at).into(),
                });
            }
            read_by.sort_by_key(|r| r.read_at);
            let expired = n.content.expires_at.is_some_and(|t| t < now);
            out.push(NoticeView {
                notice: n.into(),
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
                a.last_post = a.last_post.max(Some(s.post_time.into()));
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
        Ok(history.iter().map(import_view).collect())
    }
}
