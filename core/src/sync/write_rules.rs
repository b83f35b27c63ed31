//! The relay's write rules (`docs/rules.md`), applied to raw changes *before* they are stored.
//!
//! Each operation of each change is located by its path from the document root — objects the
//! relay already has are found with Automerge's `parents`, objects created earlier in the
//! same batch from the batch itself — and the path decides who may write there:
//!
//! | path | who |
//! |---|---|
//! | root, `kizuna/…`, the genesis containers themselves | nobody (they are fixed at genesis) |
//! | `consent/…`, `members/…` | administrators |
//! | `profile/…`, `care_plans/…` | writers |
//! | `profile_log/<id>/…` | writers, as themselves, only in the change that adds the entry |
//! | `reports/<id>` (create) | writers, as themselves, `<id>` a canonical uuid |
//! | `reports/<id>/{id,author,post_time}/…` (whole subtrees) | only in the change that creates the report |
//! | `reports/<id>/{comments,receipts,edits}` (the containers) | only in the change that creates the report |
//! | `reports/<id>/{content,edits,withdrawn}/…` | the report's author (an entry of `edits` only when it is added) |
//! | `reports/<id>/comments/<cid>` (create) | writers, as themselves |
//! | `reports/<id>/comments/<cid>/{id,author,at}/…` | only in the change that creates the comment |
//! | `reports/<id>/comments/<cid>/text` | the comment's author |
//! | `reports/<id>/receipts/<pro>` | any member, only their own key |
//! | `reports/<id>/relay/…` | the relay only |
//! | `notices/<id>/…` | administrators; `{id,author,posted_at}/…` only at creation |
//! | `messages/<id>/…` | writers, own messages; `{id,author,at}/…` only at creation |
//! | `notices/<id>/receipts/<pro>`, `messages/<id>/receipts/<pro>` | anyone, for themselves |
//!
//! Reports, comments, notices and messages are never deleted. Every change must be made by
//! the sending device's actor and name that device and its professional in its note. Every
//! id used as a key is a canonical (lower-case, hyphenated) uuid, paths are at most
//! [`MAX_PATH_DEPTH`] deep and texts at most [`MAX_STRING_BYTES`]: a change the relay's own
//! reader could not read back never gets in. The checks after the merge
//! (`super::invariants`) make sure of the rest.

use crate::ids::{DeviceId, ProfessionalId, ReportId};
use crate::people::Role;
use crate::room::{ChangeNote, Room, actor_of};
use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Change, ReadDoc, ScalarValue};
use std::collections::{BTreeSet, HashMap, HashSet};

mod by_path;

/// Deepest path (in keys from the root) a change may write at. Kizuna's own records reach
/// about eight; the relay's reader stops at 32.
pub const MAX_PATH_DEPTH: usize = 16;
/// Longest text or byte value one operation may write. A report body is at most 20,000
/// characters (60 KB in UTF-8).
pub const MAX_STRING_BYTES: usize = 128 * 1024;

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
    /// How the city's directory shows them. When given, a new record's author must carry
    /// exactly this name, profession and organisation, so nobody posts as a colleague.
    pub shown_as: Option<ShownAs>,
    /// After a restore from a backup: hashes of the changes this relay stored (and so
    /// checked and acknowledged) before it was restored, from its ledger. A device brings
    /// them back, its own and its teammates' and the relay's, and they are taken without
    /// being checked again as this writer's (see [`super::gate::recover`]).
    pub vouched: Option<std::sync::Arc<std::collections::HashSet<automerge::ChangeHash>>>,
    /// After a restore, with `vouched`: the post numbers the patient room's other documents
    /// (its main one or its restricted ones) hold. They share one sequence, so a report of
    /// this document coming back with one of them gets a new number.
    pub numbered_elsewhere: Option<std::sync::Arc<std::collections::HashSet<u64>>>,
}

/// The display fields of an author record, as the relay's directory has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShownAs {
    /// Display name.
    pub name: String,
    /// Profession, as written in the document (its serde name).
    pub profession: String,
    /// Organisation's name.
    pub organisation: String,
}

/// Why a batch was refused: the rule, never the content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse<T>(why: &str) -> Result<T, Refusal> {
    Err(Refusal(why.to_string()))
}

/// The records a batch writes in, so the checks after the merge look at those only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Reports (canonical ids) whose fields, comments or receipts the batch writes.
    pub reports: BTreeSet<String>,
    /// Comments as (report, comment).
    pub comments: BTreeSet<(String, String)>,
    /// Notices and messages as (section, id).
    pub posts: BTreeSet<(String, String)>,
    /// Other sections written in (`profile`, `profile_log`, `care_plans`, `consent`,
    /// `members`), each read back whole after the merge.
    pub sections: BTreeSet<String>,
}

