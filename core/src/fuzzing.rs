//! Bodies of the fuzz targets that exercise the core (`tests/fuzz/`), kept here as ordinary
//! code so that the stable test suite replays the committed corpus and every crasher ever
//! found (`tests/tests/e2e/fuzz_regressions.rs`) without nightly or libFuzzer.
//!
//! Each function takes the raw bytes libFuzzer made and feeds them through the code the relay
//! runs on bytes from the network. Returning is success: a panic is a bug (bad input must get
//! a clear error), and so is a broken invariant, which the functions check with `assert!`.
//!
//! - [`sync_request`]: the body of `POST /v1/sync` as the relay decodes it, then served.
//! - [`change_validation`]: raw Automerge changes, sync messages and whole documents sent by a
//!   device, through [`serve_doc`] (write rules, merge, post numbers) on a realistic room.
//!
//! - [`member_changes`]: structure-aware — real Automerge changes built from a
//!   member's point of view (typed API and hand-made operations, tampered actors, notes and
//!   dependency order), served step after step, with an independent oracle of the write rules.
//!
//! The room is built once per process, deterministically (fixed ids, actors and times), so
//! changes in the corpus that build on it keep meaning the same thing from run to run.

use crate::model::{Consent, ReportContent};
use crate::people::{Author, Profession, Role, RoomKind};
use crate::room::{ChangeNote, MemberInfo, Room, actor_of};
use crate::sync::gate::Budget;
use crate::sync::protocol::{DocSync, Outcome, SyncRequest, SyncResponse, to_wire};
use crate::sync::relay::{Fallback, serve_doc};
use crate::sync::write_rules::Writer;
use crate::time::{Date, Timestamp};
use crate::{CommentId, DeviceId, ProfessionalId, ReportId, RoomId};
use automerge::sync::{Message, MessageVersion};
use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit, ChangeHash};
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;
use uuid::Uuid;

pub mod member_changes;

mod corpus;

pub use corpus::seeds;

/// Called once by each fuzz target before the first input. libFuzzer's Rust glue installs a
/// panic hook that aborts at the panic itself, which would count a panic the code catches on
/// purpose (Automerge decoders, see `sync::relay`) as a crash. This hook only prints; a panic
/// that escapes the target body still aborts the run (libfuzzer-sys checks after unwinding).
pub fn init() {
    std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
}

/// The fixed room every input is served against.
pub struct Fixture {
    /// The room's id.
    pub room: RoomId,
    /// `save()` of the room.
    pub saved: Vec<u8>,
    /// Its heads.
    pub heads: Vec<ChangeHash>,
    /// The heads of the empty room (genesis only).
    pub genesis: Vec<ChangeHash>,
    /// The professional and device whose changes the relay receives (a nurse, writer).
    pub nurse: Author,
    /// Another member (a doctor) whose report and comment are in the room.
    pub doctor: Author,
    /// The city's administrator.
    pub admin: Author,
    /// The relay's own identity (post numbers).
    pub relay: Author,
    /// The nurse's report.
    pub own_report: ReportId,
    /// The doctor's report.
    pub other_report: ReportId,
}

fn author(n: u128, name: &str, profession: Profession) -> Author {
    Author {
        professional: ProfessionalId(Uuid::from_u128(0xf0_0000 + n)),
        device: DeviceId(Uuid::from_u128(0xd0_0000 + n)),
        display_name: name.to_string(),
        profession,
        organisation: "みどり訪問看護ステーション".to_string(),
    }
}

