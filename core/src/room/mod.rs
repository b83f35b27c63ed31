//! A room as an Automerge document, behind a typed API: no caller touches Automerge paths.
//!
//! Layout (format 1) — every container below is created by the deterministic genesis change
//! (see [`genesis`]), so no two devices ever create the same container concurrently (which in
//! Automerge would make one device's contents vanish behind the other's):
//!
//! ```text
//! kizuna   {format, room, kind}            consent  {…Consent}       members {pro → {role,…}}
//! profile  {basic, family, medical{diagnoses, treatments, allergies, devices}, care{adl},
//!           housing, medications}          profile_log {id → ProfileEdit}
//! reports  {report id → {id, author, post_time, content, comments{}, receipts{}, edits{},
//!                        withdrawn?, relay?{post_no, received_at}}}
//! notices  {id → {…, receipts{}}}          messages {id → {…, receipts{}}}
//! care_plans {import id → care-plan import (ケアプランデータ連携); the newest is current}
//! ```
//!
//! Every change is made under the writing device's actor id and carries a [`ChangeNote`] as
//! its message, naming the professional, the device and the operation.

pub mod codec;
pub mod genesis;
pub mod recent;

pub use genesis::Scope;
use recent::Recent;

use crate::error::{CoreError, Result};
use crate::ids::{CommentId, DeviceId, MessageId, NoticeId, ProfessionalId, ReportId, RoomId};
use crate::model::notice::check_message;
use crate::model::report::check_comment;
use crate::model::{
    AttachmentRef, AuthorInfo, Comment, Consent, Message, Notice, NoticeContent, Profile,
    ProfileEdit, Report, ReportContent, ReportEdit, ReportSummary, ShareScope, Withdrawal,
};
use crate::people::{Author, Role, RoomKind};
use crate::time::Timestamp;
use crate::validate::{Check, check_text};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, Prop, ReadDoc, ScalarValue, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The document layout version written by this code.
pub const FORMAT: u64 = 1;

/// Beyond this many new changes in one merge, every report counts as touched instead of
/// walking each change's operations.
const MAX_CHANGES_WALKED: usize = 256;

/// The message attached to every change: who made it, from which device, doing what. The
/// relay checks it against the certificate of the device that sent the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeNote {
    /// Operation name (`post_report`, `comment`, `mark_read`…).
    pub op: String,
    /// The professional.
    pub pro: ProfessionalId,
    /// The device (also the change's actor id).
    pub dev: DeviceId,
    /// The report, notice or message the change is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A member as mirrored in the document for display; the relay's directory is the authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Writer or reader.
    pub role: Role,
    /// Display name.
    pub name: String,
    /// Profession.
    pub profession: crate::people::Profession,
    /// Organisation's name.
    pub organisation: String,
}

/// What changed in a room since the caller last asked, so stores and search indexes update
/// only what they must.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Reports whose summary may have changed.
    pub reports: BTreeSet<ReportId>,
    /// Anything outside reports (profile, consent, members, notices, messages).
    pub other: bool,
}

/// One room: an Automerge document plus what has been touched since it was last persisted.
#[derive(Clone)]
pub struct Room {
    id: RoomId,
    kind: RoomKind,
    scope: Option<Scope>,
    doc: AutoCommit,
    touched: Touched,
    /// The newest changes, so sync and persistence need not rebuild them from the document.
    recent: Recent,
    /// Automerge panicked while changing the document: it may be half-changed.
    poisoned: bool,
}

impl std::fmt::Debug for Room {
    /// Shows ids only: the document holds patient data and must not reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// The actor id of a device: its id's 16 bytes, so the relay can tie a change to a certificate.
pub fn actor_of(device: DeviceId) -> ActorId {
    ActorId::from(&device.as_bytes()[..])
}

fn root_map(doc: &AutoCommit, key: &str) -> Result<ObjId> {
    codec::map_at(doc, &automerge::ROOT, key)?
        .ok_or(CoreError::Malformed("a top-level section is missing"))
}

impl Room {
    /// A new, empty room; identical on every device and the relay (see [`genesis`]).
    pub fn new(id: RoomId, kind: RoomKind) -> Room {
        Self::assemble(id, kind, None, genesis::genesis(id, kind))
    }

    /// Loads a room from saved bytes (a full save, optionally followed by incremental chunks),
    /// checking that it is the room it claims to be.
    pub fn load(id: RoomId, bytes: &[u8]) -> Result<Room> {
        Self::check_loaded(id, AutoCommit::load(bytes)?)
    }

    /// Loads bytes this process wrote itself and that come back authenticated (the store
    /// opens every record with AES-GCM), skipping Automerge's re-hashing of every change:
    /// on a ten-year room that halves load time and peak memory. Never use it for bytes
    /// from the network.
    pub fn load_trusted(id: RoomId, bytes: &[u8]) -> Result<Room> {
        Self::check_loaded(id, AutoCommit::load_unverified_heads(bytes)?)
    }

