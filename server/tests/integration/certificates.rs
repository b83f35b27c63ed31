//! Certificates that renew themselves: the relay's server certificate is replaced before it
//! expires while the relay serves, and a device renews its certificate over mTLS, keeping its
//! id; the administrator sees every device's certificate expiry and last sync. The relay's
//! clock is moved through its configuration (never from the network); clients that look at
//! the relay "95 days later" verify with a clock of their own, through rustls' `TimeProvider`.
//! Verification stays on everywhere.

use kizuna_contract::directory::DeviceView;
use kizuna_contract::enrollment::{RenewRequest, RenewResponse};
use kizuna_core::Profession;
use kizuna_server::identity::clock::Clock;
use kizuna_server::identity::pki;
use kizuna_testkit::{DeviceKeys, LoopbackRelay, RelayOptions, generous};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use std::time::Duration;

const DAY_SECS: u64 = 86_400;

/// The system time moved `days` ahead, as a client whose clock says so would verify.
#[derive(Debug)]
struct Ahead(u64);

impl rustls::time_provider::TimeProvider for Ahead {
    fn current_time(&self) -> Option<UnixTime> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(UnixTime::since_unix_epoch(
            now + Duration::from_secs(self.0 * DAY_SECS),
        ))
    }
}

/// A TLS 1.3 handshake trusting only the relay's CA, verifying with a clock `days` ahead;
/// the server certificate it was shown, or why it failed.
async fn handshake(t: &LoopbackRelay, days: u64) -> Result<CertificateDer<'static>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(t.relay.ca().cert_der().to_vec()))
        .unwrap();
    let cfg = rustls::ClientConfig::builder_with_details(pki::provider(), Arc::new(Ahead(days)))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let cert = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok(cert.into_owned())
}