fn build_fixture() -> Result<Fixture, crate::CoreError> {
    let id = RoomId(Uuid::from_u128(0x4b69_7a75_6e61_0000_0000_0000_0000_0001));
    let nurse = author(1, "佐藤 美咲", Profession::Nurse);
    let doctor = author(2, "田中 一郎", Profession::Doctor);
    let admin = author(3, "市役所 管理者", Profession::CityAdministrator);
    let relay = author(4, "relay", Profession::Other);
    let mut room = Room::new(id, RoomKind::Patient);
    let genesis = room.heads();
    let t = |s: i64| Timestamp(1_790_000_000_000 + s * 1000);
    let date = Date::new(2026, 11, 1).map_err(crate::CoreError::from)?;
    room.set_consent(
        &admin,
        t(1),
        &Consent {
            given_by: "山田 花子".into(),
            relation: "本人".into(),
            date,
            obtained_by: "市役所 管理者".into(),
            obtained_by_id: Some(admin.professional),
            form: None,
        },
    )?;
    let mut members = BTreeMap::new();
    for a in [&nurse, &doctor] {
        members.insert(
            a.professional,
            MemberInfo {
                role: Role::Writer,
                name: a.display_name.clone(),
                profession: a.profession,
                organisation: a.organisation.clone(),
            },
        );
    }
    room.set_members(&admin, t(2), &members)?;
    let own_report = ReportId(Uuid::from_u128(0x7e_0001));
    let other_report = ReportId(Uuid::from_u128(0x7e_0002));
    room.post_report_with_id(
        &nurse,
        t(3),
        own_report,
        &ReportContent::free_text(t(3), "仙骨部に2×3cmの発赤あり。体位変換を継続。"),
    )?;
    room.assign_post_number(&relay, t(4), own_report, 1, t(4))?;
    room.post_report_with_id(
        &doctor,
        t(5),
        other_report,
        &ReportContent::free_text(t(5), "血圧132/78。内服変更なし。"),
    )?;
    room.assign_post_number(&relay, t(6), other_report, 2, t(6))?;
    room.add_comment_with_id(
        &nurse,
        t(7),
        other_report,
        CommentId(Uuid::from_u128(0xc0_0001)),
        "了解しました。",
    )?;
    room.mark_read(&doctor, t(8), own_report)?;
    let heads = room.heads();
    let saved = room.save();
    Ok(Fixture {
        room: id,
        saved,
        heads,
        genesis,
        nurse,
        doctor,
        admin,
        relay,
        own_report,
        other_report,
    })
}

/// The room the targets serve against, built on first use.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| match build_fixture() {
        Ok(f) => f,
        Err(e) => panic!("the fuzzing fixture could not be built: {e}"),
    })
}

impl Fixture {
    /// A fresh copy of the room, as the relay would have it loaded (loaded once per process,
    /// then copied).
    pub fn load(&self) -> Room {
        static LOADED: OnceLock<Room> = OnceLock::new();
        LOADED
            .get_or_init(|| match Room::load(self.room, &self.saved) {
                Ok(r) => r,
                Err(e) => panic!("the fuzzing fixture does not load: {e}"),
            })
            .clone()
    }

    /// The device's copy: the relay's room on the nurse's phone, ready for raw changes.
    fn device_copy(&self, who: &Author) -> Room {
        let mut r = self.load();
        r.doc_mut().set_actor(actor_of(who.device));
        r
    }
}

/// The relay's view of who sends the changes: flag bits choose reader/admin.
fn writer(f: &Fixture, flags: u8) -> Writer {
    Writer {
        professional: f.nurse.professional,
        device: f.nurse.device,
        role: if flags & 0x04 != 0 {
            Role::Reader
        } else {
            Role::Writer
        },
        admin: flags & 0x08 != 0,
        shown_as: None,
        vouched: None,
        numbered_elsewhere: None,
    }
}

