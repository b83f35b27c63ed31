//! Sync end to end: a real relay on loopback (TLS 1.3, client certificates, encrypted sled
//! stores), phones with their own stores syncing through the HTTPS transport.

use kizuna_client::Transport;
use kizuna_core::room::Scope;
use kizuna_core::sync::protocol::{
    DocSync, Outcome, PROTOCOL_VERSION, SyncRequest, SyncResponse, to_wire,
};
use kizuna_core::{Author, Profession, Role, RoomId, Timestamp};
use kizuna_testkit::{LoopbackRelay, Phone};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::time::Duration;

struct Setup {
    _tmp: tempfile::TempDir,
    relay: LoopbackRelay,
    room: RoomId,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let relay = LoopbackRelay::start_blocking(&tmp.path().join("relay"), None).unwrap();
    let room = relay.blocking_patient_room("山田 花子").unwrap();
    Setup {
        _tmp: tmp,
        relay,
        room,
    }
}

fn phone(s: &Setup, name: &str, profession: Profession, role: Option<Role>) -> Phone {
    let p = s.relay.blocking_add(name, profession).unwrap();
    if let Some(role) = role {
        s.relay.blocking_invite(s.room, p.id, role).unwrap();
    }
    let dir = s._tmp.path().join(format!("phone-{}", p.id));
    s.relay.enroll_phone(&p, &dir).unwrap()
}

fn texts(p: &Phone, room: RoomId) -> BTreeSet<String> {
    p.reports(room).unwrap().into_iter().map(|r| r.2).collect()
}

#[test]
fn five_phones_writing_offline_converge_with_dense_post_numbers() {
    let s = setup();
    let phones: Vec<Phone> = (0..5)
        .map(|i| {
            phone(
                &s,
                &format!("看護師{i}"),
                Profession::Nurse,
                Some(Role::Writer),
            )
        })
        .collect();
    for p in &phones {
        p.sync().unwrap();
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut written = BTreeSet::new();
    for round in 0..4 {
        // Everyone writes offline at the same time…
        for (i, p) in phones.iter().enumerate() {
            for k in 0..rng.random_range(1..4) {
                let text = format!("r{round} p{i} k{k}");
                p.post(s.room, &Phone::text(&text, None)).unwrap();
                written.insert(text);
            }
        }
        // …then they come back online in a random order.
        let mut order: Vec<usize> = (0..phones.len()).collect();
        order.shuffle(&mut rng);
        for i in order {
            phones[i].sync().unwrap();
        }
    }
    for p in &phones {
        p.sync().unwrap();
    }
    let first = phones[0].heads().unwrap();
    for p in &phones {
        assert_eq!(p.heads().unwrap(), first, "every phone holds the same room");
        assert_eq!(texts(p, s.room), written, "nothing lost");
    }
    let mut numbers: Vec<u64> = phones[0]
        .reports(s.room)
        .unwrap()
        .into_iter()
        .map(|r| r.1.expect("every report has a post number"))
        .collect();
    numbers.sort_unstable();
    let expected: Vec<u64> = (1..=written.len() as u64).collect();
    assert_eq!(numbers, expected, "post numbers are dense and unique");
    let verdict = s.relay.relay.audit().verify().unwrap();
    assert!(verdict.intact, "{verdict:?}");
}

#[test]
fn concurrent_syncs_still_number_densely() {
    let s = setup();
    let phones: Vec<Phone> = (0..4)
        .map(|i| {
            phone(
                &s,
                &format!("看護師{i}"),
                Profession::Nurse,
                Some(Role::Writer),
            )
        })
        .collect();
    for p in &phones {
        p.sync().unwrap();
        for k in 0..5 {
            p.post(
                s.room,
                &Phone::text(&format!("{} {k}", p.author.display_name), None),
            )
            .unwrap();
        }
    }
    std::thread::scope(|scope| {
        for p in &phones {
            scope.spawn(|| p.sync().unwrap());
        }
    });
    for p in &phones {
        p.sync().unwrap();
    }
    let mut numbers: Vec<u64> = phones[0]
        .reports(s.room)
        .unwrap()
        .into_iter()
        .filter_map(|r| r.1)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=20).collect::<Vec<u64>>());
}

