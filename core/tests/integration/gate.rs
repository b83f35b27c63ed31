//! The gate every change passes on the relay (`sync::gate`), attacked as an outside client
//! found it open: changes released from Automerge's queue, author records handed over,
//! reports the relay cannot read back, decompression bombs, changes with no history and
//! damaged checksums; and the checks after the merge (`sync::invariants`) on their own.

use crate::fixtures::{author, soap};
use automerge::sync::{ChunkList, Message, MessageVersion};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ChangeHash, ObjType, ReadDoc};
use kizuna_core::room::{ChangeNote, actor_of};
use kizuna_core::sync::gate::{Budget, MAX_OPS_PER_REQUEST};
use kizuna_core::sync::invariants;
use kizuna_core::sync::protocol::{DocSync, Outcome, to_wire};
use kizuna_core::sync::relay::{Fallback, Served, serve_doc};
use kizuna_core::sync::write_rules::{Touched, Writer};
use kizuna_core::{Author, Profession, ReportId, Role, Room, RoomId, RoomKind, Timestamp};
use std::io::Write;

/// A relay's copy of a room holding one report by the nurse with a comment by the doctor.
struct Setup {
    relay: Room,
    me: Author,
    nurse: Author,
    doctor: Author,
    report: ReportId,
    shared: Vec<ChangeHash>,
    next: u64,
    fallback: Fallback,
}

impl Setup {
    fn new() -> Setup {
        let id = RoomId::new();
        let nurse = author("佐藤", Profession::Nurse);
        let doctor = author("田中", Profession::Doctor);
        let mut relay = Room::new(id, RoomKind::Patient);
        let report = relay
            .post_report(&nurse, Timestamp(1), &soap(1, "x"))
            .unwrap();
        relay
            .add_comment(&doctor, Timestamp(2), report, "了解")
            .unwrap();
        let shared = relay.heads();
        Setup {
            relay,
            me: author("relay", Profession::Other),
            nurse,
            doctor,
            report,
            shared,
            next: 0,
            fallback: Fallback::default(),
        }
    }

    /// A phone of `who` holding what the relay holds.
    fn phone(&mut self, who: &Author) -> Room {
        let mut phone = Room::load(self.relay.doc_id(), &self.relay.save()).unwrap();
        phone.doc_mut().set_actor(actor_of(who.device));
        phone
    }

    fn serve(&mut self, who: &Author, changes: Vec<Vec<u8>>, message: Option<Vec<u8>>) -> Served {
        let req = DocSync {
            doc: self.relay.doc_id(),
            known_heads: to_wire(&self.shared),
            changes,
            create: None,
            sync_message: message,
        };
        let w = Writer {
            professional: who.professional,
            device: who.device,
            role: Role::Writer,
            admin: false,
            shown_as: None,
            vouched: None,
            numbered_elsewhere: None,
        };
        let next = &mut self.next;
        serve_doc(
            &mut self.relay,
            &req,
            &w,
            &self.me,
            Timestamp(9_000),
            &mut || {
                *next += 1;
                *next
            },
            &mut self.fallback,
            &mut Budget::default(),
        )
    }

    fn report_text(&self) -> Option<serde_json::Value> {
        let rid = self.report.to_string();
        self.relay.read_path(&["reports", &rid, "content"])
    }
}

/// Commits what `f` wrote on the phone as one change by `who`, and returns its bytes.
fn commit(phone: &mut Room, who: &Author, f: impl FnOnce(&mut AutoCommit)) -> Vec<u8> {
    let before = phone.heads();
    f(phone.doc_mut());
    let note = ChangeNote {
        op: "raw".into(),
        pro: who.professional,
        dev: who.device,
        target: None,
    };
    phone
        .doc_mut()
        .commit_with(CommitOptions::default().with_message(serde_json::to_string(&note).unwrap()));
    let changes = phone.doc_mut().get_changes(&before);
    assert_eq!(changes.len(), 1);
    changes[0].raw_bytes().to_vec()
}