/// A batch that keeps every rule.
#[derive(Debug)]
pub struct Accepted {
    /// Reports created by the batch (they need post numbers).
    pub new_reports: Vec<ReportId>,
    /// What the batch writes in.
    pub touched: Touched,
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

/// The fields of a report.
const REPORT_FIELDS: &[&str] = &[
    "id",
    "author",
    "post_time",
    "content",
    "comments",
    "receipts",
    "edits",
    "withdrawn",
    "relay",
];
/// Report fields whose whole subtree is written once, by the change that creates the report.
const REPORT_ONCE: &[&str] = &["id", "author", "post_time"];
/// Report containers that are created with the report and only added to afterwards.
const REPORT_CONTAINERS: &[&str] = &["comments", "receipts", "edits"];
/// Comment fields whose whole subtree is written once.
const COMMENT_ONCE: &[&str] = &["id", "author", "at"];

/// Whether `key` is the canonical text of a uuid, the only form Kizuna writes and reads.
fn canonical_uuid(key: &str) -> bool {
    uuid::Uuid::parse_str(key).is_ok_and(|u| u.to_string() == key)
}

struct Batch<'a> {
    room: &'a Room,
    who: &'a Writer,
    me: String,
    paths: HashMap<OpId, Vec<String>>,
    new_reports: Vec<ReportId>,
    new_report_set: HashSet<String>,
    new_entities: HashSet<(String, String)>,
    /// (section, entity, field) of author fields claimed for new records.
    claimed: HashSet<(String, String, String)>,
    touched: Touched,
}

/// Checks every change of a batch, in dependency order (the gate, `super::gate`, sorts it
/// and makes sure every dependency is in the room or the batch).
pub fn check_changes(room: &Room, changes: &[Change], who: &Writer) -> Result<Accepted, Refusal> {
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
                    None => return refuse("the changes depend on history the relay does not have"),
                },
            };
            history_max = history_max.max(max);
        }
        if c.start_op().get() != history_max.saturating_add(1) {
            return refuse("a change's operation numbers do not follow its history");
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
        claimed: HashSet::new(),
        touched: Touched::default(),
    };
    batch.run(changes)?;
    Ok(Accepted {
        new_reports: batch.new_reports,
        touched: batch.touched,
    })
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
            let start = expanded.start_op.get();
            for (i, op) in expanded.operations.iter().enumerate() {
                let id = OpId(start + i as u64, expanded.actor_id.clone());
                let mut path = self.path_of(&op.obj)?;
                path.push(match &op.key {
                    Key::Map(k) => k.to_string(),
                    Key::Seq(_) => "*".to_string(),
                });
                if path.len() > MAX_PATH_DEPTH {
                    return refuse("a change nests deeper than any record");
                }
                match &op.action {
                    OpType::Put(ScalarValue::Str(v)) if v.len() > MAX_STRING_BYTES => {
                        return refuse("a text is longer than any field allows");
                    }
                    OpType::Put(ScalarValue::Bytes(v)) if v.len() > MAX_STRING_BYTES => {
                        return refuse("a value is larger than any field allows");
                    }
                    _ => {}
                }
                self.rule(&path, &op.action)?;
                if let OpType::Make(_) = op.action {
                    self.paths.insert(id, path);
                }
            }
        }
        for rid in &self.new_report_set {
            for field in ["professional", "device"] {
                let claim = ("reports".to_string(), rid.clone(), field.to_string());
                if !self.claimed.contains(&claim) {
                    return refuse("a new report must name its author");
                }
            }
        }
        for (section, entity) in &self.new_entities {
            // A profile history entry names the person; the others also the device.
            let fields: &[&str] = if section == "profile_log" {
                &["professional"]
            } else {
                &["professional", "device"]
            };
            for &field in fields {
                let claim = (section.clone(), entity.clone(), field.to_string());
                if !self.claimed.contains(&claim) {
                    return refuse("a new comment or message must name its author");
                }
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

    /// A field of a record created in this batch. The author's professional and device must be
    /// the writer's own; the `id` field must repeat the record's key.
    fn new_field(
        &mut self,
        section: &str,
        entity: &str,
        rest: &[&str],
        action: &OpType,
    ) -> Result<(), Refusal> {
        match rest {
            ["author", field @ ("professional" | "device")] => {
                let OpType::Put(ScalarValue::Str(v)) = action else {
                    return refuse("an author field must be text");
                };
                let expected = if *field == "professional" {
                    self.me.clone()
                } else {
                    self.who.device.to_string()
                };
                if v.as_str() != expected {
                    return refuse("a change claims another person's or device's identity");
                }
                self.claimed
                    .insert((section.into(), entity.into(), (*field).to_string()));
                Ok(())
            }
            ["author", field @ ("name" | "profession" | "organisation")] => {
                let Some(shown) = &self.who.shown_as else {
                    return Ok(());
                };
                let expected = match *field {
                    "name" => &shown.name,
                    "profession" => &shown.profession,
                    _ => &shown.organisation,
                };
                match action {
                    OpType::Put(ScalarValue::Str(v)) if v.as_str() == expected => Ok(()),
                    _ => refuse("a change claims another person's or device's identity"),
                }
            }
            ["id"] => match action {
                OpType::Put(ScalarValue::Str(v)) if v.as_str() == entity => Ok(()),
                _ => refuse("a record's id must be its key"),
            },
            ["author", _, _, ..] => refuse("an author record holds plain fields"),
            ["receipts", key] => self.own_receipt(key, action),
            ["receipts", _, _, ..] => refuse("a read receipt is a time and is never removed"),
            _ => Ok(()),
        }
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
}
