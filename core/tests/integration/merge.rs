//! Three and more devices edit the same room offline and exchange changes in every order,
//! duplicated; all must converge with nothing lost.

use crate::fixtures::{author, second_device, soap};
use kizuna_core::model::profile::Medication;
use kizuna_core::{EntryId, Profession, Room, RoomId, RoomKind, Timestamp};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A device's room plus the change chunks it produced, for delivery to others.
struct Device {
    room: Room,
    outbox: Vec<Vec<u8>>,
}

impl Device {
    fn new(id: RoomId) -> Self {
        Device {
            room: Room::new(id, RoomKind::Patient),
            outbox: Vec::new(),
        }
    }

    fn act(&mut self, f: impl FnOnce(&mut Room)) {
        let before = self.room.heads();
        f(&mut self.room);
        let chunk = self.room.save_after(&before);
        if !chunk.is_empty() {
            self.outbox.push(chunk);
        }
    }
}

fn state(room: &mut Room) -> String {
    let mut reports = Vec::new();
    for s in room.list_reports().unwrap() {
        reports.push(serde_json::to_value(room.report(s.id).unwrap()).unwrap());
    }
    serde_json::json!({
        "heads": format!("{:?}", { let mut h = room.heads(); h.sort(); h }),
        "reports": reports,
        "profile": room.profile().unwrap(),
        "history": room.profile_history().unwrap().len(),
    })
    .to_string()
}

