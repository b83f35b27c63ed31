//! Target `member_changes`: structure-aware fuzzing of the relay's write rules.
//!
//! Where `change_validation` mutates bytes, this target *builds* real Automerge changes the
//! way a phone (or a modified app) would, against the real fixture room, and feeds them to
//! [`serve_doc`] exactly as the relay's sync handler does (post numbers from a counter, one
//! fallback sync state kept across requests). The input is read one byte per choice (see
//! [`pick`]), so the corpus stays meaningful when the generator grows at the end.
//!
//! An input is a sequence of steps. Each step chooses
//! - **who** sends: the nurse (writer), the nurse with a reader's role, the doctor (writer) or
//!   the city's administrator;
//! - a **tamper**: none, a wrong actor (changes made on another device), a wrong change note
//!   (naming another professional), or no note at all;
//! - a **delivery**: the changes in `DocSync.changes`, inside an Automerge sync message, the
//!   second commit group before the first (the "queued change released later" attack) by
//!   either path or mixed, or the two groups in order in two requests;
//! - one to four **edits** (typed API or raw Automerge operations: new reports well-formed or
//!   hand-built with missing/extra fields, non-canonical keys, deep nesting, huge strings;
//!   content edits of any report; `author/*` of reports, comments, notices, messages; the
//!   relay's `post_no`/`received_at`; receipts for anyone; comments added, edited, deleted;
//!   reports deleted or replaced; `kizuna/`, `members/`, `consent/` and other sections), split
//!   into two commits at a chosen edit.
//!
//! After every request the oracle below — written from the rules in `docs/domain.md`, not from
//! `sync/validate.rs` — checks the room. Each check has a tag; a failure panics with
//! `member_changes [tag]: …`. Setting `KIZUNA_MEMBER_SKIP=tag,tag` turns tags off, so a
//! fuzzing run can look past a known hole for the next one (never set in CI).
//!
//! | tag | invariant |
//! |---|---|
//! | `refused` | a refused request left the room's heads as they were |
//! | `identity` | every new change is the sender's device's (or the relay's), its note names the sender |
//! | `depth` | nothing in the room is nested deeper than [`MAX_DEPTH`] |
//! | `immutable` | `id`, `author`, `post_time` of reports, `author` of comments/notices/messages, and the objects of reports, comments, notices, messages and sections never change |
//! | `owner` | a record changed only if the sender may change it (own report/comment/message as writer; own receipt; admin sections as administrator; shared sections as writer; `kizuna/` and `relay/` never) |
//! | `delete` | no report, comment, notice, message, receipt or section disappeared |
//! | `new` | a new record is the sender's own (reports and comments name the sender as author) |
//! | `postno` | post numbers and received times are written by the relay's actor only, are numbers the counter handed out, unique, and every report has one |
//! | `readable` | every report's key is its canonical lower-case uuid and the typed API reads it, with `id` equal to the key |
//! | `content` | every report's content passes its own checks (`ReportContent::check`) |
//! | `saveload` | the room saves and loads again with the same heads |
//! | `checksum` | no change whose checksum is wrong was taken |
//! | `bomb` | no compressed change that inflates past `MAX_MESSAGE_BYTES` was taken |
//!
//! `KIZUNA_MEMBER_SKIP=queued` also turns the mixed reordered delivery (second group in a sync
//! message, first as changes) into the sync-message one, to look past that known bypass.

use super::fixture;
use crate::model::report::AuthorInfo;
use crate::model::{NoticeContent, ReportBody, ReportContent};
use crate::people::{Author, Role};
use crate::room::{ChangeNote, Room, actor_of, codec};
use crate::sync::gate::Budget;
use crate::sync::protocol::{DocSync, Outcome, to_wire};
use crate::sync::relay::{Fallback, serve_doc};
use crate::sync::validate::{ShownAs, Writer};
use crate::time::Timestamp;
use crate::validate::Check;
use crate::{CommentId, ReportId};
use arbitrary::Unstructured;
use automerge::sync::{Message, MessageVersion};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;
use uuid::Uuid;

/// Deepest nesting the oracle accepts in the room (Kizuna itself writes about 8 levels; the
/// typed reader stops at 32).
pub const MAX_DEPTH: usize = 32;
/// Most steps one input runs.
pub const MAX_STEPS: usize = 8;

// ----- the extended fixture -----

/// The fixture room plus what it lacks for this target: the doctor's comment on the nurse's
/// report, a notice by the administrator and a personal message by the doctor (each with a
/// receipt), so that every kind of record has an owner other than the sender.
struct Base {
    room: Room,
}

fn note(who: &Author, op: &str) -> String {
    let n = ChangeNote {
        op: op.into(),
        pro: who.professional,
        dev: who.device,
        target: None,
    };
    serde_json::to_string(&n).unwrap_or_default()
}

