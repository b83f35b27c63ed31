//! What the index takes from a room: one entry per report (its SOAP or free text, replies,
//! attachment captions and wound sites) and one for the patient profile, with the
//! attributes the filters need.

use crate::error::Result;
use crate::ids::{ProfessionalId, ReportId};
use crate::model::{Report, ReportBody};
use crate::people::Profession;
use crate::room::{ChangeNote, Room};
use crate::time::Timestamp;
use automerge::{ChangeHash, Prop, ReadDoc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What an entry stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntryKey {
    /// A care report.
    Report(ReportId),
    /// The patient profile of the room.
    Profile,
}

/// The attributes of an entry the filters and the result list need (no text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    pub(crate) key: EntryKey,
    pub(crate) live: bool,
    pub(crate) hash: u64,
    pub(crate) care_time: Timestamp,
    pub(crate) post_time: Timestamp,
    pub(crate) post_no: Option<u64>,
    pub(crate) author: Option<ProfessionalId>,
    pub(crate) author_name: String,
    pub(crate) profession: Option<Profession>,
    pub(crate) importance: u8,
    pub(crate) must_read: Vec<ProfessionalId>,
    pub(crate) withdrawn: bool,
}

/// An entry with its searchable text, as (field label, original text) pairs.
#[derive(Clone, Debug)]
pub struct Entry {
    pub(crate) meta: EntryMeta,
    pub(crate) fields: Vec<(String, String)>,
}

/// Which parts of a room changed since the index last saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Changed {
    /// Index everything (a new document, or changes that cannot be attributed).
    #[default]
    All,
    /// Only these reports, and the profile if `profile`.
    Some {
        /// Reports added or changed.
        reports: BTreeSet<ReportId>,
        /// Whether the profile changed.
        profile: bool,
    },
}

/// Operations whose change notes name a report as target.
const REPORT_OPS: &[&str] = &[
    "post_report",
    "edit_report",
    "withdraw_report",
    "comment",
    "mark_read",
    "assign_post_number",
];
/// Operations that touch nothing the index holds.
const OTHER_OPS: &[&str] = &[
    "set_consent",
    "set_members",
    "post_notice",
    "mark_notice_read",
    "send_message",
    "mark_message_read",
    "import_care_plan",
];

/// Works out what changed after `heads`, from the change notes of the new changes (cheap: no
/// diff of the document); falls back to a diff when a change has no note it understands.
pub fn changed_since(room: &mut Room, heads: &[ChangeHash]) -> Changed {
    if heads.is_empty()
        || heads
            .iter()
            .any(|h| room.doc().get_change_by_hash(h).is_none())
    {
        return Changed::All;
    }
    let mut reports = BTreeSet::new();
    let mut profile = false;
    let mut understood = true;
    for change in room.doc_mut().get_changes(heads) {
        let note: Option<ChangeNote> = change.message().and_then(|m| serde_json::from_str(m).ok());
        let Some(note) = note else {
            understood = false;
            break;
        };
        if REPORT_OPS.contains(&note.op.as_str()) {
            match note.target.as_deref().and_then(|t| t.parse().ok()) {
                Some(id) => {
                    reports.insert(id);
                }
                None => {
                    understood = false;
                    break;
                }
            }
        } else if note.op == "edit_profile" {
            profile = true;
        } else if !OTHER_OPS.contains(&note.op.as_str()) {
            understood = false;
            break;
        }
    }
    if understood {
        return Changed::Some { reports, profile };
    }
    let after = room.heads();
    let mut reports = BTreeSet::new();
    let mut profile = false;
    for patch in room.doc_mut().diff(heads, &after) {
        let mut path = patch.path.iter().map(|(_, p)| p);
        match (path.next(), path.next()) {
            (Some(Prop::Map(top)), Some(Prop::Map(report))) if top == "reports" => {
                if let Ok(id) = report.parse() {
                    reports.insert(id);
                }
            }
            (Some(Prop::Map(top)), None) if top == "reports" => {
                if let automerge::PatchAction::PutMap { key, .. } = &patch.action
                    && let Ok(id) = key.parse()
                {
                    reports.insert(id);
                }
            }
            (Some(Prop::Map(top)), _) if top == "profile" || top == "profile_log" => {
                profile = true;
            }
            _ => {}
        }
    }
    Changed::Some { reports, profile }
}

