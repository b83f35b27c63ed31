//! Building a step's edits from the input bytes: typed-API writes and hand-made Automerge
//! operations, well-formed or hostile, as a phone or a modified app would make them.

use super::{child, keys, op, pick, pick_from};
use crate::fuzzing::fixture;
use crate::model::report::AuthorInfo;
use crate::model::{ReportBody, ReportContent};
use crate::people::Author;
use crate::room::{Room, codec};
use crate::time::Timestamp;
use crate::{CommentId, ReportId};
use arbitrary::Unstructured;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ScalarValue};
use serde_json::json;
use uuid::Uuid;

/// The context of one step while its edits are built.
pub(super) struct Ctx {
    /// Who the typed API writes as (the sender, or another device under `WRONG_ACTOR`).
    pub(super) acting: Author,
    /// Fresh ids handed out in this input.
    pub(super) fresh: u128,
}

const T: Timestamp = Timestamp(1_790_000_050_000);

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
        s.push_str(if s.len().is_multiple_of(7) {
            "あ"
        } else {
            "x"
        });
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
pub(super) fn edit(u: &mut Unstructured<'_>, phone: &mut Room, ctx: &mut Ctx) -> Option<()> {
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
            if copy && let serde_json::Value::Object(m) = fields {
                codec::reconcile_map(doc, &new, &m).ok()?;
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