fn not_after(cert: &CertificateDer<'_>) -> i64 {
    let (_, c) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();
    c.validity().not_after.timestamp()
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn relay_with(clock: &Arc<Clock>) -> LoopbackRelay {
    let mut config = generous();
    config.clock = clock.clone();
    LoopbackRelay::launch(RelayOptions {
        config,
        ..RelayOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_certificate_renews_itself_and_phones_95_days_later_still_connect() {
    let clock = Arc::new(Clock::system());
    let t = relay_with(&clock).await;
    let first = handshake(&t, 0).await.unwrap();
    let first_end = not_after(&first);
    assert!(first_end < now_secs() + 95 * DAY_SECS as i64);
    // Without renewal, a phone 95 days later refuses the relay.
    let refused = handshake(&t, 95).await.unwrap_err();
    assert!(refused.to_lowercase().contains("expired"), "{refused}");

    // A connection opened now, kept alive across the renewal.
    let kept = t.raw(None);
    let health = format!("{}/healthz", t.url);
    assert_eq!(kept.get(&health).send().await.unwrap().status(), 200);

    // 80 days later by the relay's clock: 10 days left, under the 30-day threshold.
    clock.set_offset_days(80);
    let mut renewed = None;
    for _ in 0..600 {
        if let Ok(cert) = handshake(&t, 95).await {
            renewed = Some(cert);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let renewed = renewed.expect("the relay did not renew its server certificate");
    assert!(not_after(&renewed) > first_end + 79 * DAY_SECS as i64);
    assert_ne!(renewed, first);
    // The renewed certificate is the relay's, for the same names, signed by the same CA: the
    // handshake above verified it with the relay's CA as the only root.

    // The connection made before the renewal was not dropped: a new one from this client
    // would be refused (the new certificate is valid only from 80 days on).
    assert_eq!(kept.get(&health).send().await.unwrap().status(), 200);
    assert!(handshake(&t, 0).await.is_err());
}

async fn renew(t: &LoopbackRelay, keys: &DeviceKeys) -> (reqwest::StatusCode, String) {
    let (_, csr) = pki::new_device_key_and_csr().unwrap();
    renew_csr(t, keys, &csr).await
}

async fn renew_csr(
    t: &LoopbackRelay,
    keys: &DeviceKeys,
    csr: &str,
) -> (reqwest::StatusCode, String) {
    let resp = t
        .raw(Some((&keys.crt, &keys.key)))
        .post(format!("{}/v1/renew", t.url))
        .json(&RenewRequest {
            csr_pem: csr.to_string(),
        })
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Renews `keys` with a new key made here; the new keys.
async fn renewed(t: &LoopbackRelay, keys: &DeviceKeys) -> (DeviceKeys, RenewResponse) {
    let (key, csr) = pki::new_device_key_and_csr().unwrap();
    let (status, body) = renew_csr(t, keys, &csr).await;
    assert_eq!(status, 200, "{body}");
    let resp: RenewResponse = serde_json::from_str(&body).unwrap();
    let mut enrolled = keys.enrolled.clone();
    enrolled.certificate_pem = resp.certificate_pem.clone();
    (
        DeviceKeys {
            crt: resp.certificate_pem.clone(),
            key: key.serialize_pem(),
            enrolled,
        },
        resp,
    )
}

async fn device_of(t: &LoopbackRelay, keys: &DeviceKeys) -> DeviceView {
    t.admin()
        .devices()
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.id == keys.enrolled.device)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_renews_its_certificate_and_keeps_its_id() {
    // Enrolled 720 days ago by the relay's clock: 10 days left on a two-year certificate.
    // (Moved after the start, so the server certificate is today's.)
    let clock = Arc::new(Clock::system());
    let t = relay_with(&clock).await;
    clock.set_offset_days(-720);
    let (_, c1) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    clock.set_offset_days(0);
    let before = device_of(&t, &c1).await;
    assert!(
        (9..=10).contains(&before.cert_days_left.unwrap()),
        "{before:?}"
    );
    assert_eq!(
        before.cert_fingerprint,
        pki::pem_fingerprint(&c1.crt).unwrap()
    );

    let (c2, resp) = renewed(&t, &c1).await;
    assert_eq!(resp.device, c1.enrolled.device);
    let id = pki::identity_from_cert(&CertificateDer::from(x509_der(&c2.crt))).unwrap();
    assert_eq!(id.device.0, c1.enrolled.device);
    assert_eq!(id.professional.0, c1.enrolled.professional);
    let after = device_of(&t, &c2).await;
    assert_eq!(
        after.cert_fingerprint,
        pki::pem_fingerprint(&c2.crt).unwrap()
    );
    assert!(
        after.cert_expires_at.unwrap().0 > before.cert_expires_at.unwrap().0 + 700 * 86_400_000
    );
    assert_eq!(after.cert_expires_at, Some(resp.expires_at));
    assert!(
        (728..=730).contains(&after.cert_days_left.unwrap()),
        "{after:?}"
    );

    // The new certificate works; the one renewed with too, until the device renews again.
    assert_eq!(
        t.device(&c2).me().await.unwrap().device.id,
        c1.enrolled.device
    );
    assert_eq!(
        t.device(&c1).me().await.unwrap().device.id,
        c1.enrolled.device
    );
    let (c3, _) = renewed(&t, &c2).await;
    assert_eq!(
        t.device(&c3).me().await.unwrap().device.id,
        c1.enrolled.device
    );
    assert_eq!(
        t.device(&c2).me().await.unwrap().device.id,
        c1.enrolled.device
    );
    assert_eq!(t.device(&c1).me().await.unwrap_err().status(), Some(401));
    // A superseded certificate cannot renew either.
    assert_eq!(renew(&t, &c1).await.0, 401);
}

fn x509_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn a_revoked_device_cannot_renew_and_a_bad_csr_is_refused() {
    let t = LoopbackRelay::start().await;
    let (_, keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    let (status, body) = renew_csr(&t, &keys, "not a csr").await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid-csr"), "{body}");
    // Without a certificate there is no one to renew.
    let anonymous = t
        .raw(None)
        .post(format!("{}/v1/renew", t.url))
        .json(&RenewRequest {
            csr_pem: pki::new_device_key_and_csr().unwrap().1,
        })
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let fingerprint = device_of(&t, &keys).await.cert_fingerprint;
    t.admin().revoke(keys.enrolled.device, true).await.unwrap();
    let (status, body) = renew(&t, &keys).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("device-revoked"), "{body}");
    // Nothing was issued or recorded.
    assert_eq!(device_of(&t, &keys).await.cert_fingerprint, fingerprint);
}