#[test]
fn three_devices_offline_converge_in_any_order_with_duplicates() {
    let id = RoomId::new();
    let nurse = author("佐藤 花子", Profession::Nurse);
    let nurse_tablet = second_device(&nurse);
    let doctor = author("田中 一郎", Profession::Doctor);
    let helper = author("鈴木 美咲", Profession::Helper);

    // Day 1, all online: one shared report everybody has.
    let mut base = Device::new(id);
    let shared = {
        let mut r = None;
        base.act(|room| {
            r = Some(
                room.post_report(&nurse, Timestamp(1_000), &soap(1_000, "shared"))
                    .unwrap(),
            )
        });
        r.unwrap()
    };
    let mut devices: Vec<Device> = (0..4).map(|_| Device::new(id)).collect();
    for d in &mut devices {
        for chunk in &base.outbox {
            d.room.apply(chunk).unwrap();
        }
    }

    // Day 2, all offline at the same time.
    let med_a = EntryId::new();
    let med_b = EntryId::new();
    let (mut r_nurse, mut r_doctor, mut r_helper) = (None, None, None);
    devices[0].act(|room| {
        r_nurse = Some(
            room.post_report(&nurse, Timestamp(2_000), &soap(2_000, "nurse"))
                .unwrap(),
        )
    });
    devices[0].act(|room| {
        room.add_comment(&nurse, Timestamp(2_001), shared, "体位変換表を更新しました")
            .unwrap();
    });
    devices[0].act(|room| {
        room.edit_profile(&nurse, Timestamp(2_002), |p| {
            p.basic.phone = Some("04-7150-0000".into());
            p.medications.insert(
                med_a,
                Medication {
                    name: "酸化マグネシウム".into(),
                    dose: Some("330mg".into()),
                    timing: Some("毎食後".into()),
                    since: None,
                    prescribed_by: None,
                    notes: None,
                    stopped: None,
                },
            );
            p.medical.allergies.push("ペニシリン".into());
        })
        .unwrap();
    });
    devices[1].act(|room| {
        r_doctor = Some(
            room.post_report(&doctor, Timestamp(2_100), &soap(2_100, "doctor"))
                .unwrap(),
        )
    });
    devices[1].act(|room| {
        room.mark_read(&doctor, Timestamp(2_101), shared).unwrap();
    });
    devices[1].act(|room| {
        room.add_comment(&doctor, Timestamp(2_102), shared, "軟膏を変更します")
            .unwrap();
    });
    devices[1].act(|room| {
        room.edit_profile(&doctor, Timestamp(2_103), |p| {
            p.basic.address = Some("流山市平和台1-1-1".into());
            p.medications.insert(
                med_b,
                Medication {
                    name: "アムロジピン".into(),
                    dose: Some("5mg".into()),
                    timing: Some("朝食後".into()),
                    since: None,
                    prescribed_by: Some("田中".into()),
                    notes: None,
                    stopped: None,
                },
            );
            p.medical.allergies.push("造影剤".into());
        })
        .unwrap();
    });
    devices[2].act(|room| {
        r_helper = Some(
            room.post_report(&helper, Timestamp(2_200), &soap(2_200, "helper"))
                .unwrap(),
        )
    });
    devices[2].act(|room| {
        room.mark_read(&helper, Timestamp(2_201), shared).unwrap();
    });
    devices[2].act(|room| {
        room.add_comment(&helper, Timestamp(2_202), shared, "了解しました")
            .unwrap();
    });
    // The nurse's tablet withdraws the shared report while her phone edits nothing of it.
    devices[3].act(|room| {
        room.withdraw_report(
            &nurse_tablet,
            Timestamp(2_300),
            shared,
            "別の利用者の記録でした",
        )
        .unwrap()
    });
    devices[3].act(|room| {
        room.mark_read(&nurse_tablet, Timestamp(2_301), shared)
            .unwrap();
    });

    let all: Vec<Vec<u8>> = devices.iter().flat_map(|d| d.outbox.clone()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut finals = Vec::new();
    for d in &mut devices {
        // Every chunk from everyone, shuffled, some twice.
        let mut delivery = all.clone();
        for _ in 0..5 {
            let i = rng.random_range(0..all.len());
            delivery.push(all[i].clone());
        }
        delivery.shuffle(&mut rng);
        for chunk in &delivery {
            d.room.apply(chunk).unwrap();
        }
        finals.push(state(&mut d.room));
    }
    assert!(finals.windows(2).all(|w| w[0] == w[1]), "devices diverged");

    let room = &devices[0].room;
    let ids: Vec<_> = room.list_reports().unwrap().iter().map(|s| s.id).collect();
    for r in [Some(shared), r_nurse, r_doctor, r_helper] {
        assert!(ids.contains(&r.unwrap()), "a report was lost");
    }
    let s = room.report(shared).unwrap();
    assert_eq!(s.comments.len(), 3, "comments lost");
    assert_eq!(s.receipts.len(), 3, "receipts lost: doctor, helper, nurse");
    assert_eq!(s.receipts[&nurse.professional], Timestamp(2_301));
    assert!(s.withdrawn.is_some(), "withdrawal lost");
    let p = room.profile().unwrap();
    assert_eq!(p.basic.phone.as_deref(), Some("04-7150-0000"));
    assert_eq!(p.basic.address.as_deref(), Some("流山市平和台1-1-1"));
    assert_eq!(p.medications.len(), 2, "a medication was lost");
    let mut allergies = p.medical.allergies.clone();
    allergies.sort();
    assert_eq!(
        allergies,
        vec!["ペニシリン".to_string(), "造影剤".to_string()]
    );
    assert_eq!(room.profile_history().unwrap().len(), 2);
}

#[test]
fn concurrent_edits_of_one_profile_field_settle_on_one_value_everywhere() {
    let id = RoomId::new();
    let a = author("A", Profession::Nurse);
    let b = author("B", Profession::CareManager);
    let mut ra = Room::new(id, RoomKind::Patient);
    let mut rb = Room::new(id, RoomKind::Patient);
    ra.edit_profile(&a, Timestamp(1), |p| {
        p.housing.notes = Some("鍵はキーボックス".into())
    })
    .unwrap();
    rb.edit_profile(&b, Timestamp(2), |p| {
        p.housing.notes = Some("駐車場あり".into())
    })
    .unwrap();
    let (ba, bb) = (ra.save(), rb.save());
    ra.apply(&bb).unwrap();
    rb.apply(&ba).unwrap();
    assert_eq!(ra.profile().unwrap(), rb.profile().unwrap());
    assert_eq!(
        ra.profile_history().unwrap().len(),
        2,
        "both edits stay in the history"
    );
}

#[test]
fn only_the_author_edits_and_edits_keep_history() {
    let id = RoomId::new();
    let nurse = author("佐藤", Profession::Nurse);
    let other = author("田中", Profession::Doctor);
    let mut room = Room::new(id, RoomKind::Patient);
    let rid = room
        .post_report(&nurse, Timestamp(10), &soap(10, "first"))
        .unwrap();
    assert!(
        room.edit_report(&other, Timestamp(11), rid, |c| c.importance =
            kizuna_core::model::Importance::HIGH)
            .is_err()
    );
    assert!(
        room.withdraw_report(&other, Timestamp(11), rid, "x")
            .is_err()
    );
    let fields = room
        .edit_report(&second_device(&nurse), Timestamp(12), rid, |c| {
            c.importance = kizuna_core::model::Importance::HIGH
        })
        .unwrap();
    assert_eq!(fields, vec!["importance".to_string()]);
    let r = room.report(rid).unwrap();
    assert_eq!(r.content.importance.stars(), 3);
    assert_eq!(r.edits.len(), 1);
    assert_eq!(r.edits[0].previous, r#"{"importance":1}"#);
    // A change that refuses validation leaves nothing behind.
    let heads = room.heads();
    let bad = room.edit_report(&nurse, Timestamp(13), rid, |c| {
        c.vitals[0].pulse_per_min = Some(999)
    });
    assert_eq!(
        bad.unwrap_err().to_string(),
        "invalid input: vitals[0].pulse_per_min: must be between 20 and 250"
    );
    assert_eq!(room.heads(), heads);
}

#[test]
fn receipts_keep_the_first_read_time() {
    let id = RoomId::new();
    let nurse = author("佐藤", Profession::Nurse);
    let phone = author("田中", Profession::Doctor);
    let tablet = second_device(&phone);
    let mut a = Room::new(id, RoomKind::Patient);
    let rid = a
        .post_report(&nurse, Timestamp(10), &soap(10, "r"))
        .unwrap();
    let mut b = Room::new(id, RoomKind::Patient);
    b.apply(&a.save()).unwrap();
    assert!(a.mark_read(&phone, Timestamp(500), rid).unwrap());
    assert!(
        !a.mark_read(&phone, Timestamp(900), rid).unwrap(),
        "second read is not a first read"
    );
    assert!(b.mark_read(&tablet, Timestamp(300), rid).unwrap());
    let (sa, sb) = (a.save(), b.save());
    a.apply(&sb).unwrap();
    b.apply(&sa).unwrap();
    assert_eq!(
        a.report(rid).unwrap().receipts[&phone.professional],
        Timestamp(300)
    );
    assert_eq!(
        b.report(rid).unwrap().receipts[&phone.professional],
        Timestamp(300)
    );
    assert_eq!(a.report_summary(rid).unwrap().read_count, 1);
}

#[test]
fn notices_and_messages_live_in_their_rooms() {
    let admin = author("市 介護支援課", Profession::CityAdministrator);
    let nurse = author("佐藤", Profession::Nurse);
    let mut notices = Room::new(RoomId::new(), RoomKind::Alerts);
    let content = kizuna_core::model::NoticeContent {
        title: "台風接近".into(),
        body: "訪問予定の調整をお願いします".into(),
        importance: kizuna_core::model::Importance::HIGH,
        expires_at: Some(Timestamp(99_999)),
    };
    let nid = notices.post_notice(&admin, Timestamp(1), &content).unwrap();
    notices.mark_notice_read(&nurse, Timestamp(2), nid).unwrap();
    let list = notices.notices().unwrap();
    assert_eq!(list[0].content, content);
    assert_eq!(list[0].receipts.len(), 1);
    assert!(
        notices
            .post_report(&nurse, Timestamp(3), &soap(3, "x"))
            .is_err()
    );

    let mut dm = Room::new(RoomId::new(), RoomKind::Direct);
    let mid = dm
        .send_message(&nurse, Timestamp(5), "明日の訪問時間を変更できますか", &[])
        .unwrap();
    dm.mark_message_read(&admin, Timestamp(6), mid).unwrap();
    let msgs = dm.messages().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].receipts.len(), 1);
}