#[test]
fn forbidden_changes_are_refused_and_the_rest_of_the_request_goes_through() {
    let s = setup();
    let nurse = phone(&s, "看護師", Profession::Nurse, Some(Role::Writer));
    let pharmacist = phone(&s, "薬剤師", Profession::Pharmacist, Some(Role::Reader));
    let second_room = s.relay.blocking_patient_room("鈴木 一郎").unwrap();
    s.relay
        .blocking_invite(second_room, pharmacist.author.professional, Role::Writer)
        .unwrap();
    nurse.sync().unwrap();
    pharmacist.sync().unwrap();

    // A reader posts into the first room, and legitimately into the second, in one request.
    pharmacist
        .post(s.room, &Phone::text("reader post", None))
        .unwrap();
    pharmacist
        .post(second_room, &Phone::text("allowed post", None))
        .unwrap();
    let report = pharmacist.sync().unwrap();
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert_eq!(report.refused[0].0, s.room);
    assert!(report.refused[0].1.contains("reader"), "{report:?}");
    nurse.sync().unwrap();
    assert!(
        !texts(&nurse, s.room).contains("reader post"),
        "a refused change is not forwarded"
    );
    let second = pharmacist.reports(second_room).unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(
        second[0].1,
        Some(1),
        "the allowed post was accepted and numbered"
    );

    // A change signed with another device's actor id.
    let forged = Author {
        device: nurse.author.device,
        ..pharmacist.author.clone()
    };
    pharmacist
        .store()
        .open_room(second_room)
        .unwrap()
        .write(|r| r.post_report(&forged, Timestamp::now(), &Phone::text("forged", None)))
        .unwrap();
    let report = pharmacist.sync().unwrap();
    assert_eq!(report.refused.len(), 2, "{report:?}");

    // Consent is written by administrators only.
    let consent = kizuna_core::model::Consent {
        given_by: "誰か".into(),
        relation: "本人".into(),
        date: kizuna_core::Date::new(2026, 1, 1).unwrap(),
        obtained_by: "看護師".into(),
        obtained_by_id: None,
        form: None,
    };
    let nurse_room = nurse.store().open_room(s.room).unwrap();
    nurse_room
        .write(|r| r.set_consent(&nurse.author, Timestamp::now(), &consent))
        .unwrap();
    let report = nurse.sync().unwrap();
    assert_eq!(report.refused.len(), 1, "{report:?}");
    let refused: Vec<_> = s
        .relay
        .relay
        .audit()
        .export(&Default::default(), 10_000)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "refused")
        .collect();
    assert!(refused.len() >= 3, "refusals are audited: {refused:?}");
}

#[test]
fn non_members_receive_nothing_and_restricted_reports_reach_only_their_audience() {
    let s = setup();
    let nurse = phone(&s, "看護師", Profession::Nurse, Some(Role::Writer));
    let doctor = phone(&s, "医師", Profession::Doctor, Some(Role::Writer));
    let helper = phone(&s, "ヘルパー", Profession::Helper, Some(Role::Writer));
    let outsider = phone(&s, "他の看護師", Profession::Nurse, None);
    for p in [&nurse, &doctor, &helper, &outsider] {
        p.sync().unwrap();
    }
    let marker = "SECRET-MARKER-4711";
    nurse
        .post(s.room, &Phone::text("everyone sees this", None))
        .unwrap();
    nurse
        .post(
            s.room,
            &Phone::text(marker, Some(vec![doctor.author.professional])),
        )
        .unwrap();
    nurse.sync().unwrap();
    doctor.sync().unwrap();
    helper.sync().unwrap();
    assert!(texts(&doctor, s.room).contains(marker));
    assert!(!texts(&helper, s.room).contains(marker));
    assert!(texts(&helper, s.room).contains("everyone sees this"));

    // Raw requests: the helper names the restricted document, the outsider the room.
    let scoped = nurse.store().scoped_docs(s.room).unwrap();
    assert_eq!(scoped.len(), 1);
    let raw = |p: &Phone, doc: RoomId| -> (Vec<u8>, SyncResponse) {
        let t = kizuna_client::HttpsTransport::new(
            &p.identity.url,
            &p.identity.ca_pem,
            &p.identity.crt_pem,
            &p.identity.key_pem,
        )
        .unwrap();
        let req = SyncRequest {
            version: PROTOCOL_VERSION,
            docs: vec![DocSync {
                doc,
                known_heads: Vec::new(),
                changes: Vec::new(),
                create: None,
                sync_message: None,
            }],
            discover: true,
        };
        let bytes = t.exchange(req.encode()).unwrap();
        let resp = SyncResponse::decode(&bytes).unwrap();
        (bytes, resp)
    };
    let (bytes, resp) = raw(&helper, scoped[0]);
    assert!(!String::from_utf8_lossy(&bytes).contains(marker));
    let named = resp.docs.iter().find(|d| d.doc == scoped[0]).unwrap();
    assert_eq!(named.outcome, Outcome::Gone);
    let (bytes, resp) = raw(&outsider, s.room);
    assert!(!String::from_utf8_lossy(&bytes).contains("everyone sees this"));
    assert!(
        resp.docs
            .iter()
            .all(|d| d.doc != s.room || d.outcome == Outcome::Gone)
    );
    assert!(
        resp.docs
            .iter()
            .all(|d| !matches!(d.outcome, Outcome::New { .. }) || d.doc != s.room)
    );
    assert!(outsider.store().open_room(s.room).is_err());

    // Removed from the room: the phone is told to delete its copy.
    s.relay
        .blocking_remove(s.room, helper.author.professional)
        .unwrap();
    let report = helper.sync().unwrap();
    assert!(report.removed.contains(&s.room), "{report:?}");
    assert!(helper.store().open_room(s.room).is_err());
}

