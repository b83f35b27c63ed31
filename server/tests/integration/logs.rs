//! Patient data never reaches the log: the relay logs ids, not names.

use kizuna_core::model::Consent;
use kizuna_core::{Date, Profession, Role, RoomKind};
use kizuna_server::identity::NewRoom;
use kizuna_testkit::LoopbackRelay;
use kizuna_testkit::logs::capture_global;

// The subscriber is the process-wide default (the only one in this test binary): a
// thread-local one misses events whose callsite interest another test thread cached first.
// Other tests' lines land in the buffer too, which is harmless: only this test uses 秘密野.
#[tokio::test(flavor = "current_thread")]
async fn patient_names_are_not_logged() {
    let out = capture_global(tracing::Level::DEBUG);

    let t = LoopbackRelay::start().await;
    let (nurse, keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    let admin = t.admin();
    let room = admin
        .create_room(&NewRoom {
            kind: RoomKind::Patient,
            display_name: "秘密野 患者".into(),
            consent: Some(Consent {
                given_by: "秘密野 家族".into(),
                relation: "長女".into(),
                date: Date::new(2025, 1, 2).unwrap(),
                obtained_by: "鈴木 健一".into(),
                obtained_by_id: None,
                form: None,
            }),
        })
        .await
        .unwrap();
    admin.invite(room.id, nurse.id, Role::Writer).await.unwrap();
    admin.rooms().await.unwrap();
    let me = t.device(&keys).me().await.unwrap();
    assert!(me.rooms.iter().any(|r| r.display_name == "秘密野 患者"));
    // A bad request that carries a patient name in its body.
    let raw = t.raw(Some((&t.admin_crt, &t.admin_key)));
    let resp = raw
        .post(format!("{}/v1/admin/rooms", t.url))
        .header("content-type", "application/json")
        .body(r#"{"kind":"patient","display_name":"秘密野 患者","consent":{"given_by":1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.unwrap();
    assert!(
        !body.contains("秘密野"),
        "problem details must not echo input: {body}"
    );

    let log = out.text();
    assert!(
        log.contains("patient room created"),
        "the log is captured: {log}"
    );
    assert!(log.contains(&room.id.to_string()));
    assert!(log.contains("request done"));
    assert!(!log.contains("秘密野"), "patient data in the log:\n{log}");
}
