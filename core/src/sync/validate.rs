//! The relay's write rules (`domain.md`), applied to raw changes *before* they are stored.
//!
//! Each operation of each change is located by its path from the document root — objects the
//! relay already has are found with Automerge's `parents`, objects created earlier in the
//! same batch from the batch itself — and the path decides who may write there:
//!
//! | path | who |
//! |---|---|
//! | root, `kizuna/…`, the genesis containers themselves | nobody (they are fixed at genesis) |
//! | `consent/…`, `members/…` | administrators |
//! | `profile/…`, `profile_log/…`, `care_plans/…` | writers |
//! | `reports/<id>` (create) | writers, as themselves |
//! | `reports/<id>/{content,edits,withdrawn}/…` | the report's author |
//! | `reports/<id>/{id,author,post_time,comments,receipts,edits}` (the fields) | only in the change that creates the report |
//! | `reports/<id>/comments/<cid>/…` | writers, each only their own comment |
//! | `reports/<id>/receipts/<pro>` | any member, only their own key |
//! | `reports/<id>/relay/…` | the relay only |
//! | `notices/<id>/…` | administrators; `notices/<id>/receipts/<pro>` anyone for themselves |
//! | `messages/<id>/…` | writers, own messages; receipts anyone for themselves |
//!
//! Reports, comments, notices and messages are never deleted. Every change must be made by
//! the sending device's actor and name that device and its professional in its note.

use crate::ids::{DeviceId, ProfessionalId, ReportId};
use crate::people::Role;
use crate::room::{ChangeNote, Room, actor_of};
use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Change, ReadDoc, ScalarValue};
use std::collections::{HashMap, HashSet};

/// Most operations the relay will inspect in one batch for one document.
pub const MAX_OPS_PER_BATCH: usize = 2_000_000;

/// Who is writing, as proven by the client certificate and the relay's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Writer {
    /// The professional.
    pub professional: ProfessionalId,
    /// The device that sent the changes.
    pub device: DeviceId,
    /// Their role in this room.
    pub role: Role,
    /// Whether they are a city administrator.
    pub admin: bool,
}

/// Why a batch was refused: the rule, never the content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse<T>(why: &str) -> Result<T, Refusal> {
    Err(Refusal(why.to_string()))
}

/// The batch needs changes the relay does not have (fall back to the sync protocol).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the changes depend on history the relay does not have")]
pub struct MissingHistory;

/// The result of checking a batch.
#[derive(Debug)]
pub enum Check {
    /// Every change may be stored; these reports are new and need post numbers.
    Accept {
        /// Reports created by the batch.
        new_reports: Vec<ReportId>,
    },
    /// A rule was broken; nothing may be stored.
    Refuse(Refusal),
    /// The relay lacks history the batch builds on.
    Missing(MissingHistory),
}

/// Containers created by genesis. Writing *at* these paths would replace a container (and, in
/// Automerge, hide the original behind a conflict), so nobody may.
const FIXED: &[&[&str]] = &[
    &["profile", "basic"],
    &["profile", "family"],
    &["profile", "medical"],
    &["profile", "care"],
    &["profile", "housing"],
    &["profile", "medications"],
    &["profile", "medical", "diagnoses"],
    &["profile", "medical", "treatments"],
    &["profile", "medical", "allergies"],
    &["profile", "medical", "devices"],
    &["profile", "care", "adl"],
];

/// Report fields written once, by the change that creates the report.
const CREATE_ONLY: &[&str] = &["id", "author", "post_time", "comments", "receipts", "edits"];

struct Batch<'a> {
    room: &'a Room,
    who: &'a Writer,
    me: String,
    paths: HashMap<OpId, Vec<String>>,
    new_reports: Vec<ReportId>,
    new_report_set: HashSet<String>,
    new_entities: HashSet<(String, String)>,
    authored: HashSet<(String, String)>,
}

/// Checks every change of a batch (in the order given, which must respect dependencies).
pub fn check_changes(room: &Room, changes: &[Change], who: &Writer) -> Check {
    let batch: HashMap<_, &Change> = changes.iter().map(|c| (c.hash(), c)).collect();
    for c in changes {
        // Automerge numbers a change's operations from one past the highest of its history,
        // and its saved-document format relies on it: a change with other numbers is taken by
        // `apply_changes` but makes the saved room fail to load again (fuzzing found an empty
        // change numbered past its history). So the numbers must follow exactly.
        let mut history_max = 0u64;
        for dep in c.deps() {
            let max = match batch.get(dep) {
                Some(d) => max_op(d),
                None => match room.doc().get_change_by_hash(dep) {
                    Some(d) => max_op(&d),
                    None => return Check::Missing(MissingHistory),
                },
            };
            history_max = history_max.max(max);
        }
        if c.start_op().get() != history_max.saturating_add(1) {
            return Check::Refuse(Refusal(
                "a change's operation numbers do not follow its history".into(),
            ));
        }
    }
    let mut batch = Batch {
        room,
        who,
        me: who.professional.to_string(),
        paths: HashMap::new(),
        new_reports: Vec::new(),
        new_report_set: HashSet::new(),
        new_entities: HashSet::new(),
        authored: HashSet::new(),
    };
    match batch.run(changes) {
        Ok(()) => Check::Accept {
            new_reports: batch.new_reports,
        },
        Err(r) => Check::Refuse(r),
    }
}