fn build_base() -> Result<Base, crate::CoreError> {
    let f = fixture();
    let mut room = f.load();
    let t = Timestamp(1_790_000_010_000);
    room.add_comment_with_id(
        &f.doctor,
        t,
        f.own_report,
        CommentId(Uuid::from_u128(0xc0_0010)),
        "確認しました。",
    )?;
    let notice = Uuid::from_u128(0x0a_0001).to_string();
    let message = Uuid::from_u128(0x0b_0001).to_string();
    let content = NoticeContent {
        title: "年末年始の訪問体制".into(),
        body: "12月29日から1月3日は緊急時のみ。".into(),
        importance: crate::model::report::Importance::LOW,
        expires_at: None,
    };
    let doc = room.doc_mut();
    doc.set_actor(actor_of(f.admin.device));
    let notices = child(doc, &ROOT, "notices").ok_or(crate::CoreError::Malformed("notices"))?;
    let v = json!({
        "id": notice, "author": AuthorInfo::from(&f.admin), "posted_at": t,
        "content": content, "receipts": {},
    });
    codec::reconcile_key(doc, &notices, &notice, &v)?;
    doc.commit_with(CommitOptions::default().with_message(note(&f.admin, "post_notice")));
    doc.set_actor(actor_of(f.doctor.device));
    let messages = child(doc, &ROOT, "messages").ok_or(crate::CoreError::Malformed("messages"))?;
    let v = json!({
        "id": message, "author": AuthorInfo::from(&f.doctor), "at": t,
        "text": "明日の訪問、15時に変更できますか。", "attachments": [], "receipts": {},
    });
    codec::reconcile_key(doc, &messages, &message, &v)?;
    let n = child(doc, &notices, &notice).ok_or(crate::CoreError::Malformed("notice"))?;
    let r = child(doc, &n, "receipts").ok_or(crate::CoreError::Malformed("receipts"))?;
    doc.put(&r, f.doctor.professional.to_string(), ScalarValue::Int(t.0))?;
    doc.commit_with(CommitOptions::default().with_message(note(&f.doctor, "send_message")));
    let saved = room.save();
    let room = Room::load(f.room, &saved)?;
    room.notices()?;
    room.messages()?;
    for id in room.report_ids()? {
        room.report(id)?;
    }
    Ok(Base { room })
}

fn base() -> &'static Base {
    static B: OnceLock<Base> = OnceLock::new();
    B.get_or_init(|| match build_base() {
        Ok(b) => b,
        Err(e) => panic!("the member_changes fixture could not be built: {e}"),
    })
}

// ----- reading the input -----

/// One choice out of `n` from one byte of input (0 once the input is used up).
fn pick(u: &mut Unstructured<'_>, n: usize) -> usize {
    let b: u8 = u.arbitrary().unwrap_or(0);
    usize::from(b) % n.max(1)
}

fn pick_from<T: Copy>(u: &mut Unstructured<'_>, choices: &[T]) -> T {
    choices[pick(u, choices.len())]
}

/// Who sends a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// The nurse, a writer of the room.
    Nurse = 0,
    /// The nurse's identity with a reader's role.
    Reader = 1,
    /// The doctor, a writer.
    Doctor = 2,
    /// The city's administrator (not a member).
    Admin = 3,
}

const WHO: [Who; 4] = [Who::Nurse, Who::Reader, Who::Doctor, Who::Admin];

fn author_of(who: Who) -> &'static Author {
    let f = fixture();
    match who {
        Who::Nurse | Who::Reader => &f.nurse,
        Who::Doctor => &f.doctor,
        Who::Admin => &f.admin,
    }
}

fn writer_of(who: Who) -> Writer {
    let a = author_of(who);
    Writer {
        professional: a.professional,
        device: a.device,
        role: if who == Who::Reader {
            Role::Reader
        } else {
            Role::Writer
        },
        admin: who == Who::Admin,
        // As the relay's directory shows them, so the fuzzer also meets the rule that a new
        // record's author carries the writer's own name, profession and organisation.
        shown_as: Some(ShownAs {
            name: a.display_name.clone(),
            profession: serde_json::to_value(a.profession)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            organisation: a.organisation.clone(),
        }),
    }
}

/// Byte values of the step header, for the seeds.
pub mod op {
    /// Tamper: none (values 0–4 all mean none).
    pub const HONEST: u8 = 0;
    /// Tamper: the changes are made on another member's device.
    pub const WRONG_ACTOR: u8 = 5;
    /// Tamper: raw commits carry a note naming another member.
    pub const WRONG_NOTE: u8 = 6;
    /// Tamper: raw commits carry no note.
    pub const NO_NOTE: u8 = 7;
    /// Tamper: every change is sent with a wrong checksum.
    pub const BAD_CHECKSUM: u8 = 8;
    /// Number of tamper values.
    pub const TAMPERS: usize = 9;
    /// Delivery: all changes in `DocSync.changes`.
    pub const CHANGES: u8 = 0;
    /// Delivery: all changes inside one sync message.
    pub const SYNC_MESSAGE: u8 = 1;
    /// Delivery: the second group first, then the first, as changes.
    pub const REORDER_CHANGES: u8 = 2;
    /// Delivery: the second group first, then the first, as sync messages.
    pub const REORDER_SYNC: u8 = 3;
    /// Delivery: the second group in a sync message, then the first as changes.
    pub const REORDER_MIXED: u8 = 4;
    /// Delivery: the two groups in order, as two requests of changes.
    pub const IN_ORDER: u8 = 5;
    /// Added to a delivery: each change is sent in Automerge's compressed (DEFLATE) form.
    pub const COMPRESSED: u8 = 6;
    /// Number of delivery values (six ways, plain or compressed).
    pub const DELIVERIES: usize = 12;
    /// Edit kinds (first byte of an edit).
    pub const NEW_REPORT_TYPED: u8 = 0;
    /// A hand-built report.
    pub const NEW_REPORT_RAW: u8 = 1;
    /// `edit_report` through the typed API.
    pub const EDIT_TYPED: u8 = 2;
    /// A raw write into a report's `content`.
    pub const EDIT_CONTENT_RAW: u8 = 3;
    /// A raw write into `author/<field>` of a report, comment, notice or message.
    pub const SET_AUTHOR: u8 = 4;
    /// A raw write of a report's own field (`id`, `post_time`, …).
    pub const SET_REPORT_FIELD: u8 = 5;
    /// A write under `reports/<id>/relay`.
    pub const RELAY_WRITE: u8 = 6;
    /// A raw receipt under any key.
    pub const RECEIPT_RAW: u8 = 7;
    /// `mark_read` through the typed API.
    pub const RECEIPT_TYPED: u8 = 8;
    /// `add_comment_with_id` through the typed API.
    pub const COMMENT_TYPED: u8 = 9;
    /// A hand-built comment.
    pub const COMMENT_RAW: u8 = 10;
    /// A raw write into an existing comment.
    pub const EDIT_COMMENT: u8 = 11;
    /// Deletes a comment.
    pub const DELETE_COMMENT: u8 = 12;
    /// Deletes a report.
    pub const DELETE_REPORT: u8 = 13;
    /// Replaces a report by a new object (a copy, or empty).
    pub const REPLACE_REPORT: u8 = 14;
    /// Writes a section (`kizuna`, `members`, `consent`, …).
    pub const WRITE_SECTION: u8 = 15;
    /// Nests maps deep inside a report's content.
    pub const DEEP_NEST: u8 = 16;
    /// `withdraw_report` through the typed API.
    pub const WITHDRAW_TYPED: u8 = 17;
    /// A 40 MiB string of zeros in `profile/basic` (a section writers may write): compressed,
    /// a change of a few tens of kilobytes that inflates past the relay's request limit.
    pub const BIG_PROFILE: u8 = 18;
    /// Number of edit kinds.
    pub const EDITS: usize = 19;
}

