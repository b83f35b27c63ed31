//! The relay's handling of one document (`sync::relay::serve_doc`) and the write rules, on
//! real rooms: what is accepted, numbered and returned, and every forbidden change refused.

use crate::fixtures::{author, second_device, soap};
use automerge::ReadDoc;
use automerge::sync::State;
use automerge::transaction::{CommitOptions, Transactable};
use kizuna_core::room::{ChangeNote, Scope, actor_of};
use kizuna_core::sync::gate::Budget;
use kizuna_core::sync::protocol::{DocSync, Outcome, from_wire, to_wire};
use kizuna_core::sync::relay::{Fallback, Served, serve_doc};
use kizuna_core::sync::write_rules::Writer;
use kizuna_core::{Author, Profession, Role, Room, RoomId, RoomKind, Timestamp};

struct Relay {
    room: Room,
    me: Author,
    next: u64,
}

impl Relay {
    fn new(id: RoomId) -> Self {
        Relay {
            room: Room::new(id, RoomKind::Patient),
            me: author("relay", Profession::Other),
            next: 0,
        }
    }

    fn serve(
        &mut self,
        device: &mut Room,
        known: &[automerge::ChangeHash],
        who: &Author,
        role: Role,
        admin: bool,
    ) -> Served {
        let changes = device
            .doc_mut()
            .get_changes(known)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        let req = DocSync {
            doc: self.room.doc_id(),
            known_heads: to_wire(known),
            changes,
            create: None,
            sync_message: None,
        };
        let w = Writer {
            professional: who.professional,
            device: who.device,
            role,
            admin,
            shown_as: None,
            vouched: None,
            numbered_elsewhere: None,
        };
        let mut next = || {
            self.next += 1;
            self.next
        };
        serve_doc(
            &mut self.room,
            &req,
            &w,
            &self.me,
            Timestamp(9_000),
            &mut next,
            &mut Fallback::default(),
            &mut Budget::default(),
        )
    }
}

fn apply(device: &mut Room, served: &Served) -> Vec<automerge::ChangeHash> {
    match &served.outcome {
        Outcome::Updated { changes, heads, .. } | Outcome::Refused { changes, heads, .. } => {
            for c in changes {
                device.apply(c).unwrap();
            }
            from_wire(heads)
        }
        Outcome::Unchanged => device.heads(),
        other => panic!("unexpected outcome {other:?}"),
    }
}