    /// A new restricted document for reports shared with `scope`'s audience only; identical on
    /// every device (its id is `scope.doc_id()`).
    pub fn new_scoped(scope: Scope) -> Room {
        let id = scope.doc_id();
        let doc = genesis::genesis_with_scope(id, RoomKind::Patient, Some(&scope));
        Self::assemble(id, RoomKind::Patient, Some(scope), doc)
    }

    fn assemble(id: RoomId, kind: RoomKind, scope: Option<Scope>, mut doc: AutoCommit) -> Room {
        let recent = Recent::new(doc.get_heads());
        Room {
            id,
            kind,
            scope,
            doc,
            touched: Touched::default(),
            recent,
            poisoned: false,
        }
    }

    fn check_loaded(id: RoomId, doc: AutoCommit) -> Result<Room> {
        let meta = root_map(&doc, "kizuna")?;
        let room = codec::read_key(&doc, &meta, "room")?;
        if room.as_ref().and_then(|v| v.as_str()) != Some(id.to_string().as_str()) {
            return Err(CoreError::Malformed("document belongs to another room"));
        }
        let kind = codec::read_key(&doc, &meta, "kind")?
            .and_then(|v| v.as_str().and_then(RoomKind::from_key))
            .ok_or(CoreError::Malformed("room kind missing"))?;
        let scope = match codec::read_key(&doc, &meta, "parent")? {
            None => None,
            Some(parent) => {
                let parent = parent
                    .as_str()
                    .and_then(|p| p.parse().ok())
                    .ok_or(CoreError::Malformed("scope parent is not a room id"))?;
                let audience: Vec<ProfessionalId> = codec::from_json(
                    codec::read_key(&doc, &meta, "audience")?.unwrap_or_default(),
                    "scope audience",
                )?;
                let scope = Scope::new(parent, audience);
                if scope.doc_id() != id {
                    return Err(CoreError::Malformed("scope does not match the document id"));
                }
                Some(scope)
            }
        };
        Ok(Self::assemble(id, kind, scope, doc))
    }

    /// The room's id.
    pub fn id(&self) -> RoomId {
        self.id
    }

    /// For a restricted document, its patient room and audience.
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    /// The patient room this document belongs to: itself, or the parent of a restricted one.
    pub fn room_id(&self) -> RoomId {
        self.scope.as_ref().map_or(self.id, |s| s.parent)
    }

    /// Patient, notices, alerts or direct.
    pub fn kind(&self) -> RoomKind {
        self.kind
    }

    /// The current heads, which name this exact state of the room.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The whole document, compressed: for snapshots and compaction.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Only the changes not reachable from `heads`: for incremental persistence and sync.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        recent::chunk_of(&self.changes_after(heads))
    }

    /// Automerge's `get_changes`: the changes not reachable from `have` (which must name
    /// changes of this document), dependencies first. Answered from the newest changes kept
    /// in memory when they reach back far enough ([`recent`]), else from the document.
    pub fn changes_after(&mut self, have: &[ChangeHash]) -> Vec<Change> {
        let heads = self.doc.get_heads();
        if self.recent.heads() != heads.as_slice() {
            // Written since last asked (through any path): keep what is new. A merge of more
            // than can be kept (a day offline) starts afresh at the new heads instead.
            let new = self.doc.get_changes(self.recent.heads());
            if new.len() <= recent::MAX_CHANGES {
                self.recent.push(new);
            }
            if self.recent.heads() != heads.as_slice() {
                self.recent = Recent::new(heads);
            }
        }
        match self.recent.missing(have) {
            Some(changes) => changes,
            None => self.doc.get_changes(have),
        }
    }

    /// Whether the document holds the change `hash`. An index lookup, where Automerge's
    /// `get_change_by_hash` rebuilds the whole change from the document's operations (tens of
    /// microseconds on a one-year room, for every known head of every sync).
    pub fn has_change(&self, hash: &ChangeHash) -> bool {
        // Automerge's missing-deps walk also starts from changes waiting for their
        // dependencies; with none waiting it answers exactly "is this hash in the document".
        if ReadDoc::get_missing_deps(&self.doc, &[]).is_empty() {
            ReadDoc::get_missing_deps(&self.doc, std::slice::from_ref(hash)).is_empty()
        } else {
            ReadDoc::get_change_by_hash(&self.doc, hash).is_some()
        }
    }

    /// Read access to the underlying document, for the sync engine and the relay's checks.
    pub fn doc(&self) -> &AutoCommit {
        &self.doc
    }