/// The context of one step while its edits are built.
struct Ctx {
    /// Who the typed API writes as (the sender, or another device under `WRONG_ACTOR`).
    acting: Author,
    /// Fresh ids handed out in this input.
    fresh: u128,
}

const T: Timestamp = Timestamp(1_790_000_050_000);

fn child(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(_), id) => Some(id),
        _ => None,
    }
}

fn keys(doc: &AutoCommit, obj: &ObjId) -> Vec<String> {
    doc.keys(obj).collect()
}

/// Chooses a report key: the nurse's, the doctor's, or any key of `reports`.
fn report_key(u: &mut Unstructured<'_>, doc: &AutoCommit) -> String {
    let f = fixture();
    let b = pick(u, 256);
    match b % 4 {
        0 => f.own_report.to_string(),
        1 => f.other_report.to_string(),
        _ => {
            let all = child(doc, &ROOT, "reports")
                .map(|r| keys(doc, &r))
                .unwrap_or_default();
            if all.is_empty() {
                f.own_report.to_string()
            } else {
                all[(b / 4) % all.len()].clone()
            }
        }
    }
}

fn report_obj(doc: &AutoCommit, key: &str) -> Option<ObjId> {
    let reports = child(doc, &ROOT, "reports")?;
    child(doc, &reports, key)
}

/// A string of about `n` bytes.
fn text_of(n: usize) -> String {
    let mut s = String::with_capacity(n);
    while s.len() < n {
        s.push_str(if s.len() % 7 == 0 { "あ" } else { "x" });
    }
    s
}

/// The inflated size of [`op::BIG_PROFILE`]'s change (past `MAX_MESSAGE_BYTES`).
const BOMB: usize = 40 << 20;

const LENGTHS: [usize; 6] = [1, 12, 1_000, 10_001, 100_001, 1_000_001];
const DEPTHS: [usize; 5] = [2, 10, 40, 300, 3_000];

/// A value to write.
#[derive(Clone, Debug)]
enum V {
    S(String),
    I(i64),
    U(u64),
    Null,
    Map,
}

fn value(u: &mut Unstructured<'_>) -> V {
    let f = fixture();
    match pick(u, 10) {
        0 => V::S("x".into()),
        1 => V::S(text_of(pick_from(u, &LENGTHS))),
        2 => V::I(-1),
        3 => V::U(u64::MAX),
        4 => V::Null,
        5 => V::S(f.nurse.professional.to_string()),
        6 => V::S(f.doctor.professional.to_string()),
        7 => V::Map,
        8 => V::I(1),
        _ => V::S(f.doctor.device.to_string()),
    }
}

fn put(doc: &mut AutoCommit, obj: &ObjId, key: &str, v: V) -> Option<()> {
    match v {
        V::S(s) => doc.put(obj, key, s).ok(),
        V::I(i) => doc.put(obj, key, ScalarValue::Int(i)).ok(),
        V::U(n) => doc.put(obj, key, ScalarValue::Uint(n)).ok(),
        V::Null => doc.put(obj, key, ScalarValue::Null).ok(),
        V::Map => doc.put_object(obj, key, ObjType::Map).ok().map(|_| ()),
    }
}

/// An author record: the acting one, another member's, or malformed.
fn author_json(u: &mut Unstructured<'_>, ctx: &Ctx) -> serde_json::Value {
    let f = fixture();
    match pick(u, 6) {
        0 => json!(AuthorInfo::from(&ctx.acting)),
        1 => json!(AuthorInfo::from(&f.doctor)),
        2 => json!(AuthorInfo::from(&f.nurse)),
        3 => json!({ "professional": ctx.acting.professional }),
        4 => {
            let mut a = json!(AuthorInfo::from(&ctx.acting));
            a["professional"] = json!(ctx.acting.professional.to_string().to_uppercase());
            a
        }
        _ => json!("someone"),
    }
}

/// A key for a new record in one of several spellings of the same uuid.
fn key_form(u: &mut Unstructured<'_>, id: Uuid, existing: [&str; 2]) -> String {
    match pick(u, 8) {
        0 => id.hyphenated().to_string(),
        1 => id.hyphenated().to_string().to_uppercase(),
        2 => id.simple().to_string(),
        3 => id.braced().to_string(),
        4 => id.urn().to_string(),
        5 => "not-a-uuid".into(),
        6 => existing[0].to_string(),
        _ => existing[1].to_string(),
    }
}

