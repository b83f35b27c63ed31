//! A relay restored from a backup loses nothing (tracker issue 18, "The bad day"): the
//! revocations made after the backup stay, and the phones bring back every change it had
//! acknowledged after the backup — their own, their teammates' and the relay's own post
//! numbers — with the post numbers unique and dense even when new reports were numbered
//! after the restore and before the phone came back.

use kizuna_core::{Profession, Role, RoomId};
use kizuna_testkit::{LoopbackRelay, Phone};
use std::collections::BTreeMap;
use std::path::Path;

fn phone(relay: &LoopbackRelay, dir: &Path, room: RoomId, name: &str) -> Phone {
    let p = relay.blocking_add(name, Profession::Nurse).unwrap();
    relay.blocking_invite(room, p.id, Role::Writer).unwrap();
    relay
        .enroll_phone(&p, &dir.join(format!("phone-{name}")))
        .unwrap()
}

/// Post numbers of the room's reports on the relay (its restricted documents included), by
/// report text.
fn on_relay(relay: &LoopbackRelay, room: RoomId) -> BTreeMap<String, Option<u64>> {
    let docs = relay.relay.documents();
    let mut ids = vec![room];
    ids.extend(docs.scopes_of(room).iter().map(|s| s.doc_id()));
    let mut out = BTreeMap::new();
    for id in ids {
        let Some(h) = docs.get(id).unwrap() else {
            continue;
        };
        h.read(|r| {
            for id in r.report_ids()? {
                let rep = r.report(id)?;
                out.insert(rep.content.body.text(), rep.post_no);
            }
            Ok(())
        })
        .unwrap();
    }
    out
}

fn backup(relay: &LoopbackRelay, to: &Path) {
    let to = to.to_path_buf();
    relay
        .with_admin(async move |c| c.backup_to(&to).await)
        .unwrap();
}

/// Stops `relay`, restores the backup `file` into its data directory `data`, and starts it
/// again on the same address (so the phones keep their URL).
fn restore_and_restart(relay: LoopbackRelay, data: &Path, file: &Path) -> LoopbackRelay {
    let addr = relay.addr;
    relay.stop();
    kizuna_server::recovery::restore::restore(data, file, false).unwrap();
    LoopbackRelay::start_blocking(data, Some(addr)).unwrap()
}

