//! CA rotation with an overlap period, at the relay: during the overlap a TLS client that
//! trusts only the old CA and one that trusts only the new CA both verify the relay (the
//! cross-signed chain); a device on the old CA is told to renew (`kizuna-certificate: renew`)
//! and, renewed, is not any more; `kizuna admin ca …` as its own process rotates, lists the
//! devices left on the old CA, refuses to retire it while one remains (exit status 4) and
//! retires it with `--force`, renewing the administrator's own certificate on the way; after
//! that a certificate of the old CA gets the `certificate-retired` problem. Verification
//! stays on everywhere.

use crate::admin_process::{kizuna_admin_status as kizuna, kizuna_admin_status_async as run};
use kizuna_contract::enrollment::{CERTIFICATE_HEADER, RENEW_NOW};
use kizuna_contract::{Problem, ProblemKind};
use kizuna_core::Profession;
use kizuna_server::identity::pki;
use kizuna_testkit::{DeviceKeys, LoopbackRelay};
use rustls::pki_types::ServerName;
use std::path::Path;
use std::sync::Arc;

/// A TLS 1.3 handshake trusting only `ca_pem`: how many certificates the relay sent, or why
/// it failed.
async fn handshake(t: &LoopbackRelay, ca_pem: &str) -> Result<usize, String> {
    let cfg = pki::client_config(ca_pem, None).unwrap();
    let tcp = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(tls.get_ref().1.peer_certificates().unwrap().len())
}

async fn json(data: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, out, err) = run(data, &all).await;
    assert_eq!(code, Some(0), "kizuna admin {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap()
}

/// `GET /v1/me` as `keys`, trusting `ca_pem`: status, the renewal header, the body.
async fn me(t: &LoopbackRelay, ca_pem: &str, keys: &DeviceKeys) -> (u16, Option<String>, String) {
    let tls = pki::client_config(ca_pem, Some((&keys.crt, &keys.key))).unwrap();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap();
    let resp = http.get(format!("{}/v1/me", t.url)).send().await.unwrap();
    let status = resp.status().as_u16();
    let header = resp
        .headers()
        .get(CERTIFICATE_HEADER)
        .map(|v| v.to_str().unwrap().to_string());
    (status, header, resp.text().await.unwrap())
}

fn device_ids(v: &serde_json::Value) -> Vec<String> {
    v["devices_on_retiring"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_trusts_both_cas_moves_devices_and_retires_the_old_one() {
    let t = LoopbackRelay::start().await;
    let data = t.data().to_path_buf();
    let ca1 = t.ca_pem.clone();
    assert_eq!(handshake(&t, &ca1).await, Ok(2));

    let p = t.add("佐藤 美咲", Profession::Nurse).await.unwrap();
    let moving = t.enroll(p.id).await.unwrap();
    let staying = t.enroll(p.id).await.unwrap();
    let (status, header, _) = me(&t, &ca1, &moving).await;
    assert_eq!((status, header), (200, None), "no rotation, no advice");

    // Rotate from the command line; the CLI renews its own certificate on the way.
    let (code, out, err) = run(&data, &["ca", "rotate"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("retiring"), "{out}");
    assert!(
        err.contains("administrator certificate renewed"),
        "the admin identity moves at once: {err}"
    );
    let ca2 = std::fs::read_to_string(data.join("ca-next.crt")).unwrap();
    assert_ne!(ca2, ca1);

    // Both kinds of phones verify the relay: through the cross-signed certificate, or
    // directly.
    assert_eq!(handshake(&t, &ca1).await, Ok(3));
    assert_eq!(handshake(&t, &ca2).await, Ok(3));

    // A device on CA 1 is still served, and told to renew.
    let (status, header, _) = me(&t, &ca1, &moving).await;
    assert_eq!(status, 200);
    assert_eq!(header.as_deref(), Some(RENEW_NOW));

    // It renews: a CA-2 certificate and the CA-2 certificate to trust; no more advice.
    let (key, csr) = pki::new_device_key_and_csr().unwrap();
    let renewed = t.device(&moving).renew(&csr).await.unwrap();
    assert_eq!(renewed.ca_pem.trim(), ca2.trim());
    let moved = DeviceKeys {
        crt: renewed.certificate_pem,
        key: key.serialize_pem(),
        enrolled: moving.enrolled.clone(),
    };
    let (status, header, _) = me(&t, &ca2, &moved).await;
    assert_eq!((status, header), (200, None));

    // `ca status` lists the device that has not moved (and not the one that did, nor the
    // administrator's).
    let st = json(&data, &["ca", "status"]).await;
    assert_eq!(
        device_ids(&st),
        vec![staying.enrolled.device.to_string()],
        "{st}"
    );

    // Retiring is refused while it remains (exit status 4, the reason given), then forced.
    let (code, _, err) = run(&data, &["ca", "retire-old"]).await;
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("still on the old CA"), "{err}");
    let done = json(&data, &["ca", "retire-old", "--force"]).await;
    assert!(done["retiring"].is_null(), "{done}");
    assert_eq!(done["retired"].as_array().unwrap().len(), 1);
    assert!(!data.join("ca-next.key").exists());

    // The CLI works on with the new ca.crt; the moved device syncs; a phone that stayed on
    // CA 1 still verifies the relay and is told why it is refused.
    let (code, _, err) = run(&data, &["device", "list"]).await;
    assert_eq!(code, Some(0), "{err}");
    let (status, _, _) = me(&t, &ca2, &moved).await;
    assert_eq!(status, 200);
    let (status, _, body) = me(&t, &ca1, &staying).await;
    assert_eq!(status, 401);
    let problem: Problem = serde_json::from_str(&body).unwrap();
    assert_eq!(problem.kind(), Some(ProblemKind::CertificateRetired));
    // So is the certificate the moved device renewed with.
    let (status, _, _) = me(&t, &ca1, &moving).await;
    assert_eq!(status, 401);

    // Every step is audited.
    let (_, audit, _) = run(&data, &["audit", "export"]).await;
    for action in [
        "admin.ca.rotate",
        "admin.ca.retire_old_forced",
        "device.renewed",
        "admin.failed",
    ] {
        assert!(audit.contains(action), "{action} not audited");
    }
}

#[test]
fn a_relay_restarted_during_the_overlap_keeps_both_cas() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let t = LoopbackRelay::start_blocking(&data, None).unwrap();
    let ca1 = t.ca_pem.clone();
    let (code, _, err) = kizuna(&data, &["ca", "rotate"]);
    assert_eq!(code, Some(0), "{err}");
    // Rotating again during the overlap is refused.
    let (code, _, err) = kizuna(&data, &["ca", "rotate"]);
    assert_eq!(code, Some(4), "{err}");
    let status = |data: &Path| -> serde_json::Value {
        let (code, out, err) = kizuna(data, &["--json", "ca", "status"]);
        assert_eq!(code, Some(0), "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let before = status(&data);
    t.stop();
    let t = LoopbackRelay::start_blocking(&data, None).unwrap();
    let after = status(&data);
    assert_eq!(after["issuing"], before["issuing"]);
    assert_eq!(after["retiring"], before["retiring"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(handshake(&t, &ca1)), Ok(3));
    t.stop();
}
