//! The directory: rooms, memberships, city rooms, direct conversations, admin-only routes.

use kizuna_core::model::Consent;
use kizuna_core::{Date, Profession, Role, RoomKind};
use kizuna_server::identity::NewRoom;
use kizuna_testkit::LoopbackRelay;

fn consent() -> Consent {
    Consent {
        given_by: "小林 和子".into(),
        relation: "長女".into(),
        date: Date::new(2025, 4, 3).unwrap(),
        obtained_by: "鈴木 健一".into(),
        obtained_by_id: None,
        form: None,
    }
}

#[tokio::test]
async fn removed_member_no_longer_sees_the_room() {
    let t = LoopbackRelay::start().await;
    let admin = t.admin();
    let (nurse, keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    let room = admin
        .create_room(&NewRoom {
            kind: RoomKind::Patient,
            display_name: "小林 トメ".into(),
            consent: Some(consent()),
        })
        .await
        .unwrap();
    assert_eq!(room.consent.as_ref().unwrap().relation, "長女");
    admin.invite(room.id, nurse.id, Role::Writer).await.unwrap();

    let device = t.device(&keys);
    let me = device.me().await.unwrap();
    let seen = me.rooms.iter().find(|r| r.id == room.id).unwrap();
    assert_eq!(seen.kind, RoomKind::Patient);
    assert_eq!(seen.display_name, "小林 トメ");
    assert_eq!(seen.role, Role::Writer);

    admin.remove_member(room.id, nurse.id).await.unwrap();
    let me = device.me().await.unwrap();
    assert!(me.rooms.iter().all(|r| r.id != room.id));
    // Removing again is a clear 404.
    let err = admin.remove_member(room.id, nurse.id).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn city_rooms_follow_profession_and_only_admins_write_there() {
    let t = LoopbackRelay::start().await;
    let (_nurse, nurse_keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    let (other, other_keys) = t.member("その他 太郎", Profession::Other).await.unwrap();

    let me = t.device(&nurse_keys).me().await.unwrap();
    let kinds: Vec<_> = me
        .rooms
        .iter()
        .map(|r| (RoomKind::from(r.kind), Role::from(r.role)))
        .collect();
    assert!(kinds.contains(&(RoomKind::CityNotices, Role::Reader)));
    assert!(kinds.contains(&(RoomKind::Alerts, Role::Reader)));

    // `Other` still counts as a care provider in the core; every professional reads notices.
    let me = t.device(&other_keys).me().await.unwrap();
    assert!(
        me.rooms
            .iter()
            .any(|r| r.kind == RoomKind::CityNotices && r.role == Role::Reader)
    );

    // The administrator writes both.
    let admin = t.admin();
    let me = admin.me().await.unwrap();
    assert!(me.professional.administrator);
    for kind in [RoomKind::CityNotices, RoomKind::Alerts] {
        assert!(
            me.rooms
                .iter()
                .any(|r| r.kind == kind && r.role == Role::Writer)
        );
    }
    // A professional cannot be made a writer of the notices room.
    let notices = t.relay.notices_room().unwrap();
    let err = admin
        .invite(notices, other.id, Role::Writer)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn admin_routes_need_an_administrator_and_patient_rooms_need_consent() {
    let t = LoopbackRelay::start().await;
    let (_nurse, keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    let nurse = t.device(&keys);
    assert_eq!(nurse.directory().await.unwrap_err().status(), Some(403));
    assert_eq!(nurse.devices().await.unwrap_err().status(), Some(403));

    let err = t
        .admin()
        .create_room(&NewRoom {
            kind: RoomKind::Patient,
            display_name: "中村 正雄".into(),
            consent: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    let err = t
        .admin()
        .create_room(&NewRoom {
            kind: RoomKind::Alerts,
            display_name: "x".into(),
            consent: Some(consent()),
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));

    // Unknown routes and bad ids are problem+json as well.
    let raw = t.raw(Some((&t.admin_crt, &t.admin_key)));
    for (path, status) in [
        ("/v1/nothing-here", 404),
        ("/v1/admin/rooms/not-a-uuid", 400),
        ("/v1/admin/rooms/%FF%FE", 400),
    ] {
        let resp = raw.get(format!("{}{path}", t.url)).send().await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }
    // A body over the limit on a route that reads raw bytes, and a wrong method.
    let device = t.admin().devices().await.unwrap()[0].id;
    let resp = raw
        .post(format!("{}/v1/admin/devices/{device}/revoke", t.url))
        .header("content-type", "application/json")
        .body(vec![b' '; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = raw.delete(format!("{}/v1/me", t.url)).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn direct_conversation_is_a_two_member_room() {
    let t = LoopbackRelay::start().await;
    let (nurse, nurse_keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    let (doctor, doctor_keys) = t.member("高橋 誠", Profession::Doctor).await.unwrap();
    let (_third, third_keys) = t.member("田中 由美", Profession::Pharmacist).await.unwrap();

    let room = t.device(&nurse_keys).direct(doctor.id).await.unwrap();
    assert_eq!(room.kind, RoomKind::Direct);
    assert_eq!(room.display_name, "高橋 誠");
    // Opening it from the other side finds the same room, named after the nurse.
    let back = t.device(&doctor_keys).direct(nurse.id).await.unwrap();
    assert_eq!(back.id, room.id);
    let me = t.device(&doctor_keys).me().await.unwrap();
    let seen = me.rooms.iter().find(|r| r.id == room.id).unwrap();
    assert_eq!(seen.display_name, "佐藤 美咲");
    // A third person does not see it, and administrators cannot add them.
    let me = t.device(&third_keys).me().await.unwrap();
    assert!(me.rooms.iter().all(|r| r.id != room.id));
    let err = t
        .admin()
        .invite(room.id, _third.id, Role::Writer)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    // Nobody talks to themself.
    let err = t.device(&nurse_keys).direct(nurse.id).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
}