/// The entries of the changed parts of `room` (a report that cannot be read is skipped and
/// logged by id; the profile is omitted when it holds no text).
pub fn entries(room: &Room, changed: &Changed) -> Result<Vec<Entry>> {
    let (ids, profile): (Vec<ReportId>, bool) = match changed {
        Changed::All => (room.report_ids()?, true),
        Changed::Some { reports, profile } => (reports.iter().copied().collect(), *profile),
    };
    let mut out = Vec::with_capacity(ids.len() + 1);
    for id in ids {
        match room.report(id) {
            Ok(r) => out.push(report_entry(&r)),
            Err(e) => tracing::warn!(report = %id, error = %e, "report not indexed"),
        }
    }
    if profile {
        out.push(profile_entry(room)?);
    }
    Ok(out)
}

fn report_entry(r: &Report) -> Entry {
    let mut fields = Vec::new();
    match &r.content.body {
        ReportBody::Free { text } => fields.push(("text".to_string(), text.clone())),
        ReportBody::Soap {
            problem,
            s,
            o,
            a,
            p,
        } => {
            for (label, v) in [("problem", problem), ("s", s), ("o", o), ("a", a), ("p", p)] {
                if !v.trim().is_empty() {
                    fields.push((label.to_string(), v.clone()));
                }
            }
        }
    }
    for w in &r.content.wounds {
        fields.push(("wound".to_string(), w.site.clone()));
    }
    for a in &r.content.attachments {
        if let Some(c) = a.caption.as_ref().filter(|c| !c.trim().is_empty()) {
            fields.push(("caption".to_string(), c.clone()));
        }
    }
    for c in &r.comments {
        fields.push(("comment".to_string(), c.text.clone()));
    }
    let meta = EntryMeta {
        key: EntryKey::Report(r.id),
        live: true,
        hash: hash_fields(&fields),
        care_time: r.content.care_time,
        post_time: r.post_time,
        post_no: r.post_no,
        author: Some(r.author.professional),
        author_name: r.author.name.clone(),
        profession: Some(r.author.profession),
        importance: r.content.importance.stars(),
        must_read: r.content.must_read.clone(),
        withdrawn: r.withdrawn.is_some(),
    };
    Entry { meta, fields }
}

fn profile_entry(room: &Room) -> Result<Entry> {
    let profile = serde_json::to_value(room.profile()?).unwrap_or_default();
    let mut fields = Vec::new();
    collect_strings(&profile, &mut Vec::new(), &mut fields);
    let last = room
        .profile_history()?
        .iter()
        .map(|e| e.at)
        .max()
        .unwrap_or_default();
    let meta = EntryMeta {
        key: EntryKey::Profile,
        live: !fields.is_empty(),
        hash: hash_fields(&fields),
        care_time: last,
        post_time: last,
        post_no: None,
        author: None,
        author_name: String::new(),
        profession: None,
        importance: 0,
        must_read: Vec::new(),
        withdrawn: false,
    };
    Ok(Entry { meta, fields })
}

/// Every string in a JSON value, labelled `profile.<section>.<field>` (ids in map keys are
/// left out of the label).
fn collect_strings(v: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::String(s) if !s.trim().is_empty() => {
            let label = std::iter::once("profile")
                .chain(path.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(".");
            out.push((label, s.clone()));
        }
        serde_json::Value::Array(items) => {
            for item in items {
                collect_strings(item, path, out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                let is_id = k.len() == 36 && k.chars().filter(|c| *c == '-').count() == 4;
                if !is_id {
                    path.push(k.clone());
                }
                collect_strings(item, path, out);
                if !is_id {
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

/// FNV-1a over the fields: tells whether an entry's text changed (a read receipt changes a
/// report but not its text, so its postings stay).
pub fn hash_fields(fields: &[(String, String)]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in fields {
        for b in k.bytes().chain([0u8]).chain(v.bytes()).chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}
