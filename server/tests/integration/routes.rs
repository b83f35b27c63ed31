//! The route table of the contract (`kizuna_contract::routes::ROUTES`, from which
//! `docs/openapi.json` is generated) against the relay's real router: every documented route
//! must reach a handler, so a route renamed or dropped on one side fails here. (A route added
//! to the router must be added to the table by review: axum cannot list its routes.)

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kizuna_contract::routes::{Method, ROUTES};
use kizuna_testkit::LoopbackRelay;
use tower::ServiceExt;

/// The path with every parameter filled in: a nil UUID for ids, 64 zeros for a blob hash.
fn concrete(path: &str) -> String {
    path.replace("{hash}", &"0".repeat(64))
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                uuid::Uuid::nil().to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_route_reaches_a_handler() {
    let t = LoopbackRelay::start().await;
    assert!(!ROUTES.is_empty());
    for route in ROUTES {
        let method = match route.method {
            Method::Get => axum::http::Method::GET,
            Method::Post => axum::http::Method::POST,
            Method::Put => axum::http::Method::PUT,
            Method::Delete => axum::http::Method::DELETE,
        };
        let uri = concrete(route.path);
        let req = Request::builder()
            .method(method)
            .uri(&uri)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let resp = kizuna_server::router(t.relay.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        let what = format!(
            "{} {} -> {status} {text}",
            route.method.as_str(),
            route.path
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
        assert!(
            !(status == StatusCode::NOT_FOUND && text.contains("no such endpoint")),
            "{what}"
        );
    }
}

#[tokio::test]
async fn the_served_document_is_the_contracts() {
    let t = LoopbackRelay::start().await;
    let (_, keys) = t
        .member("佐藤 美咲", kizuna_core::Profession::Nurse)
        .await
        .unwrap();
    let identity = Some((keys.crt.as_str(), keys.key.as_str()));
    let resp = t
        .raw(identity)
        .get(format!("{}/v1/openapi.json", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), kizuna_contract::openapi_json());
    // Without a certificate it is refused like every device route.
    let resp = t
        .raw(None)
        .get(format!("{}/v1/openapi.json", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
