//! Transport: TLS 1.3 only, client certificates from this CA only.

use kizuna_core::{DeviceId, Profession, ProfessionalId};
use kizuna_server::identity::pki::{self, Ca, DeviceIdentity};
use kizuna_testkit::LoopbackRelay;
use rustls::pki_types::ServerName;
use std::sync::Arc;

#[tokio::test]
async fn health_answers_without_a_certificate_but_me_does_not() {
    let t = LoopbackRelay::start().await;
    let health = t.anonymous().health().await.unwrap();
    assert_eq!(health.status, "ok");
    let resp = t
        .raw(None)
        .get(format!("{}/v1/me", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert!(resp.headers().contains_key("x-request-id"));
    // Admin routes too.
    let err = t.anonymous().directory().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn a_certificate_from_another_ca_fails_the_handshake() {
    let t = LoopbackRelay::start().await;
    let nurse = t.add("佐藤 美咲", Profession::Nurse).await.unwrap();
    // A look-alike CA issues a certificate naming a real professional.
    let other = Ca::create("Kizuna relay CA").unwrap();
    let (key, csr) = pki::new_device_key_and_csr().unwrap();
    let crt = other
        .issue_device_cert(
            &csr,
            DeviceIdentity {
                professional: ProfessionalId(nurse.id),
                device: DeviceId::new(),
            },
            "佐藤 美咲",
            "x",
        )
        .unwrap();
    let client = kizuna_server::cli::client::Client::new(
        &t.url,
        &t.ca_pem,
        Some((&crt, &key.serialize_pem())),
    )
    .unwrap();
    let err = client.me().await.unwrap_err();
    assert!(
        matches!(err, kizuna_server::cli::client::ClientError::Connect(_)),
        "expected a TLS failure, got {err}"
    );
    // Even the health endpoint: a presented certificate must chain to the relay's CA.
    assert!(client.health().await.is_err());
}

#[tokio::test]
async fn a_valid_certificate_for_an_unknown_device_is_refused() {
    // Signed by the right CA but never enrolled (e.g. a store restored from an old backup).
    let t = LoopbackRelay::start().await;
    let (key, csr) = pki::new_device_key_and_csr().unwrap();
    let crt = t
        .relay
        .ca()
        .issue_device_cert(
            &csr,
            DeviceIdentity {
                professional: ProfessionalId::new(),
                device: DeviceId::new(),
            },
            "誰か",
            "x",
        )
        .unwrap();
    let client = kizuna_server::cli::client::Client::new(
        &t.url,
        &t.ca_pem,
        Some((&crt, &key.serialize_pem())),
    )
    .unwrap();
    assert_eq!(client.me().await.unwrap_err().status(), Some(401));
}

#[tokio::test]
async fn tls_1_2_is_refused() {
    let t = LoopbackRelay::start().await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            t.relay.ca().cert_der().to_vec(),
        ))
        .unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(pki::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    let result = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    let Err(err) = result else {
        panic!("a TLS 1.2 handshake must fail");
    };
    assert!(
        err.to_string().to_lowercase().contains("protocol") || err.to_string().contains("alert"),
        "{err}"
    );

    // The same code path with TLS 1.3 succeeds, so the failure above is the version.
    let cfg13 = pki::client_config(&t.ca_pem, None).unwrap();
    let tcp = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    let ok = tokio_rustls::TlsConnector::from(Arc::new(cfg13))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(
        ok.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

#[tokio::test]
async fn server_certificate_is_valid_for_localhost_and_loopback() {
    let t = LoopbackRelay::start().await;
    let port = t.addr.port();
    for host in ["localhost", "127.0.0.1"] {
        let c = kizuna_server::cli::client::Client::new(
            &format!("https://{host}:{port}"),
            &t.ca_pem,
            None,
        )
        .unwrap();
        c.health().await.unwrap();
    }
}

#[tokio::test]
async fn only_the_certificate_issued_at_enrollment_is_accepted() {
    // Someone with the CA key mints a second certificate for an enrolled device's ids.
    let t = LoopbackRelay::start().await;
    let (nurse, keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    let (key, csr) = pki::new_device_key_and_csr().unwrap();
    let forged = t
        .relay
        .ca()
        .issue_device_cert(
            &csr,
            DeviceIdentity {
                professional: ProfessionalId(nurse.id),
                device: DeviceId(keys.enrolled.device),
            },
            "佐藤 美咲",
            "x",
        )
        .unwrap();
    let client = kizuna_server::cli::client::Client::new(
        &t.url,
        &t.ca_pem,
        Some((&forged, &key.serialize_pem())),
    )
    .unwrap();
    assert_eq!(client.me().await.unwrap_err().status(), Some(401));
    // The real one still works.
    t.device(&keys).me().await.unwrap();
}

#[tokio::test]
async fn a_lost_admin_identity_is_reissued_at_start() {
    let t = LoopbackRelay::start().await;
    let out = t.data().join("admin");
    let old_device = t.admin().me().await.unwrap().device.id;
    std::fs::remove_file(out.join("admin.crt")).unwrap();
    std::fs::remove_file(out.join("admin.key")).unwrap();
    let setup =
        kizuna_server::startup::ensure_admin(&t.relay, &out, "管理者", "かんりしゃ", "x").unwrap();
    assert!(matches!(
        setup,
        kizuna_server::startup::AdminSetup::Reissued(_)
    ));
    let crt = std::fs::read_to_string(out.join("admin.crt")).unwrap();
    let key = std::fs::read_to_string(out.join("admin.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("admin.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let admin =
        kizuna_server::cli::client::Client::new(&t.url, &t.ca_pem, Some((&crt, &key))).unwrap();
    let me = admin.me().await.unwrap();
    assert!(me.professional.administrator);
    assert_ne!(me.device.id, old_device);
    // The old identity can now be revoked by the new one.
    admin.revoke(old_device, false).await.unwrap();
}
