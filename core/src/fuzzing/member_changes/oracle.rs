//! The oracle: an independent reading of the write rules, checked on the room after every
//! request against a snapshot taken before it (the tags of the table in the parent module).

use super::{MAX_DEPTH, child, keys};
use crate::ReportId;
use crate::fields::CheckFields;
use crate::fuzzing::fixture;
use crate::people::Role;
use crate::room::{ChangeNote, Room, actor_of};
use crate::sync::write_rules::Writer;
use automerge::{
    ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;
use uuid::Uuid;

pub(super) fn skipped(tag: &str) -> bool {
    static SKIP: OnceLock<HashSet<String>> = OnceLock::new();
    SKIP.get_or_init(|| {
        std::env::var("KIZUNA_MEMBER_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .contains(tag)
}

pub(super) fn fail(tag: &str, msg: impl FnOnce() -> String) {
    if !skipped(tag) {
        panic!("member_changes [{tag}]: {}", msg());
    }
}

/// Who may change a record.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Owner {
    /// That professional, as a writer.
    Pro(String),
    /// That professional's receipt (readers too).
    Receipt(String),
    /// Administrators.
    Admin,
    /// Any writer.
    Writers,
    /// The relay.
    Relay,
    /// Nobody (fixed at genesis).
    Nobody,
}

impl Owner {
    fn allows(&self, w: &Writer) -> bool {
        let pro = w.professional.to_string();
        match self {
            Owner::Pro(p) => *p == pro && w.role == Role::Writer,
            Owner::Receipt(p) => *p == pro,
            Owner::Admin => w.admin,
            Owner::Writers => w.role == Role::Writer,
            Owner::Relay | Owner::Nobody => false,
        }
    }
}

/// What the oracle compares before and after a request.
#[derive(Default)]
pub(super) struct Snap {
    /// Records by path, with their owner and a dump of their value.
    units: BTreeMap<String, (Owner, String)>,
    /// Values and objects that never change once written.
    fixed: BTreeMap<String, String>,
}

fn exid(id: &ObjId) -> String {
    match id {
        ObjId::Root => "root".into(),
        ObjId::Id(c, a, _) => format!("{c}@{a}"),
    }
}

fn actor_of_id(id: &ObjId) -> Option<&ActorId> {
    match id {
        ObjId::Root => None,
        ObjId::Id(_, a, _) => Some(a),
    }
}

/// A dump of an object (maps, lists, text, scalars), at most [`MAX_DEPTH`] + 16 deep.
fn dump_obj(doc: &AutoCommit, obj: &ObjId, depth: usize, out: &mut String) {
    if depth > MAX_DEPTH + 16 {
        out.push('…');
        return;
    }
    match doc.object_type(obj) {
        Ok(ObjType::Map) | Ok(ObjType::Table) => {
            out.push('{');
            for item in doc.map_range(obj, ..) {
                out.push_str(&format!("{:?}:", item.key));
                let id = item.id();
                dump_value(doc, item.value.into(), &id, depth, out);
                out.push(',');
            }
            out.push('}');
        }
        Ok(ObjType::List) => {
            out.push('[');
            for item in doc.list_range(obj, ..) {
                let id = item.id();
                dump_value(doc, item.value.into(), &id, depth, out);
                out.push(',');
            }
            out.push(']');
        }
        Ok(ObjType::Text) => out.push_str(&format!("{:?}", doc.text(obj).unwrap_or_default())),
        Err(_) => out.push('?'),
    }
}

fn dump_value(doc: &AutoCommit, v: Value<'_>, id: &ObjId, depth: usize, out: &mut String) {
    match v {
        Value::Object(_) => dump_obj(doc, id, depth + 1, out),
        Value::Scalar(s) => out.push_str(&format!("{s:?}")),
    }
}

/// Every value at `obj[key]`, conflicts included, with the op that wrote it.
fn dump_all(doc: &AutoCommit, obj: &ObjId, key: &str) -> String {
    let mut out = String::new();
    for (v, id) in doc.get_all(obj, key).unwrap_or_default() {
        out.push_str(&exid(&id));
        out.push('=');
        dump_value(doc, v, &id, 0, &mut out);
        out.push(';');
    }
    out
}

/// `obj[key]`'s value dumped, and (for objects) its id; `None` when absent.
fn at(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<String> {
    let (v, id) = doc.get(obj, key).ok()??;
    let mut out = String::new();
    dump_value(doc, v, &id, 0, &mut out);
    Some(out)
}

fn author_pro(doc: &AutoCommit, obj: &ObjId) -> String {
    child(doc, obj, "author")
        .and_then(|a| match doc.get(&a, "professional").ok()?? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_else(|| "?".into())
}

/// Dumps map `obj` leaving out `skip` keys.
fn dump_without(doc: &AutoCommit, obj: &ObjId, skip: &[&str]) -> String {
    let mut out = String::from("{");
    for item in doc.map_range(obj, ..) {
        if skip.contains(&&*item.key) {
            continue;
        }
        out.push_str(&format!("{:?}:", item.key));
        let id = item.id();
        dump_value(doc, item.value.into(), &id, 0, &mut out);
        out.push(',');
    }
    out.push('}');
    out
}

/// A record with an owner and receipts (reports, notices, messages): its body, its receipts,
/// and its fixed fields.
fn record(
    s: &mut Snap,
    doc: &AutoCommit,
    path: &str,
    obj: &ObjId,
    body_owner: Owner,
    fixed: &[&str],
) {
    let mut skip = vec!["receipts"];
    let comments = child(doc, obj, "comments");
    let receipts = child(doc, obj, "receipts");
    if comments.is_some() {
        skip.push("comments");
    }
    skip.push("relay");
    s.units.insert(
        path.to_string(),
        (body_owner, dump_without(doc, obj, &skip)),
    );
    s.units.insert(
        format!("{path}/relay"),
        (Owner::Relay, dump_all(doc, obj, "relay")),
    );
    for k in fixed {
        if let Some(v) = at(doc, obj, k) {
            s.fixed.insert(format!("{path}/{k}"), v);
        }
    }
    match &receipts {
        Some(r) => {
            s.fixed.insert(format!("{path}/receipts#obj"), exid(r));
            for p in keys(doc, r) {
                let v = dump_all(doc, r, &p);
                s.units
                    .insert(format!("{path}/receipts/{p}"), (Owner::Receipt(p), v));
            }
        }
        None => {
            s.units.insert(
                format!("{path}/receipts"),
                (Owner::Nobody, at(doc, obj, "receipts").unwrap_or_default()),
            );
        }
    }
    if let Some(c) = comments {
        s.fixed.insert(format!("{path}/comments#obj"), exid(&c));
        for k in keys(doc, &c) {
            let cp = format!("{path}/comments/{k}");
            match child(doc, &c, &k) {
                Some(co) => {
                    s.fixed.insert(format!("{cp}#obj"), exid(&co));
                    if let Some(a) = at(doc, &co, "author") {
                        s.fixed.insert(format!("{cp}/author"), a);
                    }
                    let mut d = String::new();
                    dump_obj(doc, &co, 0, &mut d);
                    s.units.insert(cp, (Owner::Pro(author_pro(doc, &co)), d));
                }
                None => {
                    s.units
                        .insert(cp, (Owner::Nobody, at(doc, &c, &k).unwrap_or_default()));
                }
            }
        }
    }
}

pub(super) fn snapshot(doc: &AutoCommit) -> Snap {
    let mut s = Snap::default();
    for item in doc.map_range(&ROOT, ..) {
        let section = item.key.to_string();
        let sid = item.id();
        s.fixed.insert(
            format!("#root/{section}"),
            format!(
                "{}x{}",
                exid(&sid),
                doc.get_all(&ROOT, section.as_str())
                    .map(|v| v.len())
                    .unwrap_or(0)
            ),
        );
        let owner = match section.as_str() {
            "consent" | "members" => Owner::Admin,
            "profile" | "profile_log" | "care_plans" => Owner::Writers,
            "reports" | "notices" | "messages" => {
                for k in keys(doc, &sid) {
                    let path = format!("{section}/{k}");
                    let Some(obj) = child(doc, &sid, &k) else {
                        s.units
                            .insert(path, (Owner::Nobody, at(doc, &sid, &k).unwrap_or_default()));
                        continue;
                    };
                    s.fixed.insert(
                        format!("{path}#obj"),
                        format!(
                            "{}x{}",
                            exid(&obj),
                            doc.get_all(&sid, k.as_str()).map(|v| v.len()).unwrap_or(0)
                        ),
                    );
                    let (owner, fixed): (Owner, &[&str]) = match section.as_str() {
                        "reports" => (
                            Owner::Pro(author_pro(doc, &obj)),
                            &["id", "author", "post_time"],
                        ),
                        "notices" => (Owner::Admin, &["id", "author"]),
                        _ => (Owner::Pro(author_pro(doc, &obj)), &["id", "author"]),
                    };
                    record(&mut s, doc, &path, &obj, owner, fixed);
                }
                continue;
            }
            _ => Owner::Nobody,
        };
        let mut d = String::new();
        dump_value(doc, item.value.into(), &sid, 0, &mut d);
        s.units.insert(section, (owner, d));
    }
    s
}

/// Deepest nesting in the document (iterative, so a hostile depth cannot overflow the stack).
fn max_depth(doc: &AutoCommit) -> usize {
    let mut deepest = 0;
    let mut todo: Vec<(ObjId, usize)> = vec![(ROOT, 0)];
    while let Some((obj, d)) = todo.pop() {
        deepest = deepest.max(d);
        match doc.object_type(&obj) {
            Ok(ObjType::Map) | Ok(ObjType::Table) => {
                for item in doc.map_range(&obj, ..) {
                    let id = item.id();
                    let v: Value<'_> = item.value.into();
                    if matches!(v, Value::Object(_)) {
                        todo.push((id, d + 1));
                    }
                }
            }
            Ok(ObjType::List) => {
                for item in doc.list_range(&obj, ..) {
                    let id = item.id();
                    let v: Value<'_> = item.value.into();
                    if matches!(v, Value::Object(_)) {
                        todo.push((id, d + 1));
                    }
                }
            }
            _ => {}
        }
    }
    deepest
}

/// Checks the room after a request from `who` against the snapshot before it.
pub(super) fn check(
    before: &Snap,
    before_heads: &[ChangeHash],
    room: &mut Room,
    who: &Writer,
    handed: &BTreeSet<u64>,
) {
    let f = fixture();
    let relay_actor = actor_of(f.relay.device);
    let sender = actor_of(who.device);
    // identity
    for c in room.doc_mut().get_changes(before_heads) {
        let actor = c.actor_id().clone();
        let n: Option<ChangeNote> = c.message().and_then(|m| serde_json::from_str(m).ok());
        if actor == relay_actor {
            if n.as_ref().is_none_or(|n| n.pro != f.relay.professional) {
                fail("identity", || {
                    "a change by the relay's actor does not name the relay".into()
                });
            }
        } else if actor != sender {
            fail("identity", || {
                format!(
                    "the relay took a change by actor {actor} from {}",
                    who.device
                )
            });
        } else if n
            .as_ref()
            .is_none_or(|n| n.pro != who.professional || n.dev != who.device)
        {
            fail("identity", || {
                format!(
                    "the relay took a change whose note does not name the sender: {:?}",
                    c.message()
                )
            });
        }
    }
    let doc = room.doc();
    // depth
    let depth = max_depth(doc);
    if depth > MAX_DEPTH {
        fail("depth", || {
            format!("the room holds an object nested {depth} deep")
        });
    }
    // readable, content
    let reports = child(doc, &ROOT, "reports");
    for k in reports.as_ref().map(|r| keys(doc, r)).unwrap_or_default() {
        let Some(r) = reports.as_ref().and_then(|rs| child(doc, rs, &k)) else {
            fail("readable", || format!("reports/{k} is not a map"));
            continue;
        };
        let canonical = Uuid::parse_str(&k).ok().map(|u| u.hyphenated().to_string());
        if canonical.as_deref() != Some(k.as_str()) {
            fail("readable", || {
                format!("a report's key is not a canonical uuid: {k:.80}")
            });
        } else if let Ok(id) = k.parse::<ReportId>() {
            match room.report(id) {
                Err(e) => fail("readable", || {
                    format!("reports/{k} does not read back: {e}")
                }),
                Ok(rep) => {
                    let stored = at(doc, &r, "id");
                    let want = format!("{:?}", ScalarValue::Str(k.as_str().into()));
                    if stored.as_deref() != Some(want.as_str()) {
                        fail("readable", || format!("reports/{k}/id is {stored:?}"));
                    }
                    if rep.content.check().is_err() {
                        fail("content", || {
                            format!("reports/{k} has content that fails its checks")
                        });
                    }
                }
            }
        }
    }
    let after = snapshot(doc);
    // immutable
    for (k, v) in &before.fixed {
        match after.fixed.get(k) {
            Some(a) if a == v => {}
            Some(a) => fail("immutable", || {
                format!("{k} changed by {who:?}: {v:.200} -> {a:.200}")
            }),
            None => fail("immutable", || format!("{k} removed by {who:?}")),
        }
    }
    // owner, delete
    for (k, (owner, v)) in &before.units {
        match after.units.get(k) {
            None => fail("delete", || format!("{k} ({owner:?}) removed by {who:?}")),
            Some((_, a)) if a != v && !owner.allows(who) => fail("owner", || {
                format!("{k} ({owner:?}) changed by {who:?}: {v:.200} -> {a:.200}")
            }),
            _ => {}
        }
    }
    // new
    let me = who.professional.to_string();
    for (k, (owner, _)) in &after.units {
        if before.units.contains_key(k) {
            continue;
        }
        let parts: Vec<&str> = k.split('/').collect();
        let ok = match (parts.as_slice(), owner) {
            (["reports", _, "relay"], _) => true, // checked under postno
            // A record's receipts that are not a map: the record itself is checked.
            ([_, _, "receipts"], _) => true,
            (["reports" | "notices" | "messages", _, "receipts", p], _) => *p == me,
            (["reports", _], Owner::Pro(p)) | (["messages", _], Owner::Pro(p)) => {
                *p == me && who.role == Role::Writer
            }
            (["reports", _, "comments", _], Owner::Pro(p)) => *p == me && who.role == Role::Writer,
            (["notices", _], _) => who.admin,
            _ => false,
        };
        if !ok {
            fail("new", || format!("{k} ({owner:?}) created by {who:?}"));
        }
    }
    // postno
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    for k in reports.as_ref().map(|r| keys(doc, r)).unwrap_or_default() {
        let Some(r) = reports.as_ref().and_then(|rs| child(doc, rs, &k)) else {
            continue;
        };
        let mut numbered = false;
        for (v, id) in doc.get_all(&r, "relay").unwrap_or_default() {
            if actor_of_id(&id) != Some(&relay_actor) {
                fail("postno", || {
                    format!("reports/{k}/relay written by actor {:?}", actor_of_id(&id))
                });
            }
            if !matches!(v, Value::Object(_)) {
                fail("postno", || format!("reports/{k}/relay is not a map"));
                continue;
            }
            for field in ["post_no", "received_at"] {
                for (v, fid) in doc.get_all(&id, field).unwrap_or_default() {
                    if actor_of_id(&fid) != Some(&relay_actor) {
                        fail("postno", || {
                            format!(
                                "reports/{k}/relay/{field} written by actor {:?}",
                                actor_of_id(&fid)
                            )
                        });
                    }
                    if field == "post_no" {
                        let n = match &v {
                            Value::Scalar(s) => match s.as_ref() {
                                ScalarValue::Uint(n) => *n,
                                ScalarValue::Int(i) => u64::try_from(*i).unwrap_or(0),
                                _ => 0,
                            },
                            Value::Object(_) => 0,
                        };
                        if !handed.contains(&n) {
                            fail("postno", || {
                                format!("reports/{k} has post number {n}, never handed out")
                            });
                        }
                        if let Some(other) = seen.insert(n, k.clone())
                            && other != k
                        {
                            fail("postno", || {
                                format!("post number {n} given to {other} and {k}")
                            });
                        }
                        numbered = true;
                    }
                }
            }
        }
        // (A non-canonical key is reported under `readable`; the relay cannot number it.)
        let canonical = Uuid::parse_str(&k).is_ok_and(|u| u.hyphenated().to_string() == k);
        if !numbered && canonical {
            fail("postno", || {
                format!("reports/{k} was taken but has no post number")
            });
        }
    }
    // typed reads must not panic
    let _ = room.consent();
    let _ = room.members();
    let _ = room.profile();
    let _ = room.notices();
    let _ = room.messages();
    let _ = room.list_reports();
    // saveload
    let heads = room.heads();
    let saved = room.save();
    match Room::load(room.doc_id(), &saved) {
        Ok(mut again) => {
            if again.heads() != heads {
                fail("saveload", || "the reloaded room has other heads".into());
            }
        }
        Err(e) => fail("saveload", || format!("the room does not load again: {e}")),
    }
}