    /// Write access for the sync engine; typed writes go through the methods below.
    pub fn doc_mut(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Merges changes that passed the relay's gate ([`crate::sync::gate`]): the only way the
    /// relay puts a device's changes into a room. The gate sorted them and made sure every
    /// dependency is here, so nothing is left waiting in Automerge's queue; if something is
    /// anyway, the room is marked poisoned and reloaded from storage.
    pub fn merge_vetted(&mut self, vetted: crate::sync::gate::Vetted) -> Result<()> {
        let before = self.doc.get_heads();
        let merged = self.doc.apply_changes(vetted.into_changes());
        if merged.is_err() || !ReadDoc::get_missing_deps(&self.doc, &[]).is_empty() {
            self.poisoned = true;
            return Err(CoreError::Malformed("the changes could not be merged"));
        }
        self.note_merged(&before);
        Ok(())
    }

    /// The next Automerge sync message for a peer, if there is anything to say.
    pub fn sync_message(
        &mut self,
        state: &mut automerge::sync::State,
    ) -> Option<automerge::sync::Message> {
        use automerge::sync::SyncDoc;
        self.doc.sync().generate_sync_message(state)
    }

    /// Takes the bookkeeping of a peer's sync message (its heads, what it has and needs) but
    /// none of the changes it carries: on the relay those go through the gate first.
    pub fn receive_sync_bookkeeping(
        &mut self,
        state: &mut automerge::sync::State,
        mut message: automerge::sync::Message,
    ) -> Result<()> {
        use automerge::sync::SyncDoc;
        message.changes = automerge::sync::ChunkList::empty();
        self.doc.sync().receive_sync_message(state, message)?;
        Ok(())
    }

    /// Merges changes received from elsewhere (saved documents or change chunks, in any order,
    /// duplicates ignored) and notes which reports they touched.
    pub fn apply(&mut self, bytes: &[u8]) -> Result<()> {
        let before = self.doc.get_heads();
        self.doc.load_incremental(bytes)?;
        self.note_merged(&before);
        Ok(())
    }

    /// Merges another in-memory copy of this room.
    pub fn merge(&mut self, other: &mut Room) -> Result<()> {
        if other.id != self.id {
            return Err(CoreError::Malformed("document belongs to another room"));
        }
        let before = self.doc.get_heads();
        self.doc.merge(&mut other.doc)?;
        self.note_merged(&before);
        Ok(())
    }

    /// Marks the in-memory document as not to be trusted: Automerge panicked while changing
    /// it (see `sync::relay`), so it may be half-changed. Its holder must not persist it and
    /// must load it again from storage ([`crate::RoomHandle`] does).
    pub fn mark_poisoned(&mut self) {
        self.poisoned = true;
    }

    /// Whether [`Room::mark_poisoned`] was called.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// After a merge, works out which reports changed from the operations of the new changes
    /// (where each operation's object sits in the document). Automerge's `diff` would say the
    /// same but walks the whole document: on a one-year room that made merging one receipt
    /// cost milliseconds, most of the relay's time per sync.
    pub fn note_merged(&mut self, before: &[ChangeHash]) {
        let after = self.doc.get_heads();
        if after == before {
            return;
        }
        let new = self.changes_after(before);
        if before.is_empty() || new.len() > MAX_CHANGES_WALKED {
            // A whole document arrived (or a long history): every report may be new.
            if let Ok(ids) = self.report_ids() {
                self.touched.reports.extend(ids);
            }
            self.touched.other = true;
            return;
        }
        let reports = root_map(&self.doc, "reports").ok();
        let reports_id = reports.as_ref().map(ToString::to_string);
        let mut seen: HashMap<String, Option<ReportId>> = HashMap::new();
        for change in &new {
            for op in change.decode().operations {
                let obj = op.obj.to_string();
                let report = match seen.get(&obj) {
                    Some(r) => *r,
                    None => {
                        let r = self.report_of(&obj, reports.as_ref());
                        seen.insert(obj.clone(), r);
                        r
                    }
                };
                match (report, &op.key) {
                    (Some(id), _) => {
                        self.touched.reports.insert(id);
                    }
                    // An operation on the reports map itself: its key is the report.
                    (None, automerge::legacy::Key::Map(key))
                        if reports_id.as_deref() == Some(obj.as_str()) =>
                    {
                        match key.parse() {
                            Ok(id) => {
                                self.touched.reports.insert(id);
                            }
                            Err(_) => self.touched.other = true,
                        }
                    }
                    _ => self.touched.other = true,
                }
            }
        }
    }

    /// The report an object (`counter@actor`) lies inside, if it lies inside one.
    fn report_of(&self, obj: &str, reports: Option<&ObjId>) -> Option<ReportId> {
        let reports = reports?;
        let (id, _) = self.doc.import(obj).ok()?;
        let path = self.doc.parents(&id).ok()?.path();
        match path.get(1) {
            Some((parent, Prop::Map(key))) if parent == reports => key.parse().ok(),
            _ => None,
        }
    }

    /// Takes the record of what was touched since the last call.
    pub fn take_touched(&mut self) -> Touched {
        std::mem::take(&mut self.touched)
    }

    fn commit(&mut self, author: &Author, now: Timestamp, op: &str, target: Option<String>) {
        let note = ChangeNote {
            op: op.to_string(),
            pro: author.professional,
            dev: author.device,
            target,
        };
        let message = serde_json::to_string(&note).unwrap_or_default();
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(message)
                .with_time(now.0.div_euclid(1000)),
        );
    }

