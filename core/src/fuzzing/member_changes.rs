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
//! After every request the oracle below — written from the rules in `docs/rules.md`, not from
//! `sync/write_rules.rs` — checks the room. Each check has a tag; a failure panics with
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
use crate::CommentId;
use crate::model::NoticeContent;
use crate::model::report::AuthorInfo;
use crate::people::{Author, Role};
use crate::room::{ChangeNote, Room, actor_of, codec};
use crate::sync::gate::Budget;
use crate::sync::protocol::{DocSync, Outcome, to_wire};
use crate::sync::relay::{Fallback, serve_doc};
use crate::sync::write_rules::{ShownAs, Writer};
use crate::time::Timestamp;
use arbitrary::Unstructured;
use automerge::sync::{Message, MessageVersion};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ChangeHash, ObjId, ROOT, ReadDoc, ScalarValue, Value};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::OnceLock;
use uuid::Uuid;

mod corpus;
mod edits;
mod oracle;

pub use corpus::seeds;
use edits::{Ctx, edit};
use oracle::{check, fail, skipped, snapshot};
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
        vouched: None,
        numbered_elsewhere: None,
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

// ----- the oracle -----

/// The map or list under `key` in `obj`, if there is one.
fn child(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(_), id) => Some(id),
        _ => None,
    }
}

fn keys(doc: &AutoCommit, obj: &ObjId) -> Vec<String> {
    doc.keys(obj).collect()
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
        if let Outcome::Refused { reason, .. } = &served.outcome
            && self.room.heads() != before_heads
        {
            fail("refused", || {
                format!("a refused request ({reason}) changed the room")
            });
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
