//! A panic in one request's handler fails that request only: the device gets a `500` problem
//! without the panic's text, the same connection and the relay keep serving, and a room whose
//! locks the panic poisoned is still synced (its document reloaded from disk).
//!
//! The relay has no handler known to panic (the fuzz targets found none that reach a
//! handler), so the test adds one to the router it serves — test code only, never in the relay.

use axum::routing::get;
use kizuna_core::model::{Consent, ReportContent};
use kizuna_core::sync::protocol::{DocSync, Outcome, PROTOCOL_VERSION, SyncRequest, SyncResponse};
use kizuna_core::{Author, Date, Profession, Role, Room, RoomId, RoomKind, Timestamp};
use kizuna_server::identity::NewRoom;
use kizuna_testkit::{LoopbackRelay, generous};
use std::sync::{Arc, Mutex};

const MARKER: &str = "秘密野 花子";

fn boom<T>() -> T {
    panic!("{MARKER}: a handler panicked with patient data in its message")
}

async fn sync(raw: &reqwest::Client, url: &str, req: &SyncRequest) -> SyncResponse {
    let resp = raw
        .post(format!("{url}/v1/sync"))
        .header("content-type", "application/x-kizuna-sync")
        .body(req.encode())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    SyncResponse::decode(&resp.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_relay_keeps_serving() {
    // The room the panicking handler poisons, set once the room exists.
    let target: Arc<Mutex<Option<RoomId>>> = Arc::default();
    let t_target = target.clone();
    let t = LoopbackRelay::start_routed(generous(), move |relay, app| {
        app.route(
            "/v1/test/panic",
            get(move || {
                let relay = relay.clone();
                let room = *t_target.lock().unwrap();
                async move {
                    if let Some(room) = room {
                        // Panic while holding the room's sync lock and its document lock,
                        // halfway through a write.
                        let lock = relay.documents().room_lock(room);
                        let _held = lock.lock().unwrap();
                        let handle = relay.documents().get(room).unwrap().unwrap();
                        let _ =
                            handle.write(|_room: &mut Room| -> kizuna_core::Result<()> { boom() });
                    }
                    boom::<&'static str>()
                }
            }),
        )
    })
    .await;
    let (nurse, keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    let admin = t.admin();
    let room = admin
        .create_room(&NewRoom {
            kind: RoomKind::Patient,
            display_name: MARKER.into(),
            consent: Some(Consent {
                given_by: MARKER.into(),
                relation: "本人".into(),
                date: Date::new(2026, 11, 1).unwrap(),
                obtained_by: "鈴木 健一".into(),
                obtained_by_id: None,
                form: None,
            }),
        })
        .await
        .unwrap();
    admin.invite(room.id, nurse.id, Role::Writer).await.unwrap();
    let raw = t.raw(Some((&keys.crt, &keys.key)));

    // The device gets its room whole.
    let first = sync(
        &raw,
        &t.url,
        &SyncRequest {
            version: PROTOCOL_VERSION,
            docs: Vec::new(),
            discover: true,
        },
    )
    .await;
    let Some(Outcome::New { bytes, .. }) = first
        .docs
        .iter()
        .find(|d| d.doc == RoomId(room.id))
        .map(|d| &d.outcome)
    else {
        panic!("the room did not come")
    };
    let mut phone = Room::load(RoomId(room.id), bytes).unwrap();
    let known = phone.heads();

    // Twice on one connection (keep-alive): each panic is a 500 problem without its text.
    *target.lock().unwrap() = Some(RoomId(room.id));
    for _ in 0..2 {
        let resp = raw
            .get(format!("{}/v1/test/panic", t.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let body = resp.text().await.unwrap();
        assert!(body.contains("urn:kizuna:problem:internal"), "{body}");
        assert!(!body.contains(MARKER), "the panic's text leaked: {body}");
    }

    // The same connection, a new one, and the poisoned room: all still served.
    assert_eq!(
        raw.get(format!("{}/healthz", t.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    t.device(&keys).me().await.unwrap();
    let author = Author {
        professional: kizuna_core::ProfessionalId(nurse.id),
        device: kizuna_core::DeviceId(keys.enrolled.device),
        display_name: nurse.name.clone(),
        profession: Profession::Nurse,
        organisation: "テスト事業所".into(),
    };
    let now = Timestamp::now();
    let report = phone
        .post_report(
            &author,
            now,
            &ReportContent::free_text(now, "訪問しました。"),
        )
        .unwrap();
    let changes = phone
        .doc_mut()
        .get_changes(&known)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let answer = sync(
        &raw,
        &t.url,
        &SyncRequest {
            version: PROTOCOL_VERSION,
            docs: vec![DocSync {
                doc: RoomId(room.id),
                known_heads: kizuna_core::sync::protocol::to_wire(&known),
                changes,
                create: None,
                sync_message: None,
            }],
            discover: false,
        },
    )
    .await;
    let Some(Outcome::Updated { accepted, .. }) = answer.docs.first().map(|d| &d.outcome) else {
        panic!("the room was not synced after the panic: {:?}", answer.docs)
    };
    assert_eq!(*accepted, 1);
    let stored = t
        .relay
        .documents()
        .get(RoomId(room.id))
        .unwrap()
        .unwrap()
        .read(|r| r.report(report))
        .unwrap();
    assert_eq!(stored.post_no, Some(1), "numbered after the panic");
}
