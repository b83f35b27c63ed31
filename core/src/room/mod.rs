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
mod membership;
mod notices;
mod profile;
pub mod recent;
mod reports;

pub use genesis::Scope;
use recent::Recent;

use crate::error::{CoreError, Result};
use crate::ids::{DeviceId, ProfessionalId, ReportId, RoomId};
use crate::model::ReportSummary;
use crate::people::{Author, Role, RoomKind};
use crate::time::Timestamp;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, Prop, ReadDoc, ScalarValue, Value,
};
use serde::{Deserialize, Serialize};
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
    /// opens every record with AES-GCM), skipping Automerge's re-hashing of every change,
    /// which is much of a large room's load time and peak memory. Never use it for bytes
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

    /// This document's own id: the room's, or a restricted document's (see [`Room::new_scoped`]).
    pub fn doc_id(&self) -> RoomId {
        self.id
    }

    /// For a restricted document, its patient room and audience.
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    /// The patient room this document belongs to: itself, or the parent of a restricted one.
    pub fn patient_room(&self) -> RoomId {
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
    /// `get_change_by_hash` rebuilds the whole change from the document's operations (for
    /// every known head of every sync).
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
    /// same but walks the whole document, which made merging one receipt into a large room
    /// most of the relay's time per sync.
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

    /// Records `author`'s first read in a `receipts` map (reports, notices, messages); false
    /// when they had read it already.
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