fn refusal(served: &Served) -> String {
    match &served.outcome {
        Outcome::Refused { reason, .. } => reason.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn posts_are_accepted_numbered_and_sent_back_in_one_round_trip() {
    let id = RoomId::new();
    let mut relay = Relay::new(id);
    let nurse = author("佐藤", Profession::Nurse);
    let doctor = author("田中", Profession::Doctor);
    let mut a = Room::new(id, RoomKind::Patient);
    let mut b = Room::new(id, RoomKind::Patient);
    let genesis = a.heads();
    let r1 = a.post_report(&nurse, Timestamp(1), &soap(1, "a")).unwrap();
    let r2 = b.post_report(&doctor, Timestamp(2), &soap(2, "b")).unwrap();
    let s = relay.serve(&mut a, &genesis, &nurse, Role::Writer, false);
    assert_eq!(s.accepted.len(), 1);
    assert_eq!(s.numbered, vec![(r1, 1)]);
    let ka = apply(&mut a, &s);
    assert_eq!(
        a.report(r1).unwrap().post_no,
        Some(1),
        "the number comes back in the same answer"
    );
    let s = relay.serve(&mut b, &genesis, &doctor, Role::Writer, false);
    let kb = apply(&mut b, &s);
    assert_eq!(b.report(r2).unwrap().post_no, Some(2));
    assert_eq!(b.report(r1).unwrap().post_no, Some(1));
    let s = relay.serve(&mut a, &ka, &nurse, Role::Writer, false);
    apply(&mut a, &s);
    assert_eq!(a.heads(), b.heads());
    assert_eq!(a.heads(), relay.room.heads());
    // Nothing new on either side: nothing comes back.
    let hb = b.heads();
    let s = relay.serve(&mut b, &hb, &doctor, Role::Writer, false);
    assert!(matches!(s.outcome, Outcome::Unchanged));
    let _ = kb;
}

/// Makes a raw change on `device` as `who`, bypassing the typed API's own checks, as a
/// modified app could.
fn raw_change(device: &mut Room, who: &Author, f: impl FnOnce(&mut automerge::AutoCommit)) {
    device.doc_mut().set_actor(actor_of(who.device));
    f(device.doc_mut());
    let note = ChangeNote {
        op: "raw".into(),
        pro: who.professional,
        dev: who.device,
        target: None,
    };
    device
        .doc_mut()
        .commit_with(CommitOptions::default().with_message(serde_json::to_string(&note).unwrap()));
}

fn map(doc: &automerge::AutoCommit, path: &[&str]) -> automerge::ObjId {
    let mut obj = automerge::ROOT;
    for k in path {
        obj = doc.get(&obj, *k).unwrap().unwrap().1;
    }
    obj
}

#[test]
fn every_forbidden_change_is_refused_and_nothing_is_stored() {
    let id = RoomId::new();
    let mut relay = Relay::new(id);
    let nurse = author("佐藤", Profession::Nurse);
    let doctor = author("田中", Profession::Doctor);
    let reader = author("読者", Profession::Helper);
    let admin = author("市", Profession::CityAdministrator);
    let mut base = Room::new(id, RoomKind::Patient);
    let g = base.heads();
    let rid = base
        .post_report(&nurse, Timestamp(1), &soap(1, "x"))
        .unwrap();
    let cid = base
        .add_comment(&doctor, Timestamp(2), rid, "了解")
        .unwrap();
    // Put the shared history on the relay through its rightful authors.
    let mut nurse_dev = Room::new(id, RoomKind::Patient);
    nurse_dev.apply(&base.save_after(&g)).unwrap();
    let shared = base.heads();
    relay.room.apply(&base.save_after(&g)).unwrap();
    let rid_s = rid.to_string();
    let cid_s = cid.to_string();

    type Attack = Box<dyn Fn(&mut Room)>;
    let cases: Vec<(&str, Author, Role, bool, Attack)> = vec![
        (
            "another author's report",
            doctor.clone(),
            Role::Writer,
            false,
            {
                let rid_s = rid_s.clone();
                Box::new(move |d: &mut Room| {
                    let content = map(d.doc(), &["reports", &rid_s, "content"]);
                    let doc = d.doc_mut();
                    doc.put(&content, "importance", 3_i64).unwrap();
                })
            },
        ),
        ("relay fields", nurse.clone(), Role::Writer, false, {
            let rid_s = rid_s.clone();
            Box::new(move |d: &mut Room| {
                let r = map(d.doc(), &["reports", &rid_s]);
                d.doc_mut()
                    .put_object(&r, "relay", automerge::ObjType::Map)
                    .unwrap();
            })
        }),
        ("another's comment", nurse.clone(), Role::Writer, false, {
            let (rid_s, cid_s) = (rid_s.clone(), cid_s.clone());
            Box::new(move |d: &mut Room| {
                let c = map(d.doc(), &["reports", &rid_s, "comments", &cid_s]);
                d.doc_mut().put(&c, "text", "書き換え").unwrap();
            })
        }),
        ("deleting a comment", doctor.clone(), Role::Writer, false, {
            let (rid_s, cid_s) = (rid_s.clone(), cid_s.clone());
            Box::new(move |d: &mut Room| {
                let c = map(d.doc(), &["reports", &rid_s, "comments"]);
                d.doc_mut().delete(&c, cid_s.as_str()).unwrap();
            })
        }),
        ("another's receipt", doctor.clone(), Role::Writer, false, {
            let rid_s = rid_s.clone();
            let nurse_id = nurse.professional.to_string();
            Box::new(move |d: &mut Room| {
                let r = map(d.doc(), &["reports", &rid_s, "receipts"]);
                d.doc_mut().put(&r, nurse_id.as_str(), 5_i64).unwrap();
            })
        }),
        (
            "consent by a nurse",
            nurse.clone(),
            Role::Writer,
            false,
            Box::new(|d: &mut Room| {
                let c = map(d.doc(), &["consent"]);
                d.doc_mut().put(&c, "given_by", "x").unwrap();
            }),
        ),
        (
            "replacing a section",
            nurse.clone(),
            Role::Writer,
            false,
            Box::new(|d: &mut Room| {
                d.doc_mut()
                    .put_object(automerge::ROOT, "reports", automerge::ObjType::Map)
                    .unwrap();
            }),
        ),
        ("deleting a report", nurse.clone(), Role::Writer, false, {
            let rid_s = rid_s.clone();
            Box::new(move |d: &mut Room| {
                let r = map(d.doc(), &["reports"]);
                d.doc_mut().delete(&r, rid_s.as_str()).unwrap();
            })
        }),
        (
            "a reader editing the profile",
            reader.clone(),
            Role::Reader,
            false,
            Box::new(|d: &mut Room| {
                let p = map(d.doc(), &["profile", "basic"]);
                d.doc_mut().put(&p, "phone", "000").unwrap();
            }),
        ),
    ];
    let mut reasons = Vec::new();
    for (name, who, role, is_admin, attack) in cases {
        let mut tmp = Room::new(id, RoomKind::Patient);
        tmp.apply(&base.save_after(&g)).unwrap();
        raw_change(&mut tmp, &who, |_| {});
        tmp.doc_mut().set_actor(actor_of(who.device));
        attack(&mut tmp);
        let note = ChangeNote {
            op: "raw".into(),
            pro: who.professional,
            dev: who.device,
            target: None,
        };
        tmp.doc_mut().commit_with(
            CommitOptions::default().with_message(serde_json::to_string(&note).unwrap()),
        );
        assert_eq!(
            tmp.doc_mut().get_changes(&shared).len(),
            1,
            "{name}: one attacking change"
        );
        let relay_heads = relay.room.heads();
        let s = relay.serve(&mut tmp, &shared, &who, role, is_admin);
        let why = refusal(&s);
        reasons.push(why.clone());
        assert!(!why.is_empty(), "{name}");
        assert!(s.accepted.is_empty(), "{name}: nothing accepted");
        assert_eq!(
            relay.room.heads(),
            relay_heads,
            "{name}: the relay stored nothing"
        );
        assert!(
            !why.contains("identity"),
            "{name}: refused for the wrong reason: {why}"
        );
    }

    assert_eq!(
        reasons,
        [
            "only the author changes a report",
            "post numbers and received times are set by the relay only",
            "only the author of a comment changes it",
            "comments are never deleted or replaced",
            "a read receipt may only be set for oneself",
            "only administrators write here",
            "the top-level sections of a room are fixed",
            "reports are never deleted or replaced",
            "readers may only mark what they read",
        ]
    );

    // The reader may set their own receipt; the administrator may write consent.
    let mut dev = Room::new(id, RoomKind::Patient);
    dev.apply(&base.save_after(&g)).unwrap();
    dev.mark_read(&reader, Timestamp(5), rid).unwrap();
    let s = relay.serve(&mut dev, &shared, &reader, Role::Reader, false);
    assert_eq!(s.accepted.len(), 1, "{:?}", s.outcome);
    let consent = kizuna_core::model::Consent {
        given_by: "山田 太郎".into(),
        relation: "本人".into(),
        date: "2026-04-01".parse().unwrap(),
        obtained_by: "市 職員".into(),
        obtained_by_id: None,
        form: None,
    };
    let known = relay.room.heads();
    let mut dev = Room::new(id, RoomKind::Patient);
    dev.apply(&relay.room.save()).unwrap();
    dev.set_consent(&admin, Timestamp(6), &consent).unwrap();
    let s = relay.serve(&mut dev, &known, &admin, Role::Writer, true);
    assert_eq!(s.accepted.len(), 1, "{:?}", s.outcome);
    let _ = nurse_dev;
}

#[test]
fn a_change_under_another_devices_actor_is_refused() {
    let id = RoomId::new();
    let mut relay = Relay::new(id);
    let nurse = author("佐藤", Profession::Nurse);
    let thief = second_device(&nurse);
    let mut dev = Room::new(id, RoomKind::Patient);
    let g = dev.heads();
    dev.post_report(&nurse, Timestamp(1), &soap(1, "x"))
        .unwrap();
    // Sent by `thief` (another device of the same person): the actor is not its own.
    let s = relay.serve(&mut dev, &g, &thief, Role::Writer, false);
    assert_eq!(refusal(&s), "a change claims another device's identity");
    // A change that names another professional in its note.
    let other = author("田中", Profession::Doctor);
    let mut dev = Room::new(id, RoomKind::Patient);
    let forged = Author {
        professional: other.professional,
        ..nurse.clone()
    };
    dev.post_report(&forged, Timestamp(1), &soap(1, "x"))
        .unwrap();
    let s = relay.serve(&mut dev, &g, &nurse, Role::Writer, false);
    assert_eq!(
        refusal(&s),
        "a change does not name its own professional and device"
    );
}

#[test]
fn unknown_heads_fall_back_to_the_sync_protocol_and_converge() {
    let id = RoomId::new();
    let mut relay = Relay::new(id);
    let nurse = author("佐藤", Profession::Nurse);
    let mut dev = Room::new(id, RoomKind::Patient);
    let g = dev.heads();
    dev.post_report(&nurse, Timestamp(1), &soap(1, "x"))
        .unwrap();
    let known = dev.heads(); // the relay has never seen these
    let w = Writer {
        professional: nurse.professional,
        device: nurse.device,
        role: Role::Writer,
        admin: false,
        shown_as: None,
        vouched: None,
        numbered_elsewhere: None,
    };
    let mut relay_state = Fallback::default();
    let mut dev_state = State::new();
    let mut req = DocSync {
        doc: id,
        known_heads: to_wire(&known),
        changes: vec![],
        create: None,
        sync_message: None,
    };
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 10, "fallback did not converge");
        let mut next = || 1;
        let s = serve_doc(
            &mut relay.room,
            &req,
            &w,
            &relay.me,
            Timestamp(5),
            &mut next,
            &mut relay_state,
            &mut Budget::default(),
        );
        match s.outcome {
            Outcome::SyncMessage { message } => {
                use automerge::sync::{Message, SyncDoc};
                let m = Message::decode(&message).unwrap();
                dev.doc_mut()
                    .sync()
                    .receive_sync_message(&mut dev_state, m)
                    .unwrap();
                let reply = dev.doc_mut().sync().generate_sync_message(&mut dev_state);
                req = DocSync {
                    doc: id,
                    known_heads: vec![],
                    changes: vec![],
                    create: None,
                    sync_message: reply.map(|m| m.encode()),
                };
                if req.sync_message.is_none() {
                    break;
                }
            }
            Outcome::Updated { .. } | Outcome::Unchanged => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        relay.room.report_ids().unwrap().len(),
        1,
        "the report reached the relay via the fallback"
    );
    let _ = g;
}

#[test]
fn restricted_reports_live_only_in_their_audience_document() {
    let id = RoomId::new();
    let nurse = author("佐藤", Profession::Nurse);
    let doctor = author("田中", Profession::Doctor);
    let mut main = Room::new(id, RoomKind::Patient);
    let mut content = soap(1, "秘密");
    content.scope = kizuna_core::model::ShareScope::Members {
        members: vec![doctor.professional],
    };
    assert!(
        main.post_report(&nurse, Timestamp(1), &content).is_err(),
        "never into the main document"
    );
    let scope = Scope::new(id, vec![doctor.professional, nurse.professional]);
    let mut scoped = Room::new_scoped(scope.clone());
    scoped.post_report(&nurse, Timestamp(1), &content).unwrap();
    assert_eq!(scoped.patient_room(), id);
    let bytes = scoped.save();
    assert!(
        !main
            .save()
            .windows("秘密".len())
            .any(|w| w == "秘密".as_bytes())
    );
    let reloaded = Room::load(scope.doc_id(), &bytes).unwrap();
    assert_eq!(reloaded.scope(), Some(&scope));
    // The same audience from another device maps to the same document.
    let other_order = Scope::new(id, vec![nurse.professional, doctor.professional]);
    assert_eq!(other_order.doc_id(), scoped.doc_id());
}

/// Serves every document of a device's request, as the relay's sync does (without I/O).
fn serve_request(
    relay: &mut Relay,
    req: &kizuna_core::sync::SyncRequest,
    who: &Author,
    state: &mut Fallback,
) -> kizuna_core::sync::SyncResponse {
    let w = Writer {
        professional: who.professional,
        device: who.device,
        role: Role::Writer,
        admin: false,
        shown_as: None,
        vouched: None,
        numbered_elsewhere: None,
    };
    let mut docs = Vec::new();
    for doc in &req.docs {
        let mut next = || {
            relay.next += 1;
            relay.next
        };
        let served = serve_doc(
            &mut relay.room,
            doc,
            &w,
            &relay.me,
            Timestamp(9_000),
            &mut next,
            state,
            &mut Budget::default(),
        );
        docs.push(kizuna_core::sync::DocResult {
            doc: doc.doc,
            outcome: served.outcome,
        });
    }
    kizuna_core::sync::SyncResponse {
        version: kizuna_core::sync::protocol::PROTOCOL_VERSION,
        docs,
        more: false,
    }
}

/// Whether the answer carries changes inside a fallback sync message.
fn carries_changes(resp: &kizuna_core::sync::SyncResponse) -> bool {
    resp.docs.iter().any(|d| match &d.outcome {
        Outcome::SyncMessage { message } => !automerge::sync::Message::decode(message)
            .unwrap()
            .changes
            .is_empty(),
        _ => false,
    })
}

/// Any answer of the relay can be lost: a cut link, a request the phone sends twice (the
/// first answer goes nowhere), a phone killed before it applied the answer. In the fallback
/// the relay kept Automerge's sync state between requests, and that state notes what was
/// sent as received: an answer lost in the fallback left the phone without those changes
/// for as long as the relay ran — it did not send them again even when the phone asked for
/// them by hash — so the fallback never ended and the phone's own later work waited behind
/// it (`kizuna-sim --restore-at 30 --device-kill-every 5` ended with a room that differed).
#[test]
fn a_fallback_answer_the_phone_never_applied_is_sent_again() {
    use kizuna_core::RoomStore;
    use kizuna_core::sync::device::{apply_response, build_request};
    let dir = tempfile::tempdir().unwrap();
    let store = RoomStore::open(dir.path(), &[0x42; 32]).unwrap();
    let id = RoomId::new();
    let mut relay = Relay::new(id);
    let nurse = author("佐藤", Profession::Nurse);
    let doctor = author("田中", Profession::Doctor);
    let phone_room = Room::load(id, &relay.room.save()).unwrap();
    let h = store
        .add_synced_room(phone_room, relay.room.heads())
        .unwrap();
    // The phone posted a report the relay had acknowledged, then lost in a restore: the
    // phone names heads the relay does not know, so the two fall back.
    h.write(|r| r.post_report(&nurse, Timestamp(10), &soap(10, "a")))
        .unwrap();
    let acknowledged = h.read(|r| Ok(r.heads())).unwrap();
    h.update_sync(|m| m.set_relay_heads(&acknowledged)).unwrap();
    // Meanwhile a teammate's report reached the restored relay.
    relay
        .room
        .post_report(&doctor, Timestamp(20), &soap(20, "b"))
        .unwrap();

    let mut state = Fallback::default();
    let mut lost_one = false;
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 12, "the fallback did not end");
        let req = build_request(&store, false).unwrap();
        let resp = serve_request(&mut relay, &req, &nurse, &mut state);
        if !lost_one && carries_changes(&resp) {
            // The phone is killed before it applies this answer: it sends the same
            // request (its stored sync message) again.
            lost_one = true;
            continue;
        }
        if !apply_response(&store, &resp).unwrap().again {
            break;
        }
    }
    assert!(lost_one, "an answer with changes was lost");
    let meta = h.meta();
    let relay_heads = relay.room.heads();
    assert_eq!(
        meta.relay_heads(),
        relay_heads,
        "the phone knows where the relay stands"
    );
    assert_eq!(
        meta.saved_heads(),
        relay_heads,
        "the phone holds everything the relay holds, and the relay everything the phone holds"
    );
    assert_eq!(relay.room.report_ids().unwrap().len(), 2);
    assert_eq!(h.read(|r| r.report_ids()).unwrap().len(), 2);
}