/// Report content in one of several shapes.
fn content_json(u: &mut Unstructured<'_>) -> Option<serde_json::Value> {
    let valid = serde_json::to_value(ReportContent::free_text(T, "訪問時、表情穏やか。")).ok()?;
    Some(match pick(u, 6) {
        0 => valid,
        1 => json!({}),
        2 => json!("x"),
        3 => {
            let mut v = valid;
            v["zzz"] = json!(1);
            v
        }
        4 => serde_json::to_value(ReportContent::free_text(T, text_of(pick_from(u, &LENGTHS))))
            .ok()?,
        _ => {
            let mut v = valid;
            v["body"] = json!({"kind": "free", "text": 5});
            v
        }
    })
}

fn nest(doc: &mut AutoCommit, obj: &ObjId, key: &str, depth: usize) -> Option<()> {
    let mut at = doc.put_object(obj, key, ObjType::Map).ok()?;
    for _ in 1..depth {
        at = doc.put_object(&at, "d", ObjType::Map).ok()?;
    }
    doc.put(&at, "leaf", "x").ok()
}

/// The first key of a root section (the base's notice or message).
fn first_in(doc: &AutoCommit, section: &str) -> Option<(ObjId, String)> {
    let s = child(doc, &ROOT, section)?;
    let k = keys(doc, &s).into_iter().next()?;
    Some((child(doc, &s, &k)?, k))
}

/// A comment of report `r`, chosen by the next byte.
fn comment_of(u: &mut Unstructured<'_>, doc: &AutoCommit, r: &ObjId) -> Option<(ObjId, String)> {
    let comments = child(doc, r, "comments")?;
    let all = keys(doc, &comments);
    let i = pick(u, 256);
    if all.is_empty() {
        return None;
    }
    let k = all[i % all.len()].clone();
    Some((comments, k))
}