    fn begin(&mut self, author: &Author) {
        let actor = actor_of(author.device);
        if self.doc.get_actor() != &actor {
            self.doc.set_actor(actor);
        }
    }

    fn report_obj(&self, id: ReportId) -> Result<ObjId> {
        let reports = root_map(&self.doc, "reports")?;
        codec::map_at(&self.doc, &reports, &id.to_string())?.ok_or(CoreError::NotFound("report"))
    }

    // ----- consent and members (administrators; enforced by the relay) -----

    /// Records the patient's consent. The relay accepts this only from administrators.
    pub fn set_consent(&mut self, admin: &Author, now: Timestamp, consent: &Consent) -> Result<()> {
        consent.check()?;
        self.begin(admin);
        let obj = root_map(&self.doc, "consent")?;
        codec::reconcile_map(&mut self.doc, &obj, &codec::to_fields(consent)?)?;
        self.commit(admin, now, "set_consent", None);
        self.touched.other = true;
        Ok(())
    }

    /// The consent record, if one was written.
    pub fn consent(&self) -> Result<Option<Consent>> {
        let obj = root_map(&self.doc, "consent")?;
        let v = codec::read(&self.doc, &obj)?;
        if v.as_object().is_none_or(|m| m.is_empty()) {
            return Ok(None);
        }
        codec::from_json(v, "consent").map(Some)
    }

    /// Mirrors the directory's member list for display (administrators only, like consent).
    pub fn set_members(
        &mut self,
        admin: &Author,
        now: Timestamp,
        members: &BTreeMap<ProfessionalId, MemberInfo>,
    ) -> Result<()> {
        self.begin(admin);
        let obj = root_map(&self.doc, "members")?;
        codec::reconcile_map(&mut self.doc, &obj, &codec::to_fields(members)?)?;
        self.commit(admin, now, "set_members", None);
        self.touched.other = true;
        Ok(())
    }

    /// The mirrored member list.
    pub fn members(&self) -> Result<BTreeMap<ProfessionalId, MemberInfo>> {
        let obj = root_map(&self.doc, "members")?;
        codec::from_json(codec::read(&self.doc, &obj)?, "members")
    }

    // ----- profile -----

    /// The patient profile as merged so far.
    pub fn profile(&self) -> Result<Profile> {
        let obj = root_map(&self.doc, "profile")?;
        codec::from_json(codec::read(&self.doc, &obj)?, "profile")
    }

    /// Edits the profile: `edit` changes a copy, and only the fields it changed are written,
    /// so concurrent edits of other fields merge. Returns the changed top-level sections.
    pub fn edit_profile(
        &mut self,
        author: &Author,
        now: Timestamp,
        edit: impl FnOnce(&mut Profile),
    ) -> Result<Vec<String>> {
        let before = self.profile()?;
        let mut after = before.clone();
        edit(&mut after);
        after.check()?;
        if after == before {
            return Ok(Vec::new());
        }
        self.begin(author);
        let obj = root_map(&self.doc, "profile")?;
        let old = codec::to_fields(&before)?;
        let new = codec::to_fields(&after)?;
        let mut fields = Vec::new();
        for (section, value) in &new {
            if old.get(section) != Some(value) {
                if let (Some(serde_json::Value::Object(o)), serde_json::Value::Object(n)) =
                    (old.get(section), value)
                {
                    for (k, v) in n {
                        if o.get(k) != Some(v) {
                            fields.push(format!("{section}.{k}"));
                        }
                    }
                    for k in o.keys().filter(|k| !n.contains_key(*k)) {
                        fields.push(format!("{section}.{k}"));
                    }
                } else {
                    fields.push(section.clone());
                }
            }
        }
        codec::reconcile_map(&mut self.doc, &obj, &new)?;
        let log = root_map(&self.doc, "profile_log")?;
        let entry = ProfileEdit {
            professional: author.professional,
            name: author.display_name.clone(),
            at: now,
            fields: fields.clone(),
        };
        codec::reconcile_key(
            &mut self.doc,
            &log,
            &crate::ids::EntryId::new().to_string(),
            &serde_json::to_value(&entry).map_err(|_| CoreError::Malformed("profile edit"))?,
        )?;
        self.commit(author, now, "edit_profile", None);
        self.touched.other = true;
        Ok(fields)
    }