/// After a restore, a report can come back without its post number: the relay stored the
/// report and the change numbering it, was killed before its answer left, and the backup
/// predates both — the phone never had the number, and no one else did. The relay numbers
/// it when it takes the report back (`kizuna-sim --restore-at 30 --seed 4` ended with a
/// report without a number).
#[test]
fn a_report_recovered_without_its_number_is_numbered() {
    let id = RoomId::new();
    let mut relay = Relay::new(id);
    let nurse = author("佐藤", Profession::Nurse);
    let mut phone = Room::load(id, &relay.room.save()).unwrap();
    let known = phone.heads();
    let rid = phone
        .post_report(&nurse, Timestamp(10), &soap(10, "a"))
        .unwrap();
    let back: std::collections::HashSet<_> = phone
        .doc_mut()
        .get_changes(&known)
        .into_iter()
        .map(|c| c.hash())
        .collect();
    // The relay's ledger vouches for the report (stored before the relay was killed); the
    // numbering change is in the ledger too, but no phone has it.
    let req = DocSync {
        doc: id,
        known_heads: to_wire(&known),
        changes: phone
            .doc_mut()
            .get_changes(&known)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect(),
        create: None,
        sync_message: None,
    };
    let w = Writer {
        professional: nurse.professional,
        device: nurse.device,
        role: Role::Writer,
        admin: false,
        shown_as: None,
        vouched: Some(std::sync::Arc::new(back)),
        numbered_elsewhere: None,
    };
    let mut n = relay.next;
    let served = serve_doc(
        &mut relay.room,
        &req,
        &w,
        &relay.me,
        Timestamp(9_000),
        &mut || {
            n += 1;
            n
        },
        &mut Fallback::default(),
        &mut Budget::default(),
    );
    assert!(
        matches!(served.outcome, Outcome::Updated { .. }),
        "{:?}",
        served.outcome
    );
    assert_eq!(served.numbered, vec![(rid, 1)]);
    let numbers = relay.room.post_numbers();
    assert_eq!(numbers.len(), 1);
    assert_eq!((numbers[0].0, numbers[0].1), (rid, 1));
}