#[test]
fn a_restore_keeps_later_revocations_and_takes_back_acknowledged_work() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::start_blocking(&data, None).unwrap();
    let room = relay.blocking_patient_room("小林 トメ").unwrap();
    let a = phone(&relay, tmp.path(), room, "佐藤");
    let b = phone(&relay, tmp.path(), room, "鈴木");
    let c = phone(&relay, tmp.path(), room, "高橋");
    let lost = phone(&relay, tmp.path(), room, "伊藤");
    a.sync().unwrap();
    a.post(room, &Phone::text("一", None)).unwrap();
    for p in [&a, &b, &c, &lost] {
        p.sync().unwrap();
    }

    let file = tmp.path().join("backup.kzb");
    backup(&relay, &file);

    // After the backup: A and B post, both acknowledged and numbered; A also holds B's.
    // A's report carries a photo, uploaded and acknowledged too.
    let photo = tmp.path().join("wound.jpg");
    let photo_bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&photo, &photo_bytes).unwrap();
    let (_, att) = a
        .post_with_file(
            room,
            "二",
            &photo,
            kizuna_core::model::AttachmentKind::Photo,
            "image/jpeg",
        )
        .unwrap();
    a.sync().unwrap();
    assert!(
        relay
            .relay
            .blobs()
            .store()
            .meta(&att.hash)
            .unwrap()
            .is_some_and(|m| m.complete),
        "the photo reached the relay before the restore"
    );
    // A restricted report for A and C only: its document is made after the backup.
    let mut audience = vec![a.author.professional, c.author.professional];
    audience.sort();
    a.post(room, &Phone::text("秘", Some(audience))).unwrap();
    a.sync().unwrap();
    b.post(room, &Phone::text("三", None)).unwrap();
    b.sync().unwrap();
    a.sync().unwrap();
    // A phone is lost and revoked with wipe after the backup.
    let lost_device = lost.author.device;
    relay
        .with_admin(async move |c| c.revoke(lost_device, true).await)
        .unwrap();
    let before = on_relay(&relay, room);
    assert_eq!(before.get("二"), Some(&Some(2)));
    assert_eq!(before.get("秘"), Some(&Some(3)));
    assert_eq!(before.get("三"), Some(&Some(4)));
    // B's phone is lost too (never syncs again); the relay is restored from the backup.
    drop(b);
    let relay = restore_and_restart(relay, &data, &file);
    assert!(
        !on_relay(&relay, room).contains_key("二"),
        "the restored relay starts from the backup"
    );
    assert!(
        relay
            .relay
            .blobs()
            .store()
            .meta(&att.hash)
            .unwrap()
            .is_none(),
        "the backup was taken before the photo"
    );

    // The revocation made after the backup holds.
    match lost.sync() {
        Err(kizuna_client::SyncError::Transport(kizuna_client::TransportError::Revoked {
            wipe,
        })) => assert!(wipe),
        other => panic!("a phone revoked after the backup synced again: {other:?}"),
    }

    // C posts first after the restore and takes the next number the restored relay knows.
    c.post(room, &Phone::text("四", None)).unwrap();
    c.sync().unwrap();
    assert_eq!(on_relay(&relay, room).get("四"), Some(&Some(2)));

    // A comes back: its own report, B's report and the relay's numbers come back with it;
    // the number given twice (2) is given anew.
    let report = a.sync().unwrap();
    assert!(report.refused.is_empty(), "refused: {:?}", report.refused);
    let after = on_relay(&relay, room);
    for text in ["一", "二", "三", "四", "秘"] {
        assert!(
            after.contains_key(text),
            "{text} is missing on the relay: {after:?}"
        );
    }
    let mut numbers: Vec<u64> = after.values().map(|n| n.unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, vec![1, 2, 3, 4, 5], "post numbers: {after:?}");
    assert_eq!(
        after["三"],
        Some(4),
        "a number given once before the restore is kept"
    );
    // The photo A's queue had marked as sent is on the relay again, byte for byte.
    let back = relay.relay.blobs().store();
    assert!(
        back.meta(&att.hash).unwrap().is_some_and(|m| m.complete),
        "the photo is lost"
    );
    assert_eq!(back.read_at(&att.hash, 0, 1 << 20).unwrap(), photo_bytes);

    // The restricted document the backup predates is made anew and filled from A's copy,
    // not deleted on A (the relay answered "gone" for it at first).
    let secret: Vec<String> = a.reports(room).unwrap().into_iter().map(|r| r.2).collect();
    assert!(secret.contains(&"秘".to_string()), "{secret:?}");
    let scoped = a.store().scoped_docs(room).unwrap();
    assert_eq!(scoped.len(), 1);
    assert!(
        relay.relay.documents().get(scoped[0]).unwrap().is_some(),
        "the relay has the restricted document again"
    );

    // Everyone converges on the same numbers.
    a.sync().unwrap();
    c.sync().unwrap();
    let on_a: BTreeMap<String, Option<u64>> = a
        .reports(room)
        .unwrap()
        .into_iter()
        .map(|r| (r.2, r.1))
        .collect();
    let on_c: BTreeMap<String, Option<u64>> = c
        .reports(room)
        .unwrap()
        .into_iter()
        .map(|r| (r.2, r.1))
        .collect();
    assert_eq!(on_a, after);
    assert_eq!(on_c, after);
}

#[test]
fn a_change_the_relay_never_stored_is_still_checked_after_a_restore() {
    // The ledger vouches only for what the relay itself stored: a change a phone made up as
    // a teammate's is refused after a restore as before it.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::start_blocking(&data, None).unwrap();
    let room = relay.blocking_patient_room("小林 トメ").unwrap();
    let a = phone(&relay, tmp.path(), room, "佐藤");
    let b = phone(&relay, tmp.path(), room, "鈴木");
    a.sync().unwrap();
    b.sync().unwrap();
    let file = tmp.path().join("backup.kzb");
    backup(&relay, &file);
    // Acknowledged after the backup, so A's next sync runs the fallback that recovers.
    a.post(room, &Phone::text("二", None)).unwrap();
    a.sync().unwrap();
    let relay = restore_and_restart(relay, &data, &file);
    // A writes a report as B (B's author, B's actor) into its own store, offline.
    let h = a.store().open_room(room).unwrap();
    h.write(|r| {
        r.post_report(
            &b.author,
            kizuna_core::Timestamp::now(),
            &Phone::text("なりすまし", None),
        )
    })
    .unwrap();
    let report = a.sync().unwrap();
    assert_eq!(
        report.refused.len(),
        1,
        "a forged teammate's change went in after a restore"
    );
    assert_eq!(report.refused[0].0, room);
    assert!(
        report.refused[0].1.contains("another device"),
        "{}",
        report.refused[0].1
    );
    let back = on_relay(&relay, room);
    assert!(!back.contains_key("なりすまし"), "{back:?}");
    assert_eq!(
        back.get("二"),
        Some(&Some(1)),
        "the acknowledged report came back"
    );
}