/// The phone's changes since `before`, as a phone sends them.
fn changes_since(phone: &mut Room, before: &[ChangeHash]) -> Vec<Vec<u8>> {
    phone
        .doc_mut()
        .get_changes(before)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

fn obj(doc: &AutoCommit, path: &[&str]) -> automerge::ObjId {
    let mut o = automerge::ROOT;
    for k in path {
        o = doc.get(&o, *k).unwrap().unwrap().1;
    }
    o
}

fn refusal(s: &Served) -> String {
    match &s.outcome {
        Outcome::Refused { reason, .. } => reason.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn message_with(changes: Vec<Vec<u8>>, heads: Vec<ChangeHash>) -> Vec<u8> {
    Message {
        heads,
        need: Vec::new(),
        have: Vec::new(),
        changes: ChunkList::from(changes),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode()
}

/// Finding 1: a forbidden change sent alone in a sync message (its harmless parent missing)
/// used to wait in Automerge's queue and be released unchecked when the parent arrived.
#[test]
fn a_change_waiting_for_its_history_is_never_released_unchecked() {
    let mut s = Setup::new();
    let doctor = s.doctor.clone();
    let mut phone = s.phone(&doctor);
    let rid = s.report.to_string();
    let harmless = {
        let me = doctor.professional.to_string();
        commit(&mut phone, &doctor, |d| {
            let r = obj(d, &["reports", &rid, "receipts"]);
            d.put(&r, me.as_str(), 5_i64).unwrap();
        })
    };
    let forbidden = commit(&mut phone, &doctor, |d| {
        let c = obj(d, &["reports", &rid, "content"]);
        d.put(&c, "importance", 3_i64).unwrap();
    });
    let content_before = s.report_text();
    let heads = phone.heads();
    let first = s.serve(
        &doctor,
        Vec::new(),
        Some(message_with(vec![forbidden], heads)),
    );
    assert!(
        matches!(first.outcome, Outcome::SyncMessage { .. }),
        "{:?}",
        first.outcome
    );
    assert!(first.accepted.is_empty());
    let second = s.serve(&doctor, vec![harmless], None);
    assert_eq!(
        second.accepted.len(),
        1,
        "the harmless change alone is taken"
    );
    assert_eq!(
        s.report_text(),
        content_before,
        "the forbidden change never got in"
    );
    assert_eq!(
        s.relay.heads().len(),
        1,
        "nothing waits in the room for its history"
    );
    // The next round of the fallback brings the held change to the gate with its history
    // now in the room: refused.
    let heads = phone.heads();
    let third = s.serve(&doctor, Vec::new(), Some(message_with(Vec::new(), heads)));
    assert!(refusal(&third).contains("only the author"), "{third:?}");
    assert_eq!(s.report_text(), content_before);
}

/// The honest side of the same path: a change that arrives before its parent is held by the
/// relay (not by the room), the relay asks for the parent, and both go in together.
#[test]
fn a_change_sent_before_its_parent_goes_in_with_it() {
    let mut s = Setup::new();
    let nurse = s.nurse.clone();
    let mut phone = s.phone(&nurse);
    let rid = s.report.to_string();
    let first = commit(&mut phone, &nurse, |d| {
        let c = obj(d, &["reports", &rid, "content"]);
        d.put(&c, "importance", 2_i64).unwrap();
    });
    let first_hash = phone.heads()[0];
    let second = commit(&mut phone, &nurse, |d| {
        let c = obj(d, &["reports", &rid, "content"]);
        d.put(&c, "importance", 3_i64).unwrap();
    });
    let heads = phone.heads();
    let a = s.serve(
        &nurse,
        Vec::new(),
        Some(message_with(vec![second], heads.clone())),
    );
    let Outcome::SyncMessage { message } = &a.outcome else {
        panic!("{:?}", a.outcome);
    };
    let m = Message::decode(message).unwrap();
    assert!(
        m.need.contains(&first_hash),
        "the relay asks for the parent"
    );
    let b = s.serve(
        &nurse,
        Vec::new(),
        Some(message_with(vec![first], heads.clone())),
    );
    assert_eq!(b.accepted.len(), 2, "{:?}", b.outcome);
    assert_eq!(s.relay.heads(), heads);
}

/// Finding 2: the author record of a report, a comment and its fields are written once.
#[test]
fn nobody_hands_a_record_to_someone_else() {
    let s = Setup::new();
    let rid = s.report.to_string();
    let doctor_id = s.doctor.professional.to_string();
    let cid = s.relay.report(s.report).unwrap().comments[0].id.to_string();
    let nurse = s.nurse.clone();
    let doctor = s.doctor.clone();
    type Attack = Box<dyn Fn(&mut AutoCommit)>;
    let cases: Vec<(&str, Author, Attack)> = vec![
        ("report author", nurse.clone(), {
            let (rid, to) = (rid.clone(), doctor_id.clone());
            Box::new(move |d| {
                let a = obj(d, &["reports", &rid, "author"]);
                d.put(&a, "professional", to.as_str()).unwrap();
            })
        }),
        ("report author's name", nurse.clone(), {
            let rid = rid.clone();
            Box::new(move |d| {
                let a = obj(d, &["reports", &rid, "author"]);
                d.put(&a, "display_name", "田中").unwrap();
            })
        }),
        ("report author's device", nurse.clone(), {
            let rid = rid.clone();
            let dev = doctor.device.to_string();
            Box::new(move |d| {
                let a = obj(d, &["reports", &rid, "author"]);
                d.put(&a, "device", dev.as_str()).unwrap();
            })
        }),
        ("report post time", nurse.clone(), {
            let rid = rid.clone();
            Box::new(move |d| {
                let r = obj(d, &["reports", &rid]);
                d.put(&r, "post_time", 5_i64).unwrap();
            })
        }),
        ("comment author", doctor.clone(), {
            let (rid, cid) = (rid.clone(), cid.clone());
            let to = nurse.professional.to_string();
            Box::new(move |d| {
                let a = obj(d, &["reports", &rid, "comments", &cid, "author"]);
                d.put(&a, "professional", to.as_str()).unwrap();
            })
        }),
    ];
    for (name, who, attack) in cases {
        let mut s = Setup::new_like(&s);
        let mut phone = s.phone(&who);
        let change = commit(&mut phone, &who, |d| attack(d));
        let before = s.relay.heads();
        let served = s.serve(&who, vec![change], None);
        let why = refusal(&served);
        assert!(why.contains("written once"), "{name}: {why}");
        assert_eq!(s.relay.heads(), before, "{name}: nothing stored");
    }
}

impl Setup {
    /// A fresh relay copy of the same room (each attack starts from the same state).
    fn new_like(s: &Setup) -> Setup {
        let mut relay = s.relay.clone();
        let shared = relay.heads();
        Setup {
            relay,
            me: s.me.clone(),
            nurse: s.nurse.clone(),
            doctor: s.doctor.clone(),
            report: s.report,
            shared,
            next: 0,
            fallback: Fallback::default(),
        }
    }
}

/// Finding 4: reports the relay cannot read back never get in.
#[test]
fn reports_the_relay_cannot_read_back_are_refused() {
    let s = Setup::new();
    let nurse = s.nurse.clone();
    let me = nurse.professional.to_string();
    let dev = nurse.device.to_string();
    let new_id = ReportId::new().to_string();
    type Attack = Box<dyn Fn(&mut AutoCommit)>;
    let header = {
        let (me, dev) = (me.clone(), dev.clone());
        move |d: &mut AutoCommit, key: &str, id: &str| {
            let reports = obj(d, &["reports"]);
            let r = d.put_object(&reports, key, ObjType::Map).unwrap();
            d.put(&r, "id", id).unwrap();
            let a = d.put_object(&r, "author", ObjType::Map).unwrap();
            d.put(&a, "professional", me.as_str()).unwrap();
            d.put(&a, "device", dev.as_str()).unwrap();
            r
        }
    };
    let cases: Vec<(&str, &str, Attack)> = vec![
        ("only id and author", "cannot be read back", {
            let (h, id) = (header.clone(), new_id.clone());
            Box::new(move |d| {
                h(d, &id, &id);
            })
        }),
        ("upper-case id", "canonical", {
            let (h, id) = (header.clone(), new_id.clone());
            Box::new(move |d| {
                h(d, &id.to_uppercase(), &id.to_uppercase());
            })
        }),
        ("3,000 nested maps", "nests deeper", {
            let (h, id) = (header.clone(), new_id.clone());
            Box::new(move |d| {
                let r = h(d, &id, &id);
                let mut o = d.put_object(&r, "content", ObjType::Map).unwrap();
                for _ in 0..3_000 {
                    o = d.put_object(&o, "x", ObjType::Map).unwrap();
                }
            })
        }),
        ("a 200 KB text", "longer than any field", {
            let rid = s.report.to_string();
            Box::new(move |d| {
                let c = obj(d, &["reports", &rid, "content"]);
                d.put(&c, "note", "あ".repeat(70_000)).unwrap();
            })
        }),
    ];
    for (name, expect, attack) in cases {
        let mut s = Setup::new_like(&s);
        let mut phone = s.phone(&nurse);
        let change = commit(&mut phone, &nurse, |d| attack(d));
        let before = s.relay.heads();
        let served = s.serve(&nurse, vec![change], None);
        let why = refusal(&served);
        assert!(why.contains(expect), "{name}: {why}");
        if served.rolled_back {
            // The room is poisoned: the relay reloads it from storage. Nothing is kept.
            assert!(s.relay.is_poisoned(), "{name}");
            assert!(
                served.violation.is_some(),
                "{name}: logged as a security event"
            );
        } else {
            assert_eq!(s.relay.heads(), before, "{name}: nothing stored");
        }
        assert!(served.numbered.is_empty(), "{name}: no post number kept");
    }
}

fn deflate_chunk(body: &[u8], checksum: [u8; 4]) -> Vec<u8> {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(body).unwrap();
    let data = z.finish().unwrap();
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83];
    out.extend_from_slice(&checksum);
    out.push(2);
    let mut n = data.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(&data);
    out
}

/// Finding 5: sizes and operation counts are bounded before anything is expanded, and a
/// change that builds on nothing is refused in any room.
#[test]
fn bombs_and_rootless_changes_are_refused_before_expanding() {
    let mut s = Setup::new();
    let nurse = s.nurse.clone();
    // Inflates to 64 MiB of zeros: refused after 4 MiB, whatever it claims to be.
    let bomb = deflate_chunk(&vec![0u8; 64 << 20], [0; 4]);
    assert!(bomb.len() < 100_000);
    let served = s.serve(&nurse, vec![bomb], None);
    assert!(refusal(&served).contains("too large"), "{served:?}");
    // A real change of more operations than a request may carry, sent compressed.
    let mut phone = s.phone(&nurse);
    let rid = s.report.to_string();
    let before = phone.heads();
    {
        let d = phone.doc_mut();
        let c = obj(d, &["reports", &rid, "content"]);
        let text = d.put_object(&c, "big", ObjType::Text).unwrap();
        d.splice_text(&text, 0, 0, &"a".repeat(MAX_OPS_PER_REQUEST + 10))
            .unwrap();
    }
    let note = ChangeNote {
        op: "raw".into(),
        pro: nurse.professional,
        dev: nurse.device,
        target: None,
    };
    phone
        .doc_mut()
        .commit_with(CommitOptions::default().with_message(serde_json::to_string(&note).unwrap()));
    let mut big = phone.doc_mut().get_changes(&before).remove(0);
    let compressed = big.bytes().to_vec();
    assert!(compressed.len() < big.raw_bytes().len(), "sent compressed");
    let served = s.serve(&nurse, vec![compressed], None);
    assert!(
        refusal(&served).contains("too many operations"),
        "{served:?}"
    );
    // A change with no dependencies, numbered as if the room were empty.
    let mut rootless = AutoCommit::new().with_actor(actor_of(nurse.device));
    rootless.put(automerge::ROOT, "x", 1_i64).unwrap();
    rootless
        .commit_with(CommitOptions::default().with_message(serde_json::to_string(&note).unwrap()));
    let c = rootless.get_changes(&[]).remove(0);
    assert!(c.deps().is_empty());
    let served = s.serve(&nurse, vec![c.raw_bytes().to_vec()], None);
    assert!(
        refusal(&served).contains("build on the room's history"),
        "{served:?}"
    );
    assert_eq!(s.relay.heads(), s.shared);
}

/// Finding 8: a change whose checksum does not match its contents is refused.
#[test]
fn damaged_checksums_are_refused() {
    let mut s = Setup::new();
    let nurse = s.nurse.clone();
    let mut phone = s.phone(&nurse);
    let rid = s.report.to_string();
    let good = commit(&mut phone, &nurse, |d| {
        let c = obj(d, &["reports", &rid, "content"]);
        d.put(&c, "importance", 2_i64).unwrap();
    });
    let mut bad_sum = good.clone();
    bad_sum[5] ^= 0xff;
    let served = s.serve(&nurse, vec![bad_sum], None);
    assert!(refusal(&served).contains("checksum"), "{served:?}");
    let mut bad_body = good.clone();
    let last = bad_body.len() - 1;
    bad_body[last] ^= 0x01;
    let served = s.serve(&nurse, vec![bad_body], None);
    let why = refusal(&served);
    assert!(why.contains("checksum") || why.contains("decoded"), "{why}");
    assert_eq!(s.relay.heads(), s.shared);
    let served = s.serve(&nurse, vec![good], None);
    assert_eq!(served.accepted.len(), 1, "the undamaged change goes in");
}

/// Defence in depth: the checks after a merge catch what a hole in the rules would let in.
#[test]
fn the_checks_after_a_merge_catch_a_changed_author_or_post_number() {
    let mut s = Setup::new();
    let rid = s.report.to_string();
    let mut touched = Touched::default();
    touched.reports.insert(rid.clone());
    let before = invariants::snapshot(&s.relay, &touched);
    assert!(invariants::check(&s.relay, &before, &touched, &[]).is_ok());
    let mut changed = s.relay.clone();
    let d = changed.doc_mut();
    let a = obj(d, &["reports", &rid, "author"]);
    d.put(&a, "professional", s.doctor.professional.to_string())
        .unwrap();
    let _ = d.commit();
    assert!(invariants::check(&changed, &before, &touched, &[]).is_err());
    // A post number the relay did not hand out.
    let me = s.me.clone();
    s.relay
        .assign_post_number(&me, Timestamp(3), s.report, 777, Timestamp(3))
        .unwrap();
    assert!(invariants::check(&s.relay, &before, &touched, &[]).is_err());
    assert!(invariants::check(&s.relay, &before, &touched, &[(s.report, 777)]).is_ok());
}

/// Changes waiting for their history are held in memory within a bound: a member cannot
/// make the relay keep megabytes for every document it names.
#[test]
fn held_changes_are_bounded() {
    let mut s = Setup::new();
    let nurse = s.nurse.clone();
    let mut phone = s.phone(&nurse);
    let rid = s.report.to_string();
    let _parent = commit(&mut phone, &nurse, |d| {
        let c = obj(d, &["reports", &rid, "content"]);
        d.put(&c, "importance", 2_i64).unwrap();
    });
    let heavy = commit(&mut phone, &nurse, |d| {
        let c = obj(d, &["reports", &rid, "content"]);
        for i in 0..10 {
            d.put(&c, format!("n{i}").as_str(), "x".repeat(120_000))
                .unwrap();
        }
    });
    assert!(heavy.len() > kizuna_core::sync::relay::MAX_HELD_BYTES);
    let heads = phone.heads();
    let served = s.serve(&nurse, Vec::new(), Some(message_with(vec![heavy], heads)));
    assert!(refusal(&served).contains("wait for history"), "{served:?}");
    assert_eq!(s.relay.heads(), s.shared);
}

/// A profile field of the wrong type would make the profile unreadable for every member: the
/// checks after the merge roll it back.
#[test]
fn a_profile_no_one_could_read_back_is_rolled_back() {
    let mut s = Setup::new();
    let nurse = s.nurse.clone();
    let mut phone = s.phone(&nurse);
    let change = commit(&mut phone, &nurse, |d| {
        let b = obj(d, &["profile", "basic"]);
        d.put_object(&b, "birth_date", ObjType::List).unwrap();
    });
    assert!(s.relay.profile().is_ok());
    let served = s.serve(&nurse, vec![change], None);
    assert!(
        refusal(&served).contains("cannot be read back"),
        "{served:?}"
    );
    assert!(served.rolled_back && served.violation.is_some());
    assert!(
        s.relay.is_poisoned(),
        "the merge is dropped, the stored room reloaded"
    );
}

/// The profile's history is kept whole: nobody removes or rewrites an entry, and a new entry
/// names its writer.
#[test]
fn the_profile_history_is_written_once() {
    let mut s = Setup::new();
    let nurse = s.nurse.clone();
    let doctor = s.doctor.clone();
    s.relay
        .edit_profile(&nurse, Timestamp(5), |p| {
            p.basic.phone = Some("0312345678".into());
        })
        .unwrap();
    let mut s = Setup::new_like(&s);
    let entry = s.relay.profile_history().unwrap().len();
    assert_eq!(entry, 1);
    let mut phone = s.phone(&doctor);
    let key = {
        let d = phone.doc();
        let log = obj(d, &["profile_log"]);
        d.keys(&log).next().unwrap()
    };
    let removal = commit(&mut phone, &doctor, |d| {
        let log = obj(d, &["profile_log"]);
        d.delete(&log, key.as_str()).unwrap();
    });
    let served = s.serve(&doctor, vec![removal], None);
    assert!(refusal(&served).contains("never deleted"), "{served:?}");
    let mut phone = s.phone(&doctor);
    let rewrite = commit(&mut phone, &doctor, |d| {
        let e = obj(d, &["profile_log", &key]);
        d.put(&e, "name", "誰か").unwrap();
    });
    let served = s.serve(&doctor, vec![rewrite], None);
    assert!(refusal(&served).contains("written once"), "{served:?}");
    // An honest edit through the typed API still goes in.
    let mut phone = s.phone(&doctor);
    let before = phone.heads();
    phone
        .edit_profile(&doctor, Timestamp(6), |p| {
            p.basic.phone = Some("0398765432".into());
        })
        .unwrap();
    let honest = changes_since(&mut phone, &before);
    let served = s.serve(&doctor, honest, None);
    assert_eq!(served.accepted.len(), 1, "{served:?}");
    assert_eq!(s.relay.profile_history().unwrap().len(), 2);
}

/// A report's edit records are its history: even its author adds them and never rewrites one.
#[test]
fn a_reports_edit_records_are_written_once() {
    let mut s = Setup::new();
    let nurse = s.nurse.clone();
    let report = s.report;
    s.relay
        .edit_report(&nurse, Timestamp(5), report, |c| c.vitals.clear())
        .unwrap();
    let mut s = Setup::new_like(&s);
    let mut phone = s.phone(&nurse);
    let rid = report.to_string();
    let key = {
        let d = phone.doc();
        let edits = obj(d, &["reports", &rid, "edits"]);
        d.keys(&edits).next().unwrap()
    };
    let rewrite = commit(&mut phone, &nurse, |d| {
        let edits = obj(d, &["reports", &rid, "edits"]);
        d.delete(&edits, key.as_str()).unwrap();
    });
    let served = s.serve(&nurse, vec![rewrite], None);
    assert!(refusal(&served).contains("written once"), "{served:?}");
    let mut phone = s.phone(&nurse);
    let before = phone.heads();
    phone
        .edit_report(&nurse, Timestamp(6), report, |c| {
            c.body = kizuna_core::model::ReportBody::Free {
                text: "訂正".into(),
            }
        })
        .unwrap();
    let honest = changes_since(&mut phone, &before);
    let served = s.serve(&nurse, honest, None);
    assert_eq!(served.accepted.len(), 1, "{served:?}");
}