/// Applies one edit to the phone. Failures (a typed call that refuses, a missing object) just
/// make the edit a no-op.
fn edit(u: &mut Unstructured<'_>, phone: &mut Room, ctx: &mut Ctx) -> Option<()> {
    let f = fixture();
    let kind = pick(u, op::EDITS) as u8;
    match kind {
        op::NEW_REPORT_TYPED => {
            ctx.fresh += 1;
            let id = ReportId(Uuid::from_u128(0x7e_1000 + ctx.fresh));
            let text = text_of(pick_from(u, &LENGTHS[..4]));
            phone
                .post_report_with_id(&ctx.acting, T, id, &ReportContent::free_text(T, text))
                .ok()
        }
        op::NEW_REPORT_RAW => {
            ctx.fresh += 1;
            let id = Uuid::from_u128(0x7e_1000 + ctx.fresh);
            let own = f.own_report.to_string();
            let other = f.other_report.to_string();
            let key = key_form(u, id, [&own, &other]);
            let fields = pick(u, 256);
            let author = author_json(u, ctx);
            let content = content_json(u)?;
            let mut m = serde_json::Map::new();
            let id_value = match pick(u, 3) {
                0 => json!(id),
                1 => json!(key),
                _ => json!(f.other_report),
            };
            // Bit set = field left out, so byte 0 is the complete record.
            let all: [(&str, serde_json::Value); 7] = [
                ("id", id_value),
                ("author", author),
                ("post_time", json!(T)),
                ("content", content),
                ("comments", json!({})),
                ("receipts", json!({})),
                ("edits", json!({})),
            ];
            for (bit, (k, v)) in all.into_iter().enumerate() {
                if fields & (1 << bit) == 0 {
                    m.insert(k.into(), v);
                }
            }
            if fields & 0x80 != 0 {
                m.insert("relay".into(), json!({"post_no": 1, "received_at": T}));
            }
            let doc = phone.doc_mut();
            let reports = child(doc, &ROOT, "reports")?;
            codec::reconcile_key(doc, &reports, &key, &serde_json::Value::Object(m)).ok()?;
            Some(())
        }
        op::EDIT_TYPED => {
            let key = report_key(u, phone.doc());
            let text = text_of(pick_from(u, &LENGTHS[..4]));
            let id: ReportId = key.parse().ok()?;
            phone
                .edit_report(&ctx.acting, T, id, |c| c.body = ReportBody::Free { text })
                .ok()
                .map(|_| ())
        }
        op::EDIT_CONTENT_RAW => {
            let key = report_key(u, phone.doc());
            let field = pick_from(u, &["care_time", "importance", "body", "zzz"]);
            let v = value(u);
            let doc = phone.doc_mut();
            let r = report_obj(doc, &key)?;
            let c = child(doc, &r, "content")?;
            put(doc, &c, field, v)
        }
        op::SET_AUTHOR => {
            let target = pick(u, 5);
            let field = pick_from(
                u,
                &[
                    "professional",
                    "device",
                    "name",
                    "display_name",
                    "profession",
                    "organisation",
                ],
            );
            let v = value(u);
            let doc = phone.doc();
            let obj = match target {
                0 | 1 => report_obj(doc, &report_key(u, doc))?,
                2 => {
                    let r = report_obj(doc, &report_key(u, doc))?;
                    let (comments, k) = comment_of(u, doc, &r)?;
                    child(doc, &comments, &k)?
                }
                3 => first_in(doc, "notices")?.0,
                _ => first_in(doc, "messages")?.0,
            };
            let doc = phone.doc_mut();
            let a = child(doc, &obj, "author")?;
            put(doc, &a, field, v)
        }
        op::SET_REPORT_FIELD => {
            let key = report_key(u, phone.doc());
            let field = pick_from(
                u,
                &[
                    "id",
                    "post_time",
                    "comments",
                    "receipts",
                    "edits",
                    "withdrawn",
                    "zzz",
                    "content",
                ],
            );
            let v = match pick(u, 3) {
                0 => V::S(f.other_report.to_string()),
                1 => V::S(key.to_uppercase()),
                _ => value(u),
            };
            let doc = phone.doc_mut();
            let r = report_obj(doc, &key)?;
            put(doc, &r, field, v)
        }
        op::RELAY_WRITE => {
            let key = report_key(u, phone.doc());
            let field = pick(u, 3);
            let n = pick_from(u, &[1u64, 2, 11, 12, 999]);
            let doc = phone.doc_mut();
            let r = report_obj(doc, &key)?;
            match field {
                0 | 1 => {
                    let relay = match child(doc, &r, "relay") {
                        Some(x) => x,
                        None => doc.put_object(&r, "relay", ObjType::Map).ok()?,
                    };
                    let k = if field == 0 { "post_no" } else { "received_at" };
                    doc.put(&relay, k, ScalarValue::Uint(n)).ok()
                }
                _ => {
                    let relay = doc.put_object(&r, "relay", ObjType::Map).ok()?;
                    doc.put(&relay, "post_no", ScalarValue::Uint(n)).ok()
                }
            }
        }
        op::RECEIPT_RAW => {
            let container = pick(u, 3);
            let pro = match pick(u, 5) {
                0 => ctx.acting.professional.to_string(),
                1 => f.nurse.professional.to_string(),
                2 => f.doctor.professional.to_string(),
                3 => f.admin.professional.to_string(),
                _ => ctx.acting.professional.to_string().to_uppercase(),
            };
            let v = match pick(u, 3) {
                0 => V::I(T.0),
                1 => V::I(0),
                _ => value(u),
            };
            let doc = phone.doc();
            let obj = match container {
                0 => report_obj(doc, &report_key(u, doc))?,
                1 => first_in(doc, "notices")?.0,
                _ => first_in(doc, "messages")?.0,
            };
            let doc = phone.doc_mut();
            let receipts = child(doc, &obj, "receipts")?;
            put(doc, &receipts, &pro, v)
        }
        op::RECEIPT_TYPED => {
            let id: ReportId = report_key(u, phone.doc()).parse().ok()?;
            phone.mark_read(&ctx.acting, T, id).ok().map(|_| ())
        }
        op::COMMENT_TYPED => {
            let id: ReportId = report_key(u, phone.doc()).parse().ok()?;
            ctx.fresh += 1;
            let cid = CommentId(Uuid::from_u128(0xc0_1000 + ctx.fresh));
            phone
                .add_comment_with_id(&ctx.acting, T, id, cid, "明日も訪問します。")
                .ok()
        }
        op::COMMENT_RAW => {
            let key = report_key(u, phone.doc());
            ctx.fresh += 1;
            let cid = Uuid::from_u128(0xc0_1000 + ctx.fresh);
            let existing = "00000000-0000-0000-0000-000000c00001";
            let k = key_form(u, cid, [existing, "00000000-0000-0000-0000-000000c00010"]);
            let author = author_json(u, ctx);
            let c = json!({"id": cid, "author": author, "at": T, "text": "了解"});
            let doc = phone.doc_mut();
            let r = report_obj(doc, &key)?;
            let comments = child(doc, &r, "comments")?;
            codec::reconcile_key(doc, &comments, &k, &c)
                .ok()
                .map(|_| ())
        }
        op::EDIT_COMMENT => {
            let doc = phone.doc();
            let r = report_obj(doc, &report_key(u, doc))?;
            let (comments, k) = comment_of(u, doc, &r)?;
            let field = pick_from(u, &["text", "at", "id"]);
            let v = value(u);
            let doc = phone.doc_mut();
            let c = child(doc, &comments, &k)?;
            put(doc, &c, field, v)
        }
        op::DELETE_COMMENT => {
            let doc = phone.doc();
            let r = report_obj(doc, &report_key(u, doc))?;
            let (comments, k) = comment_of(u, doc, &r)?;
            phone.doc_mut().delete(&comments, k.as_str()).ok()
        }
        op::DELETE_REPORT => {
            let key = report_key(u, phone.doc());
            let doc = phone.doc_mut();
            let reports = child(doc, &ROOT, "reports")?;
            doc.delete(&reports, key.as_str()).ok()
        }
        op::REPLACE_REPORT => {
            let key = report_key(u, phone.doc());
            let copy = pick(u, 2) == 0;
            let doc = phone.doc_mut();
            let reports = child(doc, &ROOT, "reports")?;
            let old = child(doc, &reports, &key)?;
            let fields = codec::read(doc, &old).ok()?;
            let new = doc.put_object(&reports, key.as_str(), ObjType::Map).ok()?;
            if copy {
                if let serde_json::Value::Object(m) = fields {
                    codec::reconcile_map(doc, &new, &m).ok()?;
                }
            }
            Some(())
        }
        op::WRITE_SECTION => {
            let section = pick_from(
                u,
                &[
                    "kizuna",
                    "members",
                    "consent",
                    "profile",
                    "notices",
                    "messages",
                    "extra",
                    "care_plans",
                ],
            );
            let how = pick(u, 3);
            let v = value(u);
            let doc = phone.doc_mut();
            match (how, child(doc, &ROOT, section)) {
                (0, Some(s)) => put(doc, &s, "zzz", v),
                (1, Some(s)) => {
                    let k = keys(doc, &s).into_iter().next()?;
                    doc.delete(&s, k.as_str()).ok()
                }
                _ => doc
                    .put_object(&ROOT, section, ObjType::Map)
                    .ok()
                    .map(|_| ()),
            }
        }
        op::DEEP_NEST => {
            let key = report_key(u, phone.doc());
            let depth = pick_from(u, &DEPTHS);
            let doc = phone.doc_mut();
            let r = report_obj(doc, &key)?;
            let c = child(doc, &r, "content")?;
            nest(doc, &c, "zzz", depth)
        }
        op::WITHDRAW_TYPED => {
            let id: ReportId = report_key(u, phone.doc()).parse().ok()?;
            phone.withdraw_report(&ctx.acting, T, id, "重複").ok()
        }
        _ => {
            let doc = phone.doc_mut();
            let p = child(doc, &ROOT, "profile")?;
            let basic = child(doc, &p, "basic")?;
            doc.put(&basic, "zzz", "0".repeat(BOMB)).ok()
        }
    }
}

