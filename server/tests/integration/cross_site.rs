//! Finding 11: what a web page in an administrator's browser (which holds the admin
//! certificate, as the operations guide has them import it) could make the browser send to
//! the JSON admin API, and malformed ids in console paths.

use kizuna_core::Profession;
use kizuna_testkit::LoopbackRelay;

fn is_problem(r: &reqwest::Response, kind: &str) -> bool {
    r.headers()
        .get("content-type")
        .is_some_and(|v| v == "application/problem+json")
        && r.status().is_client_error()
        && !kind.is_empty()
}

async fn kind_of(r: reqwest::Response) -> String {
    let v: serde_json::Value = r.json().await.unwrap();
    v["type"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn admin_api_refuses_cross_site_style_requests() {
    let t = LoopbackRelay::start().await;
    let (_, keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    let device = keys.enrolled.device;
    let raw = t.raw(Some((&t.admin_crt, &t.admin_key)));
    let revoke = format!("{}/v1/admin/devices/{device}/revoke", t.url);
    let revoked = || {
        t.relay
            .devices()
            .unwrap()
            .into_iter()
            .find(|d| d.id.0 == device)
            .unwrap()
            .revoked_at
            .is_some()
    };

    // The pen test's request: text/plain JSON from another site.
    let r = raw
        .post(&revoke)
        .header("content-type", "text/plain")
        .header("origin", "https://evil.example")
        .body(r#"{"wipe":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(is_problem(&r, "cross-origin"));
    assert_eq!(kind_of(r).await, "urn:kizuna:problem:cross-origin");
    assert!(!revoked());
    // Another site's Origin is refused even with the right type, and on reads too.
    let r = raw
        .post(&revoke)
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .body(r#"{"wipe":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = raw
        .get(format!("{}/v1/admin/devices", t.url))
        .header("origin", "null")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!revoked());

    // Without Origin (a form from an old browser, a privacy extension): the type decides.
    for (ctype, body) in [
        (Some("text/plain"), r#"{"wipe":true}"#),
        (Some("application/x-www-form-urlencoded"), ""),
        (Some("multipart/form-data; boundary=x"), "--x--\r\n"),
        (None, ""),
    ] {
        let mut req = raw.post(&revoke).body(body.to_string());
        if let Some(c) = ctype {
            req = req.header("content-type", c);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 415, "{ctype:?}");
        assert_eq!(
            kind_of(r).await,
            "urn:kizuna:problem:unsupported-media-type"
        );
        assert!(!revoked(), "{ctype:?} revoked the device");
    }
    // The other state-changing admin routes, bodiless ones included.
    let pro = t.add("田中 由美", Profession::Pharmacist).await.unwrap();
    for (method, path) in [
        (
            "POST",
            format!("/v1/admin/professionals/{}/enroll-codes", pro.id),
        ),
        ("DELETE", format!("/v1/admin/professionals/{}", pro.id)),
        ("POST", "/v1/admin/rooms".to_string()),
        ("POST", "/v1/admin/notices".to_string()),
        ("POST", "/v1/direct".to_string()),
    ] {
        let r = raw
            .request(method.parse().unwrap(), format!("{}{path}", t.url))
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415, "{method} {path}");
    }
    assert!(
        t.relay
            .directory()
            .professional(kizuna_core::ProfessionalId(pro.id))
            .unwrap()
            .unwrap()
            .is_active()
    );

    // The relay's own origin and the kizuna client still work.
    let r = raw
        .post(&revoke)
        .header("content-type", "application/json")
        .header("origin", t.url.trim_end_matches('/'))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(revoked());
    t.admin().remove_professional(pro.id).await.unwrap();
}

#[tokio::test]
async fn console_ids_with_control_characters_are_bad_requests() {
    use kizuna_contract::console::CredentialsRequest;
    use kizuna_server::admin::console::totp;
    let t = LoopbackRelay::start().await;
    let setup = t
        .admin()
        .console_credentials(&CredentialsRequest {
            login: "boss".into(),
            password: Some("a long enough password".into()),
        })
        .await
        .unwrap();
    let c = reqwest::Client::builder()
        .use_preconfigured_tls(
            kizuna_server::identity::pki::client_config(&t.ca_pem, None).unwrap(),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Log in with password + TOTP.
    let page = c
        .get(format!("{}/console/login", t.url))
        .send()
        .await
        .unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-kizuna-login="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body = page.text().await.unwrap();
    let token = |body: &str| {
        body.split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    let secret = totp::decode_secret(&setup.totp_secret).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let form = format!(
        "csrf={}&method=password&login=boss&password=a+long+enough+password&code={}",
        token(&body),
        totp::code_at(&secret, now)
    );
    let r = c
        .post(format!("{}/console/login", t.url))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-kizuna-console="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = c
        .get(format!("{}/console/devices", t.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let csrf = token(&page.text().await.unwrap());
    for path in [
        "/console/professionals/%0D%0Ax/remove",
        "/console/professionals/%0D%0ASet-Cookie:%20a=b",
        "/console/rooms/%0Ax/archive",
        "/console/rooms/%0Ax/members",
        "/console/rooms/%0D%0Ax/members/y/remove",
        "/console/professionals/%7F/enroll",
    ] {
        let r = c
            .post(format!("{}{path}", t.url))
            .header("cookie", &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "csrf={csrf}&confirm=no&archived=yes&professional=x&role=writer&name=a&kana=a&profession=nurse&organisation=a"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.headers().get("location").is_none());
    }
    let r = c
        .get(format!("{}/console/rooms/%0D%0Ax", t.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