/// After a restore, the patient room's main document and its restricted ones share one
/// sequence of post numbers: a restricted report numbered 1 before the restore, coming back
/// while the main document's new report took 1 after it, is given the next number instead of
/// keeping a number another document holds.
#[test]
fn a_number_another_document_of_the_room_holds_is_given_anew() {
    let id = RoomId::new();
    let mut old = Relay::new(id);
    let restored = old.room.save();
    let nurse = author("佐藤", Profession::Nurse);
    let mut phone = Room::load(id, &restored).unwrap();
    let known = phone.heads();
    let rid = phone
        .post_report(&nurse, Timestamp(10), &soap(10, "a"))
        .unwrap();
    // The relay before the restore numbered it 1; the phone applied that answer.
    let served = old.serve(&mut phone, &known, &nurse, Role::Writer, false);
    assert_eq!(served.numbered, vec![(rid, 1)]);
    let Outcome::Updated { changes, .. } = served.outcome else {
        panic!("{:?}", served.outcome)
    };
    for c in &changes {
        phone.apply(c).unwrap();
    }
    let back: std::collections::HashSet<_> = phone
        .doc_mut()
        .get_changes(&known)
        .into_iter()
        .map(|c| c.hash())
        .collect();
    // The restored relay: the room as backed up, number 1 held by another document now.
    let mut relay = Relay {
        room: Room::load(id, &restored).unwrap(),
        me: author("relay", Profession::Other),
        next: 1,
    };
    let req = DocSync {
        doc: id,
        known_heads: to_wire(&known),
        changes: phone
            .doc_mut()
            .get_changes(&known)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect(),
        create: None,
        sync_message: None,
    };
    let w = Writer {
        professional: nurse.professional,
        device: nurse.device,
        role: Role::Writer,
        admin: false,
        shown_as: None,
        vouched: Some(std::sync::Arc::new(back)),
        numbered_elsewhere: Some(std::sync::Arc::new([1u64].into_iter().collect())),
    };
    let mut n = relay.next;
    let served = serve_doc(
        &mut relay.room,
        &req,
        &w,
        &relay.me,
        Timestamp(9_000),
        &mut || {
            n += 1;
            n
        },
        &mut Fallback::default(),
        &mut Budget::default(),
    );
    assert!(
        matches!(served.outcome, Outcome::Updated { .. }),
        "{:?}",
        served.outcome
    );
    assert_eq!(served.numbered, vec![(rid, 2)]);
    let numbers = relay.room.post_numbers();
    assert_eq!(numbers.len(), 1);
    assert_eq!((numbers[0].0, numbers[0].1), (rid, 2));
}