#[test]
fn a_restarted_relay_keeps_everything_it_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::start_blocking(&data, None).unwrap();
    let addr = relay.addr;
    let room = relay.blocking_patient_room("佐藤 太郎").unwrap();
    let a = relay.blocking_add("看護師A", Profession::Nurse).unwrap();
    let b = relay.blocking_add("看護師B", Profession::Nurse).unwrap();
    relay.blocking_invite(room, a.id, Role::Writer).unwrap();
    relay.blocking_invite(room, b.id, Role::Writer).unwrap();
    let pa = relay.enroll_phone(&a, &tmp.path().join("a")).unwrap();
    let pb = relay.enroll_phone(&b, &tmp.path().join("b")).unwrap();
    pa.sync().unwrap();
    for i in 0..10 {
        pa.post(room, &Phone::text(&format!("before restart {i}"), None))
            .unwrap();
    }
    pa.sync().unwrap();
    let acknowledged = texts(&pa, room);
    relay.stop();

    let relay = LoopbackRelay::start_blocking(&data, Some(addr)).unwrap();
    pb.sync().unwrap();
    assert_eq!(texts(&pb, room), acknowledged);
    pb.post(room, &Phone::text("after restart", None)).unwrap();
    pb.sync().unwrap();
    let pa = pa.restart().unwrap();
    pa.sync().unwrap();
    assert!(texts(&pa, room).contains("after restart"));
    let numbers: BTreeSet<u64> = pa
        .reports(room)
        .unwrap()
        .into_iter()
        .filter_map(|r| r.1)
        .collect();
    assert_eq!(
        numbers,
        (1..=11).collect(),
        "numbering continues after the restart"
    );
    assert!(relay.relay.audit().verify().unwrap().intact);
}

