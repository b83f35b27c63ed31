//! Property test: random operations on several devices, random partial syncs, then every
//! change delivered everywhere in a random order with duplicates. All devices must end equal,
//! and every report, comment, receipt, medication and withdrawal made must be there.

use crate::fixtures::{author, soap};
use kizuna_core::model::profile::Medication;
use kizuna_core::{Author, EntryId, Profession, ReportId, Room, RoomId, RoomKind, Timestamp};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
enum Op {
    Post,
    Comment(usize),
    Read(usize),
    Withdraw(usize),
    AddMedication,
    EditPhone(u16),
    PullFrom(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Post),
        2 => any::<usize>().prop_map(Op::Comment),
        2 => any::<usize>().prop_map(Op::Read),
        1 => any::<usize>().prop_map(Op::Withdraw),
        1 => Just(Op::AddMedication),
        1 => any::<u16>().prop_map(Op::EditPhone),
        1 => any::<usize>().prop_map(Op::PullFrom),
    ]
}

#[derive(Default)]
struct Expected {
    reports: BTreeSet<ReportId>,
    comments: BTreeMap<ReportId, usize>,
    receipts: BTreeSet<(ReportId, usize)>,
    withdrawn: BTreeSet<ReportId>,
    medications: BTreeSet<EntryId>,
}

fn run(ops: Vec<(usize, Op)>, seed: u64) -> Result<(), TestCaseError> {
    let id = RoomId::new();
    let people: Vec<Author> = (0..3)
        .map(|i| author(&format!("職員{i}"), Profession::ALL[i]))
        .collect();
    let mut rooms: Vec<Room> = (0..3).map(|_| Room::new(id, RoomKind::Patient)).collect();
    let mut log: Vec<Vec<u8>> = Vec::new();
    let mut exp = Expected::default();
    for (step, (who, op)) in ops.into_iter().enumerate() {
        let who = who % 3;
        let now = Timestamp(1_000 + step as i64);
        let before = rooms[who].heads();
        let visible = rooms[who].report_ids().unwrap();
        let pick = |i: usize| {
            if visible.is_empty() {
                None
            } else {
                Some(visible[i % visible.len()])
            }
        };
        let me = &people[who];
        match op {
            Op::Post => {
                let r = rooms[who].post_report(me, now, &soap(now.0, "p")).unwrap();
                exp.reports.insert(r);
            }
            Op::Comment(i) => {
                if let Some(r) = pick(i) {
                    rooms[who].add_comment(me, now, r, "コメント").unwrap();
                    *exp.comments.entry(r).or_default() += 1;
                }
            }
            Op::Read(i) => {
                if let Some(r) = pick(i) {
                    rooms[who].mark_read(me, now, r).unwrap();
                    exp.receipts.insert((r, who));
                }
            }
            Op::Withdraw(i) => {
                if let Some(r) = pick(i)
                    && rooms[who].withdraw_report(me, now, r, "誤記").is_ok()
                {
                    exp.withdrawn.insert(r);
                }
            }
            Op::AddMedication => {
                let m = EntryId::new();
                rooms[who]
                    .edit_profile(me, now, |p| {
                        p.medications.insert(
                            m,
                            Medication {
                                name: "薬".into(),
                                dose: None,
                                timing: None,
                                since: None,
                                prescribed_by: None,
                                notes: None,
                                stopped: None,
                            },
                        );
                    })
                    .unwrap();
                exp.medications.insert(m);
            }
            Op::EditPhone(n) => {
                rooms[who]
                    .edit_profile(me, now, |p| {
                        p.basic.phone = Some(format!("090-0000-{:04}", n % 10_000))
                    })
                    .unwrap();
            }
            Op::PullFrom(other) => {
                let other = other % 3;
                if other != who {
                    let bytes = rooms[other].save();
                    rooms[who].apply(&bytes).unwrap();
                }
            }
        }
        let chunk = rooms[who].save_after(&before);
        if !chunk.is_empty() {
            log.push(chunk);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for room in &mut rooms {
        let mut delivery = log.clone();
        delivery.extend(log.iter().take(3).cloned());
        delivery.shuffle(&mut rng);
        for chunk in &delivery {
            room.apply(chunk).unwrap();
        }
    }
    let mut heads: Vec<_> = rooms
        .iter_mut()
        .map(|r| {
            let mut h = r.heads();
            h.sort();
            h
        })
        .collect();
    heads.dedup();
    prop_assert_eq!(heads.len(), 1, "heads differ");
    let lists: Vec<_> = rooms
        .iter()
        .map(|r| serde_json::to_string(&r.list_reports().unwrap()).unwrap())
        .collect();
    prop_assert!(
        lists.windows(2).all(|w| w[0] == w[1]),
        "report lists differ"
    );
    let profiles: Vec<_> = rooms.iter().map(|r| r.profile().unwrap()).collect();
    prop_assert!(profiles.windows(2).all(|w| w[0] == w[1]), "profiles differ");

    let room = &rooms[0];
    let ids: BTreeSet<_> = room.report_ids().unwrap().into_iter().collect();
    prop_assert_eq!(&ids, &exp.reports);
    for (r, n) in &exp.comments {
        prop_assert_eq!(room.report(*r).unwrap().comments.len(), *n);
    }
    for (r, who) in &exp.receipts {
        prop_assert!(
            room.report(*r)
                .unwrap()
                .receipts
                .contains_key(&people[*who].professional)
        );
    }
    for r in &exp.withdrawn {
        prop_assert!(room.report(*r).unwrap().withdrawn.is_some());
    }
    let meds: BTreeSet<_> = room
        .profile()
        .unwrap()
        .medications
        .keys()
        .copied()
        .collect();
    prop_assert_eq!(meds, exp.medications);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_offline_work_converges_without_loss(ops in prop::collection::vec((0usize..3, op()), 1..40), seed in any::<u64>()) {
        run(ops, seed)?;
    }
}