#[test]
fn loading_checks_the_room_id() {
    let mut room = Room::new(RoomId::new(), RoomKind::Patient);
    let bytes = room.save();
    assert!(Room::load(RoomId::new(), &bytes).is_err());
    assert!(Room::load(room.doc_id(), &bytes).is_ok());
    assert!(Room::load(room.doc_id(), b"not automerge").is_err());
}

/// A merge names exactly the reports its changes touched (new, edited, commented, read,
/// numbered), and flags changes outside reports, without diffing the whole document.
#[test]
fn a_merge_names_the_reports_it_touched() {
    let nurse = author("佐藤", Profession::Nurse);
    let doctor = author("田中", Profession::Doctor);
    let id = RoomId::new();
    let mut a = Room::new(id, RoomKind::Patient);
    let mut ids = Vec::new();
    for k in 0..5 {
        ids.push(
            a.post_report(&nurse, Timestamp(1_000 + k), &soap(1_000 + k, "既往"))
                .unwrap(),
        );
    }
    let mut b = Room::load(id, &a.save()).unwrap();
    b.take_touched();
    let before = b.heads();
    // Elsewhere: a new report, a comment on one, a receipt on another, an edit of a third.
    let fresh = a
        .post_report(&doctor, Timestamp(2_000), &soap(2_000, "新規"))
        .unwrap();
    a.add_comment(&doctor, Timestamp(2_001), ids[0], "了解しました")
        .unwrap();
    a.mark_read(&doctor, Timestamp(2_002), ids[1]).unwrap();
    a.edit_report(&nurse, Timestamp(2_003), ids[2], |c| {
        c.body = soap(2_003, "訂正").body;
    })
    .unwrap();
    b.apply(&a.save_after(&before)).unwrap();
    let touched = b.take_touched();
    let want: std::collections::BTreeSet<_> = [fresh, ids[0], ids[1], ids[2]].into_iter().collect();
    assert_eq!(touched.reports, want);
    assert!(!touched.other, "only reports changed");

    // A change outside the reports (the members) is flagged as such.
    let before = b.heads();
    let mut members = std::collections::BTreeMap::new();
    members.insert(
        doctor.professional,
        kizuna_core::room::MemberInfo {
            role: kizuna_core::Role::Writer,
            name: doctor.display_name.clone(),
            profession: doctor.profession,
            organisation: doctor.organisation.clone(),
        },
    );
    a.set_members(&nurse, Timestamp(3_000), &members).unwrap();
    b.apply(&a.save_after(&before)).unwrap();
    let touched = b.take_touched();
    assert!(touched.reports.is_empty());
    assert!(touched.other);
}

