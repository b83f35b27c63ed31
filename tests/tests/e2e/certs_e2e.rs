//! Device certificates renew during sync: the phone library (`kizuna_client::Session`, what
//! the apps ship) finds its certificate within 30 days of expiry, makes a new key on the
//! phone, gets a certificate of the same device over mTLS, seals both in its store and syncs
//! with them, also after the app restarts. A refused renewal does not stop the sync.
//!
//! The certificate "near expiry" is a real two-year certificate issued while the relay's
//! clock read 720 days ago (moved through its configuration, never from the network).

use axum::response::IntoResponse;
use kizuna_client::Session;
use kizuna_contract::directory::DeviceView;
use kizuna_core::Profession;
use kizuna_server::identity::clock::Clock;
use kizuna_testkit::{LoopbackRelay, PHONE_KEY, RelayOptions, generous};
use std::path::Path;
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    kizuna_core::Timestamp::now().0
}

/// A relay whose clock reads 720 days ago while `phone` enrolls a `Session` in `dir`; the
/// clock is back to now when this returns.
fn relay_and_old_phone(
    dir: &Path,
    wrap: Option<kizuna_testkit::relay::Wrap>,
) -> (LoopbackRelay, Session) {
    let clock = Arc::new(Clock::system());
    let mut config = generous();
    config.clock = clock.clone();
    let relay = LoopbackRelay::launch_blocking(RelayOptions {
        data: Some(dir.join("relay")),
        config,
        wrap,
        ..RelayOptions::default()
    })
    .unwrap();
    // After the start, so the server certificate is today's.
    clock.set_offset_days(-720);
    let p = relay.blocking_add("佐藤 美咲", Profession::Nurse).unwrap();
    let code = relay
        .with_admin(async |c| c.enroll_code(p.id, None).await)
        .unwrap();
    let session = Session::open(dir.join("phone"), &PHONE_KEY).unwrap();
    session
        .enroll(&code.qr_payload, Some("test phone"))
        .unwrap();
    clock.set_offset_days(0);
    (relay, session)
}

fn device(relay: &LoopbackRelay, session: &Session) -> DeviceView {
    let id = session.identity().unwrap().device;
    relay
        .with_admin(async |c| c.devices().await)
        .unwrap()
        .into_iter()
        .find(|d| d.id == id.0)
        .unwrap()
}

#[test]
fn a_phone_near_expiry_renews_during_sync_and_syncs_with_the_new_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (relay, session) = relay_and_old_phone(tmp.path(), None);
    let old_expiry = session.certificate_expires_ms().unwrap();
    assert!(old_expiry - now_ms() < 11 * DAY_MS, "{old_expiry}");
    let before = device(&relay, &session);
    assert!(before.cert_days_left.unwrap() <= 10, "{before:?}");

    session.sync_now().unwrap();

    let new_expiry = session.certificate_expires_ms().unwrap();
    assert!(
        new_expiry > old_expiry + 700 * DAY_MS,
        "{new_expiry} vs {old_expiry}"
    );
    let after = device(&relay, &session);
    assert_eq!(after.id, before.id, "the same device");
    assert_ne!(after.cert_fingerprint, before.cert_fingerprint);
    assert_eq!(after.cert_expires_at.unwrap().0, new_expiry);
    assert!(after.cert_days_left.unwrap() >= 728, "{after:?}");
    assert!(after.last_seen.is_some());

    // Not due any more: the next sync keeps the certificate.
    session.sync_now().unwrap();
    assert_eq!(session.certificate_expires_ms(), Some(new_expiry));
    assert_eq!(
        device(&relay, &session).cert_fingerprint,
        after.cert_fingerprint
    );

    // The app restarts: the store holds the new certificate and key, and they sync.
    let identity = session.identity().unwrap();
    drop(session);
    let session = Session::open(tmp.path().join("phone"), &PHONE_KEY).unwrap();
    assert_eq!(session.identity().unwrap().device, identity.device);
    assert_eq!(session.certificate_expires_ms(), Some(new_expiry));
    session.sync_now().unwrap();
    assert_eq!(
        device(&relay, &session).cert_fingerprint,
        after.cert_fingerprint
    );
}

#[test]
fn a_refused_renewal_does_not_stop_the_sync() {
    let tmp = tempfile::tempdir().unwrap();
    // A relay whose renewal route fails, as an overloaded or broken one would.
    let wrap: kizuna_testkit::relay::Wrap = Box::new(|_, app: axum::Router| {
        app.layer(axum::middleware::from_fn(
            async |req: axum::extract::Request, next: axum::middleware::Next| {
                if req.uri().path() == "/v1/renew" {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                next.run(req).await
            },
        ))
    });
    let (relay, session) = relay_and_old_phone(tmp.path(), Some(wrap));
    let old_expiry = session.certificate_expires_ms().unwrap();
    let before = device(&relay, &session);

    session.sync_now().unwrap();

    assert_eq!(session.certificate_expires_ms(), Some(old_expiry));
    let after = device(&relay, &session);
    assert_eq!(after.cert_fingerprint, before.cert_fingerprint);
    assert!(after.last_seen.is_some(), "the sync reached the relay");
}