    /// Who changed which profile fields when, oldest first.
    pub fn profile_history(&self) -> Result<Vec<ProfileEdit>> {
        let obj = root_map(&self.doc, "profile_log")?;
        let map: BTreeMap<String, ProfileEdit> =
            codec::from_json(codec::read(&self.doc, &obj)?, "profile log")?;
        let mut out: Vec<ProfileEdit> = map.into_values().collect();
        out.sort_by_key(|e| e.at);
        Ok(out)
    }

    // ----- reports -----

    /// Posts a new care report written on this device. The relay adds the post number and
    /// received time when it first accepts it.
    pub fn post_report(
        &mut self,
        author: &Author,
        now: Timestamp,
        content: &ReportContent,
    ) -> Result<ReportId> {
        let id = ReportId::new();
        self.post_report_with_id(author, now, id, content)?;
        Ok(id)
    }

    /// Posts a report under an id chosen by the caller (apps that need the id before posting).
    pub fn post_report_with_id(
        &mut self,
        author: &Author,
        now: Timestamp,
        id: ReportId,
        content: &ReportContent,
    ) -> Result<()> {
        content.check()?;
        if self.kind != RoomKind::Patient {
            return Err(CoreError::Forbidden("care reports belong in patient rooms"));
        }
        self.check_scope(author, content)?;
        let reports = root_map(&self.doc, "reports")?;
        if codec::map_at(&self.doc, &reports, &id.to_string())?.is_some() {
            return Err(CoreError::Forbidden("a report with this id already exists"));
        }
        self.begin(author);
        let obj = self
            .doc
            .put_object(&reports, id.to_string(), ObjType::Map)?;
        let record = json!({
            "id": id,
            "author": AuthorInfo::from(author),
            "post_time": now,
            "content": content,
            "comments": {},
            "receipts": {},
            "edits": {},
        });
        if let serde_json::Value::Object(fields) = record {
            codec::reconcile_map(&mut self.doc, &obj, &fields)?;
        }
        self.commit(author, now, "post_report", Some(id.to_string()));
        self.touched.reports.insert(id);
        Ok(())
    }

    /// A report must be written into the document of exactly its audience: restricted reports
    /// never enter the room's main document, whose bytes every member receives.
    fn check_scope(&self, author: &Author, content: &ReportContent) -> Result<()> {
        match (&content.scope, &self.scope) {
            (ShareScope::All, None) => Ok(()),
            (ShareScope::Members { members }, Some(scope)) => {
                let mut wanted = members.clone();
                wanted.push(author.professional);
                if Scope::new(scope.parent, wanted).audience == scope.audience {
                    Ok(())
                } else {
                    Err(CoreError::Forbidden(
                        "the report's audience differs from this document's",
                    ))
                }
            }
            (ShareScope::Members { .. }, None) => Err(CoreError::Forbidden(
                "restricted reports belong in their audience's document",
            )),
            (ShareScope::All, Some(_)) => Err(CoreError::Forbidden(
                "a report for everyone belongs in the room's main document",
            )),
        }
    }