#[test]
fn has_change_answers_for_every_change_of_the_room_and_no_other() {
    let nurse = author("訪問 看護", Profession::Nurse);
    let mut room = Room::new(RoomId::new(), RoomKind::Patient);
    let mut seen = Vec::new();
    for i in 0..5 {
        room.post_report(&nurse, Timestamp(1_000 + i), &soap(1_000 + i, "x"))
            .expect("post");
        seen.extend(room.heads());
    }
    for h in &seen {
        assert!(room.has_change(h), "a change of the room is found");
    }
    // Another room's change is not in this one.
    let mut other = Room::new(RoomId::new(), RoomKind::Patient);
    other
        .post_report(&nurse, Timestamp(9), &soap(9, "y"))
        .expect("post");
    let foreign = other.heads()[0];
    assert!(!room.has_change(&foreign));
    assert!(!room.has_change(&automerge::ChangeHash([7; 32])));
}

/// `Room::changes_after` answers from the changes it keeps in memory; after every kind of
/// write (local, merged from another device, through the raw document) it must say exactly
/// what Automerge says, for every state the room has been in.
#[test]
fn changes_after_agrees_with_automerge_through_every_kind_of_write() {
    let id = RoomId::new();
    let nurse = author("佐藤 花子", Profession::Nurse);
    let doctor = author("田中 一郎", Profession::Doctor);
    let helper = author("鈴木 美咲", Profession::Helper);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut here = Device::new(id);
    let mut there = Device::new(id);
    let mut states = vec![here.room.heads()];
    let mut reports = Vec::new();
    for step in 0..300_i64 {
        let at = Timestamp(10_000 + step);
        match rng.random_range(0..4) {
            0 => here.act(|room| {
                reports.push(room.post_report(&nurse, at, &soap(at.0, "here")).unwrap());
            }),
            1 if !reports.is_empty() => {
                let r = reports[rng.random_range(0..reports.len())];
                here.act(|room| {
                    room.mark_read(&nurse, at, r).unwrap();
                });
            }
            2 => {
                there.act(|room| {
                    room.post_report(&doctor, at, &soap(at.0, "there")).unwrap();
                });
                for chunk in there.outbox.drain(..) {
                    here.room.apply(&chunk).unwrap();
                }
            }
            _ => {
                let mut other = here.room.clone();
                other
                    .add_comment(
                        &helper,
                        at,
                        reports.first().copied().unwrap_or_default(),
                        "了解",
                    )
                    .ok();
                here.room.merge(&mut other).unwrap();
            }
        }
        states.push(here.room.heads());
        if step % 60 == 59 {
            for have in &states {
                let ours: Vec<_> = here
                    .room
                    .changes_after(have)
                    .iter()
                    .map(|c| c.hash())
                    .collect();
                let mut theirs: Vec<_> = here
                    .room
                    .doc_mut()
                    .get_changes(have)
                    .iter()
                    .map(|c| c.hash())
                    .collect();
                let mut sorted = ours.clone();
                sorted.sort();
                theirs.sort();
                assert_eq!(sorted, theirs, "step {step}");
            }
        }
    }
}