/// The highest operation number of a change (one below its start when it has none).
fn max_op(c: &Change) -> u64 {
    (c.start_op().get() + c.len() as u64).saturating_sub(1)
}

fn opid_string(id: &OpId) -> String {
    format!("{}@{}", id.0, id.1)
}

impl Batch<'_> {
    fn run(&mut self, changes: &[Change]) -> Result<(), Refusal> {
        let actor = actor_of(self.who.device);
        let mut ops = 0usize;
        for change in changes {
            if change.actor_id() != &actor {
                return refuse("a change claims another device's identity");
            }
            let note: Option<ChangeNote> =
                change.message().and_then(|m| serde_json::from_str(m).ok());
            match note {
                Some(n) if n.pro == self.who.professional && n.dev == self.who.device => {}
                _ => return refuse("a change does not name its own professional and device"),
            }
            let expanded = change.decode();
            ops += expanded.operations.len();
            if ops > MAX_OPS_PER_BATCH {
                return refuse("too many operations in one request");
            }
            let start = expanded.start_op.get();
            for (i, op) in expanded.operations.iter().enumerate() {
                let id = OpId(start + i as u64, expanded.actor_id.clone());
                let mut path = self.path_of(&op.obj)?;
                path.push(match &op.key {
                    Key::Map(k) => k.to_string(),
                    Key::Seq(_) => "*".to_string(),
                });
                if let OpType::Make(_) = op.action {
                    self.paths.insert(id, path.clone());
                }
                self.rule(&path, &op.action)?;
            }
        }
        for rid in &self.new_report_set {
            if !self
                .authored
                .contains(&("reports".to_string(), rid.clone()))
            {
                return refuse("a new report must name its author");
            }
        }
        for entity in &self.new_entities {
            if !self.authored.contains(entity) {
                return refuse("a new comment or message must name its author");
            }
        }
        Ok(())
    }

    /// The path of an object: from the batch if created in it, else from the relay's document.
    fn path_of(&self, obj: &ObjectId) -> Result<Vec<String>, Refusal> {
        let id = match obj {
            ObjectId::Root => return Ok(Vec::new()),
            ObjectId::Id(id) => id,
        };
        if let Some(p) = self.paths.get(id) {
            return Ok(p.clone());
        }
        let doc = self.room.doc();
        let Ok(exid) = doc.import_obj(&opid_string(id)) else {
            return refuse("a change refers to an object the relay does not have");
        };
        let Ok(parents) = doc.parents(&exid) else {
            return refuse("a change refers to an object the relay does not have");
        };
        let mut path: Vec<String> = parents
            .map(|p| match p.prop {
                automerge::Prop::Map(k) => k,
                automerge::Prop::Seq(_) => "*".to_string(),
            })
            .collect();
        path.reverse();
        Ok(path)
    }

    fn writer(&self) -> Result<(), Refusal> {
        if self.who.role == Role::Writer {
            Ok(())
        } else {
            refuse("readers may only mark what they read")
        }
    }

    fn admin(&self) -> Result<(), Refusal> {
        if self.who.admin {
            Ok(())
        } else {
            refuse("only administrators write here")
        }
    }

    fn exists(&self, path: &[&str]) -> bool {
        self.room.read_path(path).is_some()
    }

    fn owner(&self, path: &[&str]) -> Option<String> {
        self.room
            .read_path(path)
            .and_then(|v| v.as_str().map(str::to_string))
    }

    /// Records an author claim written in the batch and checks it is the writer's own.
    fn claim(
        &mut self,
        section: &str,
        entity: &str,
        field: &str,
        action: &OpType,
    ) -> Result<(), Refusal> {
        let OpType::Put(ScalarValue::Str(v)) = action else {
            return refuse("an author field must be text");
        };
        let expected = match field {
            "professional" => self.me.clone(),
            _ => self.who.device.to_string(),
        };
        if v.as_str() != expected {
            return refuse("a change claims another person's or device's identity");
        }
        if field == "professional" {
            self.authored
                .insert((section.to_string(), entity.to_string()));
        }
        Ok(())
    }

    fn own_receipt(&self, key: &str, action: &OpType) -> Result<(), Refusal> {
        if key != self.me {
            return refuse("a read receipt may only be set for oneself");
        }
        match action {
            OpType::Put(ScalarValue::Int(_)) => Ok(()),
            _ => refuse("a read receipt is a time and is never removed"),
        }
    }

    fn rule(&mut self, p: &[String], action: &OpType) -> Result<(), Refusal> {
        if matches!(
            action,
            OpType::Increment(_) | OpType::MarkBegin(_) | OpType::MarkEnd(_)
        ) {
            return refuse("unsupported operation");
        }
        let is_delete = matches!(action, OpType::Delete);
        let s: Vec<&str> = p.iter().map(String::as_str).collect();
        if s.len() <= 1 {
            return refuse("the top-level sections of a room are fixed");
        }
        if FIXED.contains(&s.as_slice()) {
            return refuse("the sections of a room are fixed");
        }
        match s[0] {
            "kizuna" => refuse("the room's identity is fixed"),
            "consent" | "members" => self.admin(),
            "profile" | "profile_log" | "care_plans" => self.writer(),
            "reports" => self.report_rule(&s, action, is_delete),
            "notices" => self.entity_rule(&s, action, is_delete, true),
            "messages" => self.entity_rule(&s, action, is_delete, false),
            _ => refuse("unknown section"),
        }
    }

    fn report_rule(&mut self, s: &[&str], action: &OpType, is_delete: bool) -> Result<(), Refusal> {
        let rid = s[1];
        if s.len() == 2 {
            self.writer()?;
            let Ok(id) = rid.parse::<ReportId>() else {
                return refuse("a report id must be a uuid");
            };
            if !matches!(action, OpType::Make(automerge::ObjType::Map)) {
                return refuse("reports are never deleted or replaced");
            }
            if self.exists(&["reports", rid]) || !self.new_report_set.insert(rid.to_string()) {
                return refuse("a report with this id already exists");
            }
            self.new_reports.push(id);
            return Ok(());
        }
        let is_new = self.new_report_set.contains(rid);
        if !is_new && !self.exists(&["reports", rid]) {
            return refuse("the report does not exist");
        }
        let field = s[2];
        match field {
            "relay" => refuse("post numbers and received times are set by the relay only"),
            "receipts" if s.len() == 4 => self.own_receipt(s[3], action),
            "comments" if s.len() >= 4 => {
                self.writer()?;
                let cid = s[3];
                let key = (format!("comments/{rid}"), cid.to_string());
                if s.len() == 4 {
                    if is_delete {
                        return refuse("comments are never deleted");
                    }
                    if self.exists(&["reports", rid, "comments", cid])
                        || !self.new_entities.insert(key)
                    {
                        return refuse("a comment with this id already exists");
                    }
                    return Ok(());
                }
                if self.new_entities.contains(&key) {
                    if s.len() == 6
                        && s[4] == "author"
                        && (s[5] == "professional" || s[5] == "device")
                    {
                        let section = format!("comments/{rid}");
                        return self.claim(&section, cid, s[5], action);
                    }
                    return Ok(());
                }
                match self.owner(&["reports", rid, "comments", cid, "author", "professional"]) {
                    Some(owner) if owner == self.me => Ok(()),
                    _ => refuse("only the author of a comment changes it"),
                }
            }
            _ => {
                self.writer()?;
                if s.len() == 3 && CREATE_ONLY.contains(&field) && !is_new {
                    return refuse("this part of a report is written once, when it is posted");
                }
                if is_new {
                    if s.len() == 4
                        && field == "author"
                        && (s[3] == "professional" || s[3] == "device")
                    {
                        return self.claim("reports", rid, s[3], action);
                    }
                    return Ok(());
                }
                match self.owner(&["reports", rid, "author", "professional"]) {
                    Some(owner) if owner == self.me => Ok(()),
                    _ => refuse("only the author changes a report"),
                }
            }
        }
    }

    fn entity_rule(
        &mut self,
        s: &[&str],
        action: &OpType,
        is_delete: bool,
        admin_only: bool,
    ) -> Result<(), Refusal> {
        let section = s[0];
        let id = s[1];
        if s.len() == 2 {
            if admin_only {
                self.admin()?
            } else {
                self.writer()?
            }
            if is_delete || !matches!(action, OpType::Make(automerge::ObjType::Map)) {
                return refuse("posts are never deleted or replaced");
            }
            let key = (section.to_string(), id.to_string());
            if self.exists(&[section, id]) || !self.new_entities.insert(key) {
                return refuse("a post with this id already exists");
            }
            return Ok(());
        }
        if s[2] == "receipts" && s.len() == 4 {
            return self.own_receipt(s[3], action);
        }
        if admin_only {
            self.admin()?
        } else {
            self.writer()?
        }
        let key = (section.to_string(), id.to_string());
        if self.new_entities.contains(&key) {
            if s.len() == 4 && s[2] == "author" && (s[3] == "professional" || s[3] == "device") {
                return self.claim(section, id, s[3], action);
            }
            return Ok(());
        }
        if !self.exists(&[section, id]) {
            return refuse("the post does not exist");
        }
        match self.owner(&[section, id, "author", "professional"]) {
            Some(owner) if owner == self.me => Ok(()),
            _ => refuse("only the author changes a post"),
        }
    }
}