/// Serves `req` against a fresh copy of the fixture, then checks what the relay must always
/// guarantee whatever the device sent:
/// - every change the relay now holds beyond the fixture is the sender's or the relay's own
///   (validation let no one write as someone else);
/// - the merged room saves and loads again with the same heads (what the relay stores it
///   can reopen after a restart);
/// - reading the room through the typed API does not panic.
///
/// `rounds` > 1 sends the same request again with the sync state of the previous round.
fn serve_and_check(req: &DocSync, who: &Writer, rounds: usize) -> Vec<Outcome> {
    let f = fixture();
    let mut room = f.load();
    let mut state = Fallback::default();
    let mut next = 10u64;
    let mut outcomes = Vec::new();
    for _ in 0..rounds {
        let served = serve_doc(
            &mut room,
            req,
            who,
            &f.relay,
            Timestamp(1_790_000_100_000),
            &mut || {
                next += 1;
                next
            },
            &mut state,
            &mut Budget::default(),
        );
        if room.is_poisoned() {
            // Automerge panicked applying the input and the relay caught it: like
            // `RoomHandle`, drop the half-changed document and load the stored one again.
            room = f.load();
            state = Fallback::default();
        }
        // The answer must encode (it goes back on the wire).
        let resp = SyncResponse {
            version: crate::sync::protocol::PROTOCOL_VERSION,
            docs: vec![crate::sync::DocResult {
                doc: req.doc,
                outcome: served.outcome,
            }],
            more: false,
        };
        let bytes = resp.encode();
        assert_eq!(SyncResponse::decode(&bytes).as_ref(), Ok(&resp));
        outcomes.extend(resp.docs.into_iter().map(|d| d.outcome));
    }
    let heads = room.heads();
    if heads == f.heads {
        // Nothing was taken: the room is the fixture, checked once.
        return outcomes;
    }
    let allowed: HashSet<ActorId> = [actor_of(who.device), actor_of(f.relay.device)].into();
    for c in room.doc_mut().get_changes(&f.heads) {
        assert!(
            allowed.contains(c.actor_id()),
            "the relay took a change made by another actor"
        );
    }
    let saved = room.save();
    let again = Room::load(f.room, &saved);
    assert!(
        again.is_ok(),
        "the room the relay holds does not load again"
    );
    if let Ok(mut again) = again {
        assert_eq!(again.heads(), heads, "the reloaded room has other heads");
    }
    read_everything(&room);
    outcomes
}

/// Reads the room through the typed API as the apps and the relay do (errors are fine here;
/// panics are not).
fn read_everything(room: &Room) {
    let _ = room.consent();
    let _ = room.members();
    let _ = room.profile();
    let _ = room.profile_history();
    let _ = room.list_reports();
    if let Ok(ids) = room.report_ids() {
        for id in ids {
            let _ = room.report(id);
        }
    }
    let _ = room.notices();
    let _ = room.messages();
    let _ = crate::blobs::referenced(room);
}

/// Target `sync_request`: the body of `POST /v1/sync`. Decoding never panics; a request that
/// decodes encodes back to the same request; its first document is served like the relay
/// serves it (against the fixture room, as the fixture's nurse).
pub fn sync_request(data: &[u8]) {
    if let Ok(resp) = SyncResponse::decode(data) {
        assert_eq!(SyncResponse::decode(&resp.encode()).as_ref(), Ok(&resp));
    }
    let Ok(req) = SyncRequest::decode(data) else {
        return;
    };
    assert_eq!(SyncRequest::decode(&req.encode()).as_ref(), Ok(&req));
    if let Some(doc) = req.docs.first() {
        let f = fixture();
        let mut doc = doc.clone();
        doc.doc = f.room;
        let _ = serve_and_check(&doc, &writer(f, 0), 1);
    }
}

/// Input layout of [`change_validation`]: the first byte holds flags, the rest the payload.
pub mod layout {
    /// Mode mask (bits 0–1) of the first byte.
    pub const MODE: u8 = 0x03;
    /// Mode: the payload is a list of raw changes, each `[u16 little-endian length][bytes]`.
    pub const CHANGES: u8 = 0;
    /// Mode: the payload is an Automerge sync message.
    pub const SYNC_MESSAGE: u8 = 1;
    /// Mode: the payload is a whole saved document (checksums fixed up), sent inside a sync
    /// message as Automerge's V2 sync protocol does.
    pub const DOCUMENT: u8 = 2;
    /// Mode: the payload is a list of change chunks as for `CHANGES`, sent inside one
    /// Automerge sync message (the fallback protocol) instead of the request's change list.
    pub const CHANGES_IN_MESSAGE: u8 = 3;
    /// Flag: the sender is a reader of the room.
    pub const READER: u8 = 0x04;
    /// Flag: the sender is an administrator.
    pub const ADMIN: u8 = 0x08;
    /// Flag: the device names the genesis heads as known (instead of the room's heads).
    pub const GENESIS_HEADS: u8 = 0x10;
    /// Flag: serve the same request twice (the second with the first round's sync state).
    pub const TWICE: u8 = 0x20;
}

