//! CA rotation with an overlap period, end to end: phones running the phone library
//! (`kizuna_client::Session`) enrolled under the first CA keep syncing through a rotation,
//! move to the new CA during a sync without enrolling again, and keep syncing after the old
//! CA is retired; a phone that stayed away the whole overlap is refused afterwards with the
//! `certificate-retired` problem (and was listed by `ca status` before). The administrator's
//! CLI identity (its client from the data directory, as `kizuna admin` builds it) moves too.
//! Real TLS with client certificates everywhere; the relay's files are the real ones.

use kizuna_client::{ClientError, Session};
use kizuna_contract::enrollment::CaStatus;
use kizuna_core::Profession;
use kizuna_server::cli::client::{self, Client};
use kizuna_testkit::{LoopbackRelay, PHONE_KEY};
use std::path::Path;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The administrator's client as `kizuna admin` builds it from the data directory.
fn cli(data: &Path) -> Client {
    Client::admin_from_data_dir(data, None).unwrap()
}

fn status(data: &Path) -> CaStatus {
    rt().block_on(cli(data).ca_status()).unwrap()
}

fn enroll(relay: &LoopbackRelay, data: &Path, name: &str, dir: &Path) -> Session {
    let rt = rt();
    let c = cli(data);
    let p = rt
        .block_on(
            c.add_professional(&kizuna_server::identity::NewProfessional {
                name: name.into(),
                kana: "かな".into(),
                profession: Profession::Nurse,
                organisation: kizuna_core::Organisation {
                    name: "みどり訪問看護ステーション".into(),
                    office_number: None,
                },
            }),
        )
        .unwrap();
    let code = rt.block_on(c.enroll_code(p.id, None)).unwrap();
    assert!(
        code.ca_fingerprint
            .contains(&relay.relay.ca().fingerprint())
    );
    let s = Session::open(dir.to_path_buf(), &PHONE_KEY).unwrap();
    s.enroll(&code.qr_payload, Some("phone")).unwrap();
    s
}

fn issuer(relay: &LoopbackRelay, s: &Session) -> String {
    relay
        .relay
        .device_issuer(s.identity().unwrap().device)
        .unwrap()
        .unwrap()
}

/// The fingerprint of the device's current certificate, as the relay records it.
fn cert_fingerprint(relay: &LoopbackRelay, s: &Session) -> String {
    let id = s.identity().unwrap().device;
    relay
        .relay
        .devices()
        .unwrap()
        .into_iter()
        .find(|d| d.id == id)
        .unwrap()
        .cert_fingerprint
}

fn fp(view_fingerprint: &str) -> String {
    view_fingerprint.trim_start_matches("sha256:").to_string()
}

#[test]
fn phones_move_to_a_new_ca_during_sync_and_a_phone_away_the_whole_overlap_is_refused_after() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::start_blocking(&data, None).unwrap();
    let first = status(&data);
    assert!(first.retiring.is_none());
    let ca1 = fp(&first.issuing.fingerprint);

    // Two phones enrolled under CA 1; both sync once.
    let moving = enroll(&relay, &data, "佐藤 美咲", &tmp.path().join("p1"));
    let away = enroll(&relay, &data, "鈴木 一郎", &tmp.path().join("p2"));
    moving.sync_now().unwrap();
    away.sync_now().unwrap();
    assert_eq!(issuer(&relay, &moving), ca1);
    let moving_cert = cert_fingerprint(&relay, &moving);

    // Rotate: a new CA issues, both are trusted, every device is still on CA 1.
    let rotated = rt().block_on(cli(&data).ca_rotate()).unwrap();
    let ca2 = fp(&rotated.issuing.fingerprint);
    assert_ne!(ca2, ca1);
    assert_eq!(fp(&rotated.retiring.as_ref().unwrap().fingerprint), ca1);
    let on_old: Vec<_> = rotated.devices_on_retiring.iter().map(|d| d.id).collect();
    for s in [&moving, &away] {
        assert!(
            on_old.contains(&s.identity().unwrap().device.0),
            "{on_old:?}"
        );
    }
    assert!(data.join("ca-next.crt").exists() && data.join("ca.crt").exists());

    // The administrator's CLI identity moves first (as every `kizuna admin` command does
    // during an overlap), and the CLI keeps working.
    let now = kizuna_core::Timestamp::now().0 / 1000;
    assert!(client::admin_renewal_due(&data, now).is_some());
    rt().block_on(client::renew_admin_identity(&data, None))
        .unwrap();
    assert_eq!(client::admin_renewal_due(&data, now), None);

    // The moving phone syncs: still works over CA 1, is asked to renew, and renews onto
    // CA 2 in the same sync (well before its expiry), then syncs with the new certificate.
    moving.sync_now().unwrap();
    assert_eq!(issuer(&relay, &moving), ca2);
    assert_ne!(cert_fingerprint(&relay, &moving), moving_cert);
    moving.sync_now().unwrap();

    // A phone enrolled now gets a CA-2 certificate (its QR code pins CA 2).
    let late = enroll(&relay, &data, "高橋 花子", &tmp.path().join("p3"));
    assert_eq!(issuer(&relay, &late), ca2);
    late.sync_now().unwrap();

    // Only the phone that stayed away is left on CA 1 (the admin moved, so did `moving`).
    let st = status(&data);
    let left: Vec<_> = st.devices_on_retiring.iter().map(|d| d.id).collect();
    assert_eq!(left, vec![away.identity().unwrap().device.0], "{st:?}");

    // Retiring is refused while a device is on CA 1, then forced.
    let refused = rt().block_on(cli(&data).ca_retire_old(false)).unwrap_err();
    assert_eq!(refused.status(), Some(409), "{refused}");
    assert!(refused.to_string().contains("1 device"), "{refused}");
    let retired = rt().block_on(cli(&data).ca_retire_old(true)).unwrap();
    assert!(retired.retiring.is_none());
    assert_eq!(fp(&retired.issuing.fingerprint), ca2);
    assert_eq!(fp(&retired.retired[0].fingerprint), ca1);
    assert!(!data.join("ca-next.crt").exists());

    // The moved phone, restarted (a fresh handshake: the relay no longer serves the
    // cross-signed certificate), syncs on CA 2.
    let dir1 = tmp.path().join("p1");
    drop(moving);
    let moving = Session::open(dir1, &PHONE_KEY).unwrap();
    moving.sync_now().unwrap();
    late.sync_now().unwrap();

    // The phone that was away is refused with a problem that says what to do.
    let dir2 = tmp.path().join("p2");
    drop(away);
    let away = Session::open(dir2, &PHONE_KEY).unwrap();
    match away.sync_now() {
        Err(ClientError::Rejected { status, detail }) => {
            assert_eq!(status, 401);
            assert!(
                detail.contains("retired") && detail.contains("enroll"),
                "{detail}"
            );
        }
        other => panic!("expected certificate-retired, got {other:?}"),
    }

    // The CLI still works after the retirement (ca.crt is CA 2 now), and every step is in
    // the audit log.
    let after = status(&data);
    assert_eq!(fp(&after.issuing.fingerprint), ca2);
    let audit = rt().block_on(cli(&data).audit_export(&[])).unwrap();
    for action in [
        "admin.ca.rotate",
        "admin.ca.retire_old_forced",
        "device.renewed",
    ] {
        assert!(audit.contains(action), "{action} not audited");
    }
    assert!(
        audit.contains("admin.ca.retire_old not done: conflict"),
        "the refused retirement is audited"
    );
    relay.stop();
}