#[test]
fn an_online_phone_hears_of_a_new_post_at_once() {
    let s = setup();
    let nurse = phone(&s, "看護師", Profession::Nurse, Some(Role::Writer));
    let doctor = phone(&s, "医師", Profession::Doctor, Some(Role::Writer));
    nurse.sync().unwrap();
    doctor.sync().unwrap();
    let t = kizuna_client::HttpsTransport::new(
        &doctor.identity.url,
        &doctor.identity.ca_pem,
        &doctor.identity.crt_pem,
        &doctor.identity.key_pem,
    )
    .unwrap();
    let start = t.wait_for_changes(0, Duration::from_secs(1)).unwrap();
    let waiter = std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        let ev = t.wait_for_changes(start.cursor, Duration::from_secs(20));
        (ev, t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    nurse.post(s.room, &Phone::text("new", None)).unwrap();
    nurse.sync().unwrap();
    let (ev, _waited) = waiter.join().unwrap();
    let ev = ev.unwrap();
    assert_eq!(ev.docs, vec![s.room]);
    doctor.sync().unwrap();
    assert!(texts(&doctor, s.room).contains("new"));
}

#[test]
fn a_revoked_phone_is_told_so_on_sync() {
    let s = setup();
    let nurse = phone(&s, "看護師", Profession::Nurse, Some(Role::Writer));
    nurse.sync().unwrap();
    let device = nurse.author.device;
    s.relay
        .with_admin(async move |c| c.revoke(device, true).await)
        .unwrap();
    match nurse.sync() {
        Err(kizuna_client::SyncError::Transport(kizuna_client::TransportError::Revoked {
            wipe,
        })) => assert!(wipe),
        other => panic!("expected revocation, got {other:?}"),
    }
}

#[test]
fn garbage_and_wrong_versions_get_clear_errors() {
    let s = setup();
    let nurse = phone(&s, "看護師", Profession::Nurse, Some(Role::Writer));
    let t = kizuna_client::HttpsTransport::new(
        &nurse.identity.url,
        &nurse.identity.ca_pem,
        &nurse.identity.crt_pem,
        &nurse.identity.key_pem,
    )
    .unwrap();
    match t.exchange(vec![0xff; 100]) {
        Err(kizuna_client::TransportError::Rejected { status, .. }) => assert_eq!(status, 400),
        other => panic!("{other:?}"),
    }
    let old = SyncRequest {
        version: PROTOCOL_VERSION + 1,
        docs: Vec::new(),
        discover: false,
    };
    match t.exchange(old.encode()) {
        Err(kizuna_client::TransportError::Rejected { status, detail }) => {
            assert_eq!(status, 400);
            assert!(detail.contains("version"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    // Changes that are not Automerge changes: refused, the relay keeps serving.
    let req = SyncRequest {
        version: PROTOCOL_VERSION,
        docs: vec![DocSync {
            doc: s.room,
            known_heads: to_wire(&[]),
            changes: vec![vec![1, 2, 3]],
            create: None,
            sync_message: None,
        }],
        discover: false,
    };
    let resp = SyncResponse::decode(&t.exchange(req.encode()).unwrap()).unwrap();
    assert!(matches!(
        resp.docs[0].outcome,
        Outcome::Refused { .. } | Outcome::SyncMessage { .. }
    ));
    nurse.sync().unwrap();
}

/// Issue 16, finding 3: a restricted document created with an unsorted or repeated audience
/// used to be accepted; after a restart every `discover` of its members answered 500. Now
/// `create` requires the canonical audience, over the real wire, and the members still sync
/// after a restart.
#[test]
fn restricted_audience_must_be_canonical() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::start_blocking(&data, None).unwrap();
    let addr = relay.addr;
    let room = relay.blocking_patient_room("佐藤 太郎").unwrap();
    let a = relay.blocking_add("看護師A", Profession::Nurse).unwrap();
    let b = relay.blocking_add("医師B", Profession::Doctor).unwrap();
    relay.blocking_invite(room, a.id, Role::Writer).unwrap();
    relay.blocking_invite(room, b.id, Role::Writer).unwrap();
    let pa = relay.enroll_phone(&a, &tmp.path().join("a")).unwrap();
    let pb = relay.enroll_phone(&b, &tmp.path().join("b")).unwrap();
    pa.sync().unwrap();
    pb.sync().unwrap();
    let t = kizuna_client::HttpsTransport::new(
        &pa.identity.url,
        &pa.identity.ca_pem,
        &pa.identity.crt_pem,
        &pa.identity.key_pem,
    )
    .unwrap();
    let mut sorted = [
        kizuna_core::ProfessionalId(a.id),
        kizuna_core::ProfessionalId(b.id),
    ];
    sorted.sort();
    let descending: Vec<_> = sorted.iter().rev().copied().collect();
    let repeated = vec![sorted[0], sorted[0], sorted[1]];
    for audience in [descending, repeated] {
        // The id a client would compute from the audience exactly as it sends it.
        let scope = Scope {
            parent: room,
            audience,
        };
        let doc = scope.doc_id();
        let req = SyncRequest {
            version: PROTOCOL_VERSION,
            docs: vec![DocSync {
                doc,
                known_heads: Vec::new(),
                changes: Vec::new(),
                create: Some(scope),
                sync_message: None,
            }],
            discover: false,
        };
        let resp = SyncResponse::decode(&t.exchange(req.encode()).unwrap()).unwrap();
        match &resp.docs[0].outcome {
            Outcome::Refused { reason, .. } => assert!(reason.contains("sorted"), "{reason}"),
            other => panic!("a non-canonical audience was taken: {other:?}"),
        }
    }
    relay.stop();
    // A store written by an older relay that took such an audience: the document no longer
    // matches its id when loaded. The members' syncs skip it and go on.
    {
        let prepared = kizuna_server::startup::prepare(
            &data,
            addr,
            None,
            kizuna_server::state::RelayConfig::default(),
        )
        .unwrap();
        let bad = Scope {
            parent: room,
            audience: vec![sorted[1], sorted[0]],
        };
        prepared
            .relay
            .documents()
            .get_or_create_scoped(&bad)
            .unwrap();
    }
    let _relay = LoopbackRelay::start_blocking(&data, Some(addr)).unwrap();
    pa.post(room, &Phone::text("after the restart", None))
        .unwrap();
    pa.sync().unwrap();
    pb.sync().unwrap();
    assert!(texts(&pb, room).contains("after the restart"));
}