    /// Edits a report's content. Only its author may; the previous values of the changed fields
    /// are kept in the report's edit history.
    pub fn edit_report(
        &mut self,
        author: &Author,
        now: Timestamp,
        id: ReportId,
        edit: impl FnOnce(&mut ReportContent),
    ) -> Result<Vec<String>> {
        let report = self.report(id)?;
        if report.author.professional != author.professional {
            return Err(CoreError::Forbidden("only the author edits a report"));
        }
        if report.withdrawn.is_some() {
            return Err(CoreError::Forbidden("a withdrawn report cannot be edited"));
        }
        let mut content = report.content.clone();
        edit(&mut content);
        content.check()?;
        if content.scope != report.content.scope {
            return Err(CoreError::Forbidden(
                "the audience of a report cannot change; withdraw it and post again",
            ));
        }
        let old = codec::to_fields(&report.content)?;
        let new = codec::to_fields(&content)?;
        let fields: Vec<String> = new
            .keys()
            .chain(old.keys())
            .filter(|k| old.get(*k) != new.get(*k))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if fields.is_empty() {
            return Ok(fields);
        }
        let previous: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|f| {
                (
                    f.clone(),
                    old.get(f).cloned().unwrap_or(serde_json::Value::Null),
                )
            })
            .collect();
        self.begin(author);
        let obj = self.report_obj(id)?;
        let content_obj = codec::map_at(&self.doc, &obj, "content")?
            .ok_or(CoreError::Malformed("report content missing"))?;
        codec::reconcile_map(&mut self.doc, &content_obj, &new)?;
        let edits = codec::map_at(&self.doc, &obj, "edits")?
            .ok_or(CoreError::Malformed("report edits missing"))?;
        let entry = ReportEdit {
            at: now,
            device: author.device,
            fields: fields.clone(),
            previous: serde_json::Value::Object(previous).to_string(),
        };
        let entry =
            serde_json::to_value(&entry).map_err(|_| CoreError::Malformed("report edit"))?;
        codec::reconcile_key(
            &mut self.doc,
            &edits,
            &crate::ids::EntryId::new().to_string(),
            &entry,
        )?;
        self.commit(author, now, "edit_report", Some(id.to_string()));
        self.touched.reports.insert(id);
        Ok(fields)
    }

    /// Withdraws a report: it stays in the room and its history, shown as withdrawn.
    pub fn withdraw_report(
        &mut self,
        author: &Author,
        now: Timestamp,
        id: ReportId,
        reason: &str,
    ) -> Result<()> {
        check_text("reason", reason, 1, 500)?;
        let report = self.report(id)?;
        if report.author.professional != author.professional {
            return Err(CoreError::Forbidden("only the author withdraws a report"));
        }
        if report.withdrawn.is_some() {
            return Ok(());
        }
        self.begin(author);
        let obj = self.report_obj(id)?;
        let w = Withdrawal {
            at: now,
            device: author.device,
            reason: reason.to_string(),
        };
        codec::reconcile_key(
            &mut self.doc,
            &obj,
            "withdrawn",
            &serde_json::to_value(&w).map_err(|_| CoreError::Malformed("withdrawal"))?,
        )?;
        self.commit(author, now, "withdraw_report", Some(id.to_string()));
        self.touched.reports.insert(id);
        Ok(())
    }

    /// Adds a reply comment to a report.
    pub fn add_comment(
        &mut self,
        author: &Author,
        now: Timestamp,
        report: ReportId,
        text: &str,
    ) -> Result<CommentId> {
        let id = CommentId::new();
        self.add_comment_with_id(author, now, report, id, text)?;
        Ok(id)
    }

    /// Adds a comment under an id chosen by the caller, so a retried call cannot post twice.
    pub fn add_comment_with_id(
        &mut self,
        author: &Author,
        now: Timestamp,
        report: ReportId,
        id: CommentId,
        text: &str,
    ) -> Result<()> {
        check_comment(text)?;
        let obj = self.report_obj(report)?;
        let comments = codec::map_at(&self.doc, &obj, "comments")?
            .ok_or(CoreError::Malformed("report comments missing"))?;
        if codec::map_at(&self.doc, &comments, &id.to_string())?.is_some() {
            return Ok(());
        }
        self.begin(author);
        let c = Comment {
            id,
            author: AuthorInfo::from(author),
            at: now,
            text: text.to_string(),
        };
        codec::reconcile_key(
            &mut self.doc,
            &comments,
            &id.to_string(),
            &serde_json::to_value(&c).map_err(|_| CoreError::Malformed("comment"))?,
        )?;
        self.commit(author, now, "comment", Some(report.to_string()));
        self.touched.reports.insert(report);
        Ok(())
    }

    /// Records that `author` opened the report at `read_at` (the real time, even offline).
    /// Only the first read counts; later calls change nothing.
    pub fn mark_read(
        &mut self,
        author: &Author,
        read_at: Timestamp,
        report: ReportId,
    ) -> Result<bool> {
        let obj = self.report_obj(report)?;
        let receipts = codec::map_at(&self.doc, &obj, "receipts")?
            .ok_or(CoreError::Malformed("report receipts missing"))?;
        let changed = self.set_receipt(author, read_at, &receipts)?;
        if changed {
            self.commit(author, read_at, "mark_read", Some(report.to_string()));
            self.touched.reports.insert(report);
        }
        Ok(changed)
    }

    fn set_receipt(
        &mut self,
        author: &Author,
        read_at: Timestamp,
        receipts: &ObjId,
    ) -> Result<bool> {
        let key = author.professional.to_string();
        if self.doc.get(receipts, key.as_str())?.is_some() {
            return Ok(false);
        }
        self.begin(author);
        self.doc
            .put(receipts, key.as_str(), ScalarValue::Int(read_at.0))?;
        Ok(true)
    }

    /// Sets the relay's post number and received time. Only the relay's changes may do this.
    pub fn assign_post_number(
        &mut self,
        relay: &Author,
        now: Timestamp,
        report: ReportId,
        post_no: u64,
        received_at: Timestamp,
    ) -> Result<()> {
        let obj = self.report_obj(report)?;
        self.begin(relay);
        codec::reconcile_key(
            &mut self.doc,
            &obj,
            "relay",
            &json!({"post_no": post_no, "received_at": received_at}),
        )?;
        self.commit(relay, now, "assign_post_number", Some(report.to_string()));
        self.touched.reports.insert(report);
        Ok(())
    }

    /// Ids of all reports in the room, in no particular order.
    pub fn report_ids(&self) -> Result<Vec<ReportId>> {
        let reports = root_map(&self.doc, "reports")?;
        Ok(self
            .doc
            .keys(&reports)
            .filter_map(|k| k.parse().ok())
            .collect())
    }

    /// The highest post number the relay gave in this document, read from the numbers alone
    /// (so a report that cannot be read whole does not hide it).
    pub fn highest_post_no(&self) -> u64 {
        let Ok(reports) = root_map(&self.doc, "reports") else {
            return 0;
        };
        self.doc
            .keys(&reports)
            .filter_map(|k| self.read_path(&["reports", &k, "relay", "post_no"]))
            .filter_map(|v| v.as_u64())
            .max()
            .unwrap_or(0)
    }

    /// One report with its comments, receipts, edits and withdrawal.
    pub fn report(&self, id: ReportId) -> Result<Report> {
        let obj = self.report_obj(id)?;
        let doc = &self.doc;
        let field = |k: &'static str| -> Result<serde_json::Value> {
            codec::read_key(doc, &obj, k)?.ok_or(CoreError::Malformed("report field missing"))
        };
        let author: AuthorInfo = codec::from_json(field("author")?, "report author")?;
        let post_time: Timestamp = codec::from_json(field("post_time")?, "report time")?;
        let content: ReportContent = codec::from_json(field("content")?, "report content")?;
        let comments: BTreeMap<String, Comment> = codec::from_json(field("comments")?, "comments")?;
        let mut comments: Vec<Comment> = comments.into_values().collect();
        comments.sort_by_key(|c| (c.at, c.id));
        let edits: BTreeMap<String, ReportEdit> = codec::from_json(field("edits")?, "edits")?;
        let mut edits: Vec<ReportEdit> = edits.into_values().collect();
        edits.sort_by_key(|e| e.at);
        let withdrawn = match codec::read_key(doc, &obj, "withdrawn")? {
            Some(v) => Some(codec::from_json(v, "withdrawal")?),
            None => None,
        };
        let (post_no, received_at) = match codec::read_key(doc, &obj, "relay")? {
            Some(v) => (
                v["post_no"].as_u64(),
                v["received_at"].as_i64().map(Timestamp),
            ),
            None => (None, None),
        };
        let receipts_obj = codec::map_at(doc, &obj, "receipts")?
            .ok_or(CoreError::Malformed("report receipts missing"))?;
        let receipts = self.read_receipts(&receipts_obj)?;
        Ok(Report {
            id,
            post_no,
            author,
            post_time,
            received_at,
            content,
            comments,
            receipts,
            edits,
            withdrawn,
        })
    }

    /// Receipts keyed by professional. When two devices of one person recorded a first read
    /// concurrently, the earlier time is the truth.
    fn read_receipts(&self, obj: &ObjId) -> Result<BTreeMap<ProfessionalId, Timestamp>> {
        let mut out = BTreeMap::new();
        for key in self.doc.keys(obj) {
            let Ok(pro) = key.parse::<ProfessionalId>() else {
                continue;
            };
            let earliest = self
                .doc
                .get_all(obj, key.as_str())?
                .into_iter()
                .filter_map(|(v, _)| match v {
                    Value::Scalar(s) => match s.as_ref() {
                        ScalarValue::Int(i) => Some(*i),
                        _ => None,
                    },
                    Value::Object(_) => None,
                })
                .min();
            if let Some(t) = earliest {
                out.insert(pro, Timestamp(t));
            }
        }
        Ok(out)
    }

    /// The list row of one report.
    pub fn report_summary(&self, id: ReportId) -> Result<ReportSummary> {
        Ok(self.report(id)?.summary())
    }

    /// Every report's list row, newest post first (ties by id, so the order is stable).
    pub fn list_reports(&self) -> Result<Vec<ReportSummary>> {
        let mut out = Vec::new();
        for id in self.report_ids()? {
            out.push(self.report_summary(id)?);
        }
        sort_newest_first(&mut out);
        Ok(out)
    }

    // ----- notices (city rooms) -----

    /// Posts a notice in a notices or alerts room (administrators only, enforced by the relay).
    pub fn post_notice(
        &mut self,
        admin: &Author,
        now: Timestamp,
        content: &NoticeContent,
    ) -> Result<NoticeId> {
        content.check()?;
        if !matches!(self.kind, RoomKind::CityNotices | RoomKind::Alerts) {
            return Err(CoreError::Forbidden(
                "notices belong in the notices and alerts rooms",
            ));
        }
        let notices = root_map(&self.doc, "notices")?;
        let id = NoticeId::new();
        self.begin(admin);
        let notice = json!({
            "id": id, "author": AuthorInfo::from(admin), "posted_at": now, "content": content, "receipts": {},
        });
        codec::reconcile_key(&mut self.doc, &notices, &id.to_string(), &notice)?;
        self.commit(admin, now, "post_notice", Some(id.to_string()));
        self.touched.other = true;
        Ok(id)
    }

    /// Marks a notice read (first time only).
    pub fn mark_notice_read(
        &mut self,
        author: &Author,
        read_at: Timestamp,
        id: NoticeId,
    ) -> Result<bool> {
        let notices = root_map(&self.doc, "notices")?;
        let obj = codec::map_at(&self.doc, &notices, &id.to_string())?
            .ok_or(CoreError::NotFound("notice"))?;
        let receipts = codec::map_at(&self.doc, &obj, "receipts")?
            .ok_or(CoreError::Malformed("notice receipts missing"))?;
        let changed = self.set_receipt(author, read_at, &receipts)?;
        if changed {
            self.commit(author, read_at, "mark_notice_read", Some(id.to_string()));
            self.touched.other = true;
        }
        Ok(changed)
    }

    /// All notices, newest first.
    pub fn notices(&self) -> Result<Vec<Notice>> {
        let notices = root_map(&self.doc, "notices")?;
        let mut out = Vec::new();
        for item in self.doc.map_range(&notices, ..) {
            let obj = item.id();
            let mut v = codec::read(&self.doc, &obj)?;
            let receipts = codec::map_at(&self.doc, &obj, "receipts")?
                .ok_or(CoreError::Malformed("notice receipts missing"))?;
            v["receipts"] =
                serde_json::to_value(self.read_receipts(&receipts)?).unwrap_or_default();
            out.push(codec::from_json::<Notice>(v, "notice")?);
        }
        out.sort_by_key(|n| std::cmp::Reverse((n.posted_at, n.id)));
        Ok(out)
    }

    // ----- personal messages (direct rooms) -----

    /// Sends a personal message in a direct conversation.
    pub fn send_message(
        &mut self,
        author: &Author,
        now: Timestamp,
        text: &str,
        attachments: &[AttachmentRef],
    ) -> Result<MessageId> {
        check_message(text, attachments)?;
        if self.kind != RoomKind::Direct {
            return Err(CoreError::Forbidden(
                "personal messages belong in direct conversations",
            ));
        }
        let messages = root_map(&self.doc, "messages")?;
        let id = MessageId::new();
        self.begin(author);
        let m = json!({
            "id": id, "author": AuthorInfo::from(author), "at": now, "text": text,
            "attachments": attachments, "receipts": {},
        });
        codec::reconcile_key(&mut self.doc, &messages, &id.to_string(), &m)?;
        self.commit(author, now, "send_message", Some(id.to_string()));
        self.touched.other = true;
        Ok(id)
    }

    /// Marks a message read (first time only).
    pub fn mark_message_read(
        &mut self,
        author: &Author,
        read_at: Timestamp,
        id: MessageId,
    ) -> Result<bool> {
        let messages = root_map(&self.doc, "messages")?;
        let obj = codec::map_at(&self.doc, &messages, &id.to_string())?
            .ok_or(CoreError::NotFound("message"))?;
        let receipts = codec::map_at(&self.doc, &obj, "receipts")?
            .ok_or(CoreError::Malformed("message receipts missing"))?;
        let changed = self.set_receipt(author, read_at, &receipts)?;
        if changed {
            self.commit(author, read_at, "mark_message_read", Some(id.to_string()));
            self.touched.other = true;
        }
        Ok(changed)
    }

    /// The conversation, oldest first.
    pub fn messages(&self) -> Result<Vec<Message>> {
        let messages = root_map(&self.doc, "messages")?;
        let mut out = Vec::new();
        for item in self.doc.map_range(&messages, ..) {
            let obj = item.id();
            let mut v = codec::read(&self.doc, &obj)?;
            let receipts = codec::map_at(&self.doc, &obj, "receipts")?
                .ok_or(CoreError::Malformed("message receipts missing"))?;
            v["receipts"] =
                serde_json::to_value(self.read_receipts(&receipts)?).unwrap_or_default();
            out.push(codec::from_json::<Message>(v, "message")?);
        }
        out.sort_by_key(|m| (m.at, m.id));
        Ok(out)
    }
}

/// The one ordering of report lists: newest post first, ties broken by id.
pub fn sort_newest_first(list: &mut [ReportSummary]) {
    list.sort_by_key(|s| std::cmp::Reverse((s.post_time, s.id)));
}

impl Room {
    /// The value at a path of map keys from the document root, for the relay's checks of who
    /// owns a record (`["reports", id, "author", "professional"]`). `None` when absent.
    pub fn read_path(&self, path: &[&str]) -> Option<serde_json::Value> {
        let (last, parents) = path.split_last()?;
        let mut obj = automerge::ROOT;
        for key in parents {
            obj = codec::map_at(&self.doc, &obj, key).ok()??;
        }
        codec::read_key(&self.doc, &obj, last).ok()?
    }
}