/// Splits the `CHANGES` payload into raw changes.
fn split_changes(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while data.len() >= 2 && out.len() < 64 {
        let n = usize::from(u16::from_le_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let n = n.min(rest.len());
        out.push(rest[..n].to_vec());
        data = &rest[n..];
    }
    out
}

/// Joins raw changes into a `CHANGES` payload (the inverse of [`split_changes`]).
pub fn join_changes(changes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in changes {
        let n = u16::try_from(c.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&c[..usize::from(n)]);
    }
    out
}

/// Recomputes the checksum of every uncompressed chunk in `bytes`, so that mutated documents
/// get past Automerge's checksum check and reach the decoder behind it.
pub fn fix_checksums(bytes: &[u8]) -> Vec<u8> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut out = bytes.to_vec();
    let mut at = 0;
    while out.len() >= at + 9 && out[at..at + 4] == MAGIC {
        let kind = out[at + 8];
        let mut len: u64 = 0;
        let mut shift = 0;
        let mut p = at + 9;
        loop {
            let Some(&b) = out.get(p) else { return out };
            p += 1;
            if shift < 64 {
                len |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 || shift > 63 {
                break;
            }
        }
        let Ok(len) = usize::try_from(len) else {
            return out;
        };
        let Some(end) = p.checked_add(len).filter(|e| *e <= out.len()) else {
            return out;
        };
        if kind != 2 {
            let mut header = vec![kind];
            let mut n = len as u64;
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    header.push(byte);
                    break;
                }
                header.push(byte | 0x80);
            }
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            ctx.update(&header);
            ctx.update(&out[p..end]);
            let digest = ctx.finish();
            out[at + 4..at + 8].copy_from_slice(&digest.as_ref()[..4]);
        }
        at = end;
    }
    out
}

/// Target `change_validation`: what a device sends for one document — raw changes, a sync
/// message, or a whole document inside a sync message — served by the relay's [`serve_doc`]
/// on the fixture room with the invariants of `serve_and_check`. See [`layout`] for the
/// input's shape.
pub fn change_validation(data: &[u8]) {
    let _ = serve_input(data);
}

/// [`change_validation`], returning the relay's answers (none when nothing was served).
fn serve_input(data: &[u8]) -> Vec<Outcome> {
    let Some((&flags, payload)) = data.split_first() else {
        return Vec::new();
    };
    let f = fixture();
    let who = writer(f, flags);
    let known = if flags & layout::GENESIS_HEADS != 0 {
        &f.genesis
    } else {
        &f.heads
    };
    let rounds = if flags & layout::TWICE != 0 { 2 } else { 1 };
    let mut req = DocSync {
        doc: f.room,
        known_heads: to_wire(known),
        changes: Vec::new(),
        create: None,
        sync_message: None,
    };
    match flags & layout::MODE {
        layout::CHANGES => req.changes = split_changes(payload),
        layout::SYNC_MESSAGE => req.sync_message = Some(payload.to_vec()),
        layout::DOCUMENT => {
            let message = Message {
                heads: Vec::new(),
                need: Vec::new(),
                have: Vec::new(),
                changes: vec![fix_checksums(payload)].into(),
                flags: None,
                version: MessageVersion::V2,
            };
            req.sync_message = Some(message.encode());
        }
        _ => {
            let message = Message {
                heads: Vec::new(),
                need: Vec::new(),
                have: Vec::new(),
                changes: split_changes(payload).into(),
                flags: None,
                version: MessageVersion::V1,
            };
            req.sync_message = Some(message.encode());
        }
    }
    serve_and_check(&req, &who, rounds)
}

/// Commits a raw change on `doc` as `who`, with the note the relay expects.
fn commit_as(doc: &mut AutoCommit, who: &Author) {
    let note = ChangeNote {
        op: "raw".into(),
        pro: who.professional,
        dev: who.device,
        target: None,
    };
    doc.commit_with(
        CommitOptions::default()
            .with_message(serde_json::to_string(&note).unwrap_or_default())
            .with_time(1_790_000_050),
    );
}

#[cfg(test)]
mod tests;
