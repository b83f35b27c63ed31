//! Revocation takes effect on the device's very next request, open connections included.

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use kizuna_core::Profession;
use kizuna_server::identity::pki;
use kizuna_testkit::LoopbackRelay;
use rustls::pki_types::ServerName;
use std::sync::Arc;

#[tokio::test]
async fn revoked_device_is_refused_on_the_same_keep_alive_connection() {
    let t = LoopbackRelay::start().await;
    let (_nurse, keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();

    // One TLS connection, HTTP/1.1 keep-alive, several requests on it.
    let mut cfg = pki::client_config(&t.ca_pem, Some((&keys.crt, &keys.key))).unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let get_me = || {
        hyper::Request::get("/v1/me")
            .header("host", "localhost")
            .body(String::new())
            .unwrap()
    };
    for _ in 0..2 {
        let resp = sender.send_request(get_me()).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.into_body().collect().await.unwrap();
    }

    // An HTTP/2 client that keeps its pooled connection, too.
    let h2 = t.raw(Some((&keys.crt, &keys.key)));
    let resp = h2.get(format!("{}/v1/me", t.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    resp.bytes().await.unwrap();

    t.admin().revoke(keys.enrolled.device, true).await.unwrap();

    let resp = sender.send_request(get_me()).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["type"], "urn:kizuna:problem:device-revoked");
    assert_eq!(body["wipe"], true);
    assert!(
        !conn.is_finished(),
        "the refusal came over the same open connection"
    );

    let resp = h2.get(format!("{}/v1/me", t.url)).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    // A fresh connection is refused as well, and the admin list shows the revocation.
    assert_eq!(t.device(&keys).me().await.unwrap_err().status(), Some(403));
    let devices = t.admin().devices().await.unwrap();
    let d = devices
        .iter()
        .find(|d| d.id == keys.enrolled.device)
        .unwrap();
    assert!(d.revoked_at.is_some() && d.wipe);
}

#[tokio::test]
async fn removing_a_professional_revokes_their_devices() {
    let t = LoopbackRelay::start().await;
    let (helper, keys) = t.member("伊藤 花子", Profession::Helper).await.unwrap();
    let (_other, other_keys) = t
        .member("鈴木 健一", Profession::CareManager)
        .await
        .unwrap();
    t.device(&keys).me().await.unwrap();
    t.admin().remove_professional(helper.id).await.unwrap();
    assert_eq!(t.device(&keys).me().await.unwrap_err().status(), Some(403));
    // Nobody else is affected.
    t.device(&other_keys).me().await.unwrap();
    // The removed professional is gone from the list.
    let dir = t.admin().directory().await.unwrap();
    assert!(dir.professionals.iter().all(|p| p.id != helper.id));
}