// ----- the oracle -----

fn skipped(tag: &str) -> bool {
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

fn fail(tag: &str, msg: impl FnOnce() -> String) {
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
struct Snap {
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

fn snapshot(doc: &AutoCommit) -> Snap {
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
fn check(
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
                        if let Some(other) = seen.insert(n, k.clone()) {
                            if other != k {
                                fail("postno", || {
                                    format!("post number {n} given to {other} and {k}")
                                });
                            }
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
    match Room::load(room.id(), &saved) {
        Ok(mut again) => {
            if again.heads() != heads {
                fail("saveload", || "the reloaded room has other heads".into());
            }
        }
        Err(e) => fail("saveload", || format!("the room does not load again: {e}")),
    }
}

// ----- running an input -----

/// The relay's side of one input: the room, the fallback state, the post-number counter.
struct Relay {
    room: Room,
    state: Fallback,
    next: u64,
    handed: BTreeSet<u64>,
}

impl Relay {
    /// Serves one request as `server/src/sync.rs` does, then runs the oracle.
    fn serve(&mut self, req: &DocSync, who: &Writer, sent: &Sent) -> Option<Outcome> {
        let f = fixture();
        let kept = self.room.clone();
        let before_heads = self.room.heads();
        let before = snapshot(self.room.doc());
        let next = &mut self.next;
        let handed = &mut self.handed;
        let served = serve_doc(
            &mut self.room,
            req,
            who,
            &f.relay,
            Timestamp(1_790_000_100_000),
            &mut || {
                *next += 1;
                handed.insert(*next);
                *next
            },
            &mut self.state,
            &mut Budget::default(),
        );
        if self.room.is_poisoned() {
            // As `RoomHandle` does: drop the half-changed room, take the stored one again.
            self.room = kept;
            self.state = Fallback::default();
            return Some(served.outcome);
        }
        if let Outcome::Refused { reason, .. } = &served.outcome {
            if self.room.heads() != before_heads {
                fail("refused", || {
                    format!("a refused request ({reason}) changed the room")
                });
            }
        }
        let relay_actor = actor_of(f.relay.device);
        let took = self
            .room
            .doc_mut()
            .get_changes(&before_heads)
            .iter()
            .any(|c| *c.actor_id() != relay_actor);
        // Judged by the changes themselves: a step may send several requests, and another
        // request of the same step may rightly be taken.
        if took && sent.broken.iter().any(|h| self.room.has_change(h)) {
            fail("checksum", || {
                "the relay took changes whose checksums are wrong".into()
            });
        }
        let bomb_taken = sent.largest.is_some_and(|h| self.room.has_change(&h));
        if bomb_taken && sent.inflated > crate::sync::protocol::MAX_MESSAGE_BYTES {
            fail("bomb", || {
                format!(
                    "the relay took a compressed change of {} bytes that inflates to {}",
                    sent.wire, sent.inflated
                )
            });
        }
        check(&before, &before_heads, &mut self.room, who, &self.handed);
        Some(served.outcome)
    }
}

fn as_changes(known: &[ChangeHash], changes: &[Vec<u8>]) -> DocSync {
    DocSync {
        doc: fixture().room,
        known_heads: to_wire(known),
        changes: changes.to_vec(),
        create: None,
        sync_message: None,
    }
}

fn as_message(known: &[ChangeHash], heads: &[ChangeHash], changes: &[Vec<u8>]) -> DocSync {
    let m = Message {
        heads: heads.to_vec(),
        need: Vec::new(),
        have: Vec::new(),
        changes: changes.to_vec().into(),
        flags: None,
        version: MessageVersion::V1,
    };
    DocSync {
        doc: fixture().room,
        known_heads: to_wire(known),
        changes: Vec::new(),
        create: None,
        sync_message: Some(m.encode()),
    }
}

/// What a step sent, for the checks on encodings.
#[derive(Default)]
struct Sent {
    /// Every change's checksum was broken.
    bad_checksum: bool,
    /// Largest inflated size of a compressed change, and its size on the wire.
    inflated: usize,
    wire: usize,
    /// That change.
    largest: Option<ChangeHash>,
    /// The changes sent with a broken checksum.
    broken: Vec<ChangeHash>,
}

fn raw_after(
    phone: &mut Room,
    heads: &[ChangeHash],
    sent: &mut Sent,
    compressed: bool,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for mut c in phone.doc_mut().get_changes(heads) {
        let raw = c.raw_bytes().len();
        let mut bytes = if compressed {
            c.bytes().to_vec()
        } else {
            c.raw_bytes().to_vec()
        };
        if compressed && raw > sent.inflated {
            sent.inflated = raw;
            sent.wire = bytes.len();
            sent.largest = Some(c.hash());
        }
        if sent.bad_checksum && bytes.len() > 8 {
            bytes[4] ^= 0x55;
            sent.broken.push(c.hash());
        }
        out.push(bytes);
    }
    out
}

fn commit_raw(doc: &mut AutoCommit, note: Option<&str>) {
    let mut o = CommitOptions::default().with_time(1_790_000_050);
    if let Some(n) = note {
        o = o.with_message(n.to_string());
    }
    doc.commit_with(o);
}

/// Runs one step; the outcomes of its requests.
fn step(u: &mut Unstructured<'_>, relay: &mut Relay, fresh: &mut u128) -> Vec<Outcome> {
    let f = fixture();
    let who = WHO[pick(u, 4)];
    let tamper = pick(u, op::TAMPERS) as u8;
    let delivery = pick(u, op::DELIVERIES) as u8;
    let compressed = delivery >= op::COMPRESSED;
    let mut delivery = delivery % op::COMPRESSED;
    if delivery == op::REORDER_MIXED && skipped("queued") {
        // `KIZUNA_MEMBER_SKIP=queued`: look past the known queued-dependency bypass.
        delivery = op::REORDER_SYNC;
    }
    let n_edits = 1 + pick(u, 4);
    let split = pick(u, n_edits);
    let sender = author_of(who);
    let someone_else = if who == Who::Doctor {
        &f.nurse
    } else {
        &f.doctor
    };
    let mut acting = sender.clone();
    if tamper == op::WRONG_ACTOR {
        acting.device = someone_else.device;
    }
    let raw_note = match tamper {
        op::WRONG_NOTE => Some(note(someone_else, "raw")),
        op::NO_NOTE => None,
        _ => Some(note(&acting, "raw")),
    };
    let base_heads = relay.room.heads();
    let mut phone = relay.room.clone();
    phone.doc_mut().set_actor(actor_of(acting.device));
    let mut ctx = Ctx {
        acting,
        fresh: *fresh,
    };
    let mut mid = base_heads.clone();
    for i in 0..n_edits {
        let _ = edit(u, &mut phone, &mut ctx);
        if i == split {
            commit_raw(phone.doc_mut(), raw_note.as_deref());
            mid = phone.heads();
        }
    }
    commit_raw(phone.doc_mut(), raw_note.as_deref());
    *fresh = ctx.fresh;
    let heads = phone.heads();
    let mut sent = Sent {
        bad_checksum: tamper == op::BAD_CHECKSUM,
        ..Sent::default()
    };
    let all = raw_after(&mut phone, &base_heads, &mut sent, compressed);
    let second = raw_after(&mut phone, &mid, &mut sent, compressed);
    let first: Vec<Vec<u8>> = all
        .iter()
        .filter(|c| !second.contains(c))
        .cloned()
        .collect();
    if all.is_empty() {
        return Vec::new();
    }
    let w = writer_of(who);
    let reqs: Vec<DocSync> = match delivery {
        op::CHANGES => vec![as_changes(&base_heads, &all)],
        op::SYNC_MESSAGE => vec![as_message(&base_heads, &heads, &all)],
        op::REORDER_CHANGES => vec![
            as_changes(&base_heads, &second),
            as_changes(&base_heads, &first),
        ],
        op::REORDER_SYNC => vec![
            as_message(&base_heads, &heads, &second),
            as_message(&base_heads, &mid, &first),
        ],
        op::REORDER_MIXED => vec![
            as_message(&base_heads, &heads, &second),
            as_changes(&base_heads, &first),
        ],
        _ => vec![as_changes(&base_heads, &first), as_changes(&mid, &second)],
    };
    reqs.iter()
        .filter(|r| !(r.changes.is_empty() && r.sync_message.is_none()))
        .filter_map(|r| relay.serve(r, &w, &sent))
        .collect()
}

/// Target `member_changes`: runs up to [`MAX_STEPS`] steps read from `data` against the
/// extended fixture room, checking the oracle after every request.
pub fn member_changes(data: &[u8]) {
    let _ = run(data);
}

/// [`member_changes`], returning every request's outcome.
pub fn run(data: &[u8]) -> Vec<Outcome> {
    let b = base();
    let mut relay = Relay {
        room: b.room.clone(),
        state: Fallback::default(),
        next: 10,
        handed: [1, 2].into(),
    };
    let mut u = Unstructured::new(data);
    let mut fresh = 0u128;
    let mut out = Vec::new();
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        out.extend(step(&mut u, &mut relay, &mut fresh));
    }
    out
}

/// Step header bytes: who, tamper, delivery, number of edits − 1, index of the edit after
/// which the first commit group ends.
pub fn header(who: Who, tamper: u8, delivery: u8, edits: u8, split: u8) -> Vec<u8> {
    vec![who as u8, tamper, delivery, edits - 1, split]
}

/// Seeds for the corpus, one per attack, each a short input in the byte layout above.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    use op::*;
    // Report selector bytes: 0 the nurse's report, 1 the doctor's, 4·i + 2 the i-th key.
    const OWN: u8 = 0;
    const OTHER: u8 = 1;
    let mut out: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut s = |name: &'static str, parts: &[&[u8]]| out.push((name, parts.concat()));
    s(
        "typed-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_TYPED, 1],
        ],
    );
    s(
        "typed-report-sync-message",
        &[
            &header(Who::Nurse, HONEST, SYNC_MESSAGE, 1, 0),
            &[NEW_REPORT_TYPED, 1],
        ],
    );
    s(
        "typed-comment-receipt-edit",
        &[
            &header(Who::Nurse, HONEST, IN_ORDER, 3, 0),
            &[
                COMMENT_TYPED,
                OTHER,
                RECEIPT_TYPED,
                OTHER,
                EDIT_TYPED,
                OWN,
                1,
            ],
        ],
    );
    s(
        "raw-report-complete",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 0, 0, 0, 0, 0],
        ],
    );
    s(
        "raw-report-upper-case-key",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 1, 0, 0, 0, 1],
        ],
    );
    // Fields byte 0b0111_1100: only `id` and `author`.
    s(
        "raw-report-id-author-only",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 0, 0x7c, 0, 0, 0],
        ],
    );
    s(
        "raw-report-as-doctor",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 0, 0, 1, 0, 0],
        ],
    );
    s(
        "raw-report-with-post-no",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 0, 0x80, 0, 0, 0],
        ],
    );
    s(
        "raw-report-over-other",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 7, 0, 0, 0, 0],
        ],
    );
    s(
        "deep-nesting-3000",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[DEEP_NEST, OWN, 4],
        ],
    );
    s(
        "huge-content-string",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[EDIT_CONTENT_RAW, OWN, 2, 1, 4],
        ],
    );
    // SET_AUTHOR: target, field, value (6 = the doctor's professional id), report.
    s(
        "author-professional-own-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 0, 0, 6, OWN],
        ],
    );
    s(
        "author-name-own-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 0, 2, 0, OWN],
        ],
    );
    s(
        "author-device-other-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 1, 1, 9, OTHER],
        ],
    );
    s(
        "author-name-other-comment",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 2, 2, 0, OWN, 1],
        ],
    );
    s(
        "author-notice",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 3, 2, 0],
        ],
    );
    s(
        "author-message",
        &[
            &header(Who::Doctor, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 4, 0, 5],
        ],
    );
    s(
        "report-id-field",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_REPORT_FIELD, OWN, 0, 0],
        ],
    );
    s(
        "relay-post-no",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[RELAY_WRITE, OWN, 0, 1],
        ],
    );
    s(
        "relay-received-at",
        &[
            &header(Who::Nurse, HONEST, SYNC_MESSAGE, 1, 0),
            &[RELAY_WRITE, OWN, 1, 4],
        ],
    );
    s(
        "receipt-for-other",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[RECEIPT_RAW, 0, 2, 0, OWN],
        ],
    );
    s(
        "receipt-reader-own",
        &[
            &header(Who::Reader, HONEST, CHANGES, 1, 0),
            &[RECEIPT_TYPED, OTHER],
        ],
    );
    s(
        "reader-comment",
        &[
            &header(Who::Reader, HONEST, CHANGES, 1, 0),
            &[COMMENT_TYPED, OTHER],
        ],
    );
    s(
        "comment-raw-upper-key",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[COMMENT_RAW, OTHER, 1, 0],
        ],
    );
    s(
        "edit-other-comment",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[EDIT_COMMENT, OWN, 1, 0, 0],
        ],
    );
    s(
        "delete-other-comment",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[DELETE_COMMENT, OWN, 1],
        ],
    );
    s(
        "delete-own-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[DELETE_REPORT, OWN],
        ],
    );
    s(
        "replace-own-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[REPLACE_REPORT, OWN, 0],
        ],
    );
    s(
        "edit-other-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[EDIT_CONTENT_RAW, OTHER, 2, 0],
        ],
    );
    s(
        "consent-as-nurse",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[WRITE_SECTION, 2, 0, 0],
        ],
    );
    s(
        "members-as-admin",
        &[
            &header(Who::Admin, HONEST, CHANGES, 1, 0),
            &[WRITE_SECTION, 1, 0, 0],
        ],
    );
    s(
        "kizuna-as-admin",
        &[
            &header(Who::Admin, HONEST, CHANGES, 1, 0),
            &[WRITE_SECTION, 0, 0, 0],
        ],
    );
    s(
        "profile-as-reader",
        &[
            &header(Who::Reader, HONEST, SYNC_MESSAGE, 1, 0),
            &[WRITE_SECTION, 3, 0, 0],
        ],
    );
    s(
        "wrong-actor",
        &[
            &header(Who::Nurse, WRONG_ACTOR, CHANGES, 1, 0),
            &[RECEIPT_TYPED, OTHER],
        ],
    );
    s(
        "wrong-note",
        &[
            &header(Who::Nurse, WRONG_NOTE, CHANGES, 1, 0),
            &[EDIT_CONTENT_RAW, OWN, 3, 0],
        ],
    );
    s(
        "no-note",
        &[
            &header(Who::Nurse, NO_NOTE, SYNC_MESSAGE, 1, 0),
            &[EDIT_CONTENT_RAW, OWN, 3, 0],
        ],
    );
    s(
        "bad-checksum",
        &[
            &header(Who::Nurse, BAD_CHECKSUM, CHANGES, 1, 0),
            &[RECEIPT_TYPED, OTHER],
        ],
    );
    s(
        "bad-checksum-sync-message",
        &[
            &header(Who::Nurse, BAD_CHECKSUM, SYNC_MESSAGE, 1, 0),
            &[RECEIPT_TYPED, OTHER],
        ],
    );
    s(
        "compressed-report",
        &[
            &header(Who::Nurse, HONEST, COMPRESSED + CHANGES, 1, 0),
            &[NEW_REPORT_TYPED, 2],
        ],
    );
    s(
        "compressed-bomb",
        &[
            &header(Who::Nurse, HONEST, COMPRESSED + CHANGES, 1, 0),
            &[BIG_PROFILE],
        ],
    );
    s(
        "compressed-bomb-sync-message",
        &[
            &header(Who::Nurse, HONEST, COMPRESSED + SYNC_MESSAGE, 1, 0),
            &[BIG_PROFILE],
        ],
    );
    // The queued-dependency attack: a harmless receipt, then an edit of the doctor's report
    // built on it; the edit is sent first (queued for its missing dependency), then the
    // receipt, which releases it.
    // (The edit sets the care time to 1, still readable: only the owner rule is broken.)
    let queued: &[u8] = &[RECEIPT_TYPED, OTHER, EDIT_CONTENT_RAW, OTHER, 0, 8];
    s(
        "queued-dependency-sync",
        &[&header(Who::Nurse, HONEST, REORDER_SYNC, 2, 0), queued],
    );
    s(
        "queued-dependency-mixed",
        &[&header(Who::Nurse, HONEST, REORDER_MIXED, 2, 0), queued],
    );
    s(
        "queued-dependency-changes",
        &[&header(Who::Nurse, HONEST, REORDER_CHANGES, 2, 0), queued],
    );
    // Two steps: a new report, then its author rewrites the author.
    s(
        "two-steps-report-then-author",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_TYPED, 1],
            &header(Who::Nurse, HONEST, SYNC_MESSAGE, 1, 0),
            &[SET_AUTHOR, 0, 0, 6, 2],
        ],
    );
    out.into_iter().map(|(n, d)| (n.to_string(), d)).collect()
}
