//! The admin console over real TLS without a browser: the certificate + TOTP login path
//! (headless Chromium cannot present a client certificate without a system NSS store and
//! policies, so the browser tests use password + TOTP and this test covers the certificate),
//! code replay, session binding to the certificate, brute-force limits, CSRF.

use kizuna_contract::console::{ConsoleSetup, CredentialsRequest};
use kizuna_server::admin::console::totp;
use kizuna_server::identity::pki;
use kizuna_testkit::LoopbackRelay;

fn client(t: &LoopbackRelay, identity: Option<(&str, &str)>) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(pki::client_config(&t.ca_pem, identity).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An `application/x-www-form-urlencoded` body (reqwest's `form` feature is not enabled).
fn encode_form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

const FORM: &str = "application/x-www-form-urlencoded";

fn now_code(secret: &str) -> String {
    let s = totp::decode_secret(secret).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp::code_at(&s, now)
}

fn cookie_of(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_string())
}

/// GETs the login page: (double-submit cookie, form token, body).
async fn login_form(t: &LoopbackRelay, c: &reqwest::Client) -> (String, String, String) {
    let r = c
        .get(format!("{}/console/login", t.url))
        .send()
        .await
        .unwrap();
    let cookie = cookie_of(&r, "__Host-kizuna-login").unwrap();
    let body = r.text().await.unwrap();
    let token = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    (cookie, token, body)
}

async fn post_login(
    t: &LoopbackRelay,
    c: &reqwest::Client,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let (cookie, token, _) = login_form(t, c).await;
    let mut f: Vec<(&str, &str)> = vec![("csrf", &token)];
    f.extend_from_slice(form);
    c.post(format!("{}/console/login", t.url))
        .header(reqwest::header::COOKIE, cookie)
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(encode_form(&f))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn certificate_plus_totp_login_and_session_rules() {
    let t = LoopbackRelay::start().await;
    let setup = t
        .admin()
        .console_credentials(&CredentialsRequest {
            login: "boss".into(),
            password: Some("a long enough password".into()),
        })
        .await
        .unwrap();
    let with_cert = client(&t, Some((&t.admin_crt, &t.admin_key)));
    let without = client(&t, None);

    // The login page recognises the administrator's certificate and asks only for the code.
    let (_, _, body) = login_form(&t, &with_cert).await;
    assert!(body.contains("id=\"cert-admin\""), "certificate recognised");
    let (_, _, body) = login_form(&t, &without).await;
    assert!(!body.contains("cert-admin") && body.contains("name=\"password\""));

    // A certificate alone is not enough.
    let r = post_login(
        &t,
        &with_cert,
        &[("method", "certificate"), ("code", "000000")],
    )
    .await;
    assert_eq!(r.status(), 401);
    // The certificate method without a certificate is refused.
    let code = now_code(&setup.totp_secret);
    let r = post_login(&t, &without, &[("method", "certificate"), ("code", &code)]).await;
    assert_eq!(r.status(), 401);
    // Certificate + TOTP opens a session.
    let r = post_login(
        &t,
        &with_cert,
        &[("method", "certificate"), ("code", &code)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let session = cookie_of(&r, "__Host-kizuna-console").unwrap();
    let raw = r.headers().get_all(reqwest::header::SET_COOKIE);
    assert!(raw.iter().any(|v| {
        v.to_str()
            .unwrap()
            .contains("Secure; HttpOnly; SameSite=Strict")
    }));
    let home = with_cert
        .get(format!("{}/console/", t.url))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("<h1>概要</h1>"));

    // The same code does not work twice, with a password either.
    let r = post_login(
        &t,
        &without,
        &[
            ("method", "password"),
            ("login", "boss"),
            ("password", "a long enough password"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(r.status(), 401, "a TOTP code works once");

    // A session opened with the certificate is useless on a connection without it.
    let stolen = without
        .get(format!("{}/console/", t.url))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 303);
    // ...and it was ended by that attempt.
    let again = with_cert
        .get(format!("{}/console/", t.url))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);

    // Audit: the login is recorded with the device; failures too.
    let audit = t.admin().audit_export(&[]).await.unwrap();
    assert!(audit.contains("\"admin.console.login\""));
    assert!(audit.contains("\"admin.console.login_failed\""));
    assert!(audit.contains("\"admin.console.credentials\""));
}

#[tokio::test]
async fn password_guessing_is_throttled_and_new_credentials_end_sessions() {
    let t = LoopbackRelay::start().await;
    let setup = t
        .admin()
        .console_credentials(&CredentialsRequest {
            login: "boss".into(),
            password: Some("a long enough password".into()),
        })
        .await
        .unwrap();
    let c = client(&t, None);
    // Five wrong passwords lock the account for the window, even with the right ones.
    for _ in 0..5 {
        let r = post_login(
            &t,
            &c,
            &[
                ("method", "password"),
                ("login", "boss"),
                ("password", "wrong password!"),
                ("code", "123456"),
            ],
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    let code = now_code(&setup.totp_secret);
    let r = post_login(
        &t,
        &c,
        &[
            ("method", "password"),
            ("login", "boss"),
            ("password", "a long enough password"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(r.status(), 429);

    // A fresh relay: log in, then set new credentials, and the session ends.
    let t = LoopbackRelay::start().await;
    let setup = t
        .admin()
        .console_credentials(&CredentialsRequest {
            login: "boss".into(),
            password: Some("a long enough password".into()),
        })
        .await
        .unwrap();
    let c = client(&t, None);
    let code = now_code(&setup.totp_secret);
    let r = post_login(
        &t,
        &c,
        &[
            ("method", "password"),
            ("login", "boss"),
            ("password", "a long enough password"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let session = cookie_of(&r, "__Host-kizuna-console").unwrap();
    let get = |s: String| {
        let c = c.clone();
        let url = format!("{}/console/devices", t.url);
        async move {
            c.get(url)
                .header(reqwest::header::COOKIE, s)
                .send()
                .await
                .unwrap()
        }
    };
    let page = get(session.clone()).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    // The administrator's device, enrolled just now: its certificate's expiry and days left.
    let expiry = body.split("class=\"cert-expiry\">").nth(1).unwrap();
    let expiry = expiry.split('<').next().unwrap();
    assert!(
        ["残り729日", "残り730日", "729 days left", "730 days left"]
            .iter()
            .any(|d| expiry.contains(d)),
        "{expiry}"
    );
    let token = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    // A form without the session's token is refused and changes nothing.
    let device = t.relay.devices().unwrap()[0].id;
    let r = c
        .post(format!("{}/console/devices/{device}/revoke", t.url))
        .header(reqwest::header::COOKIE, &session)
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(encode_form(&[("wipe", "yes")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(t.relay.devices().unwrap()[0].revoked_at.is_none());
    assert!(!token.is_empty());
    std::thread::sleep(std::time::Duration::from_millis(5));
    t.admin()
        .console_credentials(&CredentialsRequest {
            login: "boss".into(),
            password: Some("another long password".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        get(session).await.status(),
        303,
        "new credentials end old sessions"
    );
}

/// A login POST prepared ahead (its own login-form cookie and token), to fire at once with
/// others.
async fn prepared_login(
    t: &LoopbackRelay,
    c: &reqwest::Client,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let (cookie, token, _) = login_form(t, c).await;
    let mut f: Vec<(&str, &str)> = vec![("csrf", &token)];
    f.extend_from_slice(form);
    c.post(format!("{}/console/login", t.url))
        .header(reqwest::header::COOKIE, cookie)
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(encode_form(&f))
}

/// A client whose connections come from `127.0.0.<n>` (each a different source address).
fn client_from(t: &LoopbackRelay, n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(pki::client_config(&t.ca_pem, None).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, n]))
        .build()
        .unwrap()
}

async fn boss(t: &LoopbackRelay) -> ConsoleSetup {
    t.admin()
        .console_credentials(&CredentialsRequest {
            login: "boss".into(),
            password: Some("a long enough password".into()),
        })
        .await
        .unwrap()
}

/// Finding 9: eight logins sent at the same instant with the right password and the same
/// TOTP code. The code is spent atomically, so exactly one opens a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_totp_code_opens_one_session_even_when_eight_logins_race() {
    let t = LoopbackRelay::start().await;
    let setup = boss(&t).await;
    // Stay clear of a step boundary, so all eight use the same step's code.
    loop {
        let s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % totp::STEP_SECS;
        if s < totp::STEP_SECS - 8 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let code = now_code(&setup.totp_secret);
    let mut prepared = Vec::new();
    for i in 0..8u8 {
        let c = client_from(&t, 10 + i);
        prepared.push(
            prepared_login(
                &t,
                &c,
                &[
                    ("method", "password"),
                    ("login", "boss"),
                    ("password", "a long enough password"),
                    ("code", &code),
                ],
            )
            .await,
        );
    }
    let answers = futures::future::join_all(prepared.into_iter().map(|r| r.send())).await;
    let statuses: Vec<u16> = answers
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let sessions = statuses.iter().filter(|s| **s == 303).count();
    assert_eq!(sessions, 1, "one code, one session: {statuses:?}");
    assert!(statuses.iter().all(|s| [303, 401, 429].contains(s)));
    let audit = t.admin().audit_export(&[]).await.unwrap();
    assert!(
        audit.contains("\"replayed-code\""),
        "the replays are audited"
    );
}

/// Finding 10: forty wrong passwords sent at once from forty addresses. Failures are
/// reserved before the password is checked, so at most five are checked; the rest are
/// refused as locked, and then even the right password is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn forty_concurrent_wrong_passwords_check_at_most_five() {
    let t = LoopbackRelay::start().await;
    let setup = boss(&t).await;
    let mut prepared = Vec::new();
    for i in 0..40u8 {
        let c = client_from(&t, 100 + i);
        prepared.push(
            prepared_login(
                &t,
                &c,
                &[
                    ("method", "password"),
                    ("login", "boss"),
                    ("password", "wrong password!"),
                    ("code", "123456"),
                ],
            )
            .await,
        );
    }
    let answers = futures::future::join_all(prepared.into_iter().map(|r| r.send())).await;
    let statuses: Vec<u16> = answers
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert!(checked <= 5, "{checked} guesses checked: {statuses:?}");
    assert_eq!(checked + locked, 40, "{statuses:?}");
    // Locked: the right answer is refused too.
    let code = now_code(&setup.totp_secret);
    let c = client_from(&t, 200);
    let r = post_login(
        &t,
        &c,
        &[
            ("method", "password"),
            ("login", "boss"),
            ("password", "a long enough password"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(r.status(), 429);
    // Every attempt is in the audit log, the locked ones too.
    let audit = t.admin().audit_export(&[]).await.unwrap();
    let failed = audit
        .lines()
        .filter(|l| l.contains("\"admin.console.login_failed\""))
        .count();
    assert_eq!(failed, 41, "every attempt audited");
    assert!(audit.contains("\"throttled-account\""));
    assert!(audit.contains("\"wrong-password\""));
    assert!(!audit.contains("wrong password!"), "never the password");
}

/// Finding 11 (audit): unknown names, wrong codes, replayed codes and throttled addresses
/// are audited like successes, without the name typed, the password or the code.
#[tokio::test]
async fn every_login_attempt_is_audited() {
    let t = LoopbackRelay::start().await;
    let setup = boss(&t).await;
    let c = client(&t, None);
    let r = post_login(
        &t,
        &c,
        &[
            ("method", "password"),
            ("login", "nobody-here"),
            ("password", "secret-guess-1"),
            ("code", "123456"),
        ],
    )
    .await;
    assert_eq!(r.status(), 401);
    let code = now_code(&setup.totp_secret);
    let right = [
        ("method", "password"),
        ("login", "boss"),
        ("password", "a long enough password"),
        ("code", code.as_str()),
    ];
    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    let r = post_login(
        &t,
        &c,
        &[
            ("method", "password"),
            ("login", "boss"),
            ("password", "a long enough password"),
            ("code", wrong_code),
        ],
    )
    .await;
    assert_eq!(r.status(), 401);
    assert_eq!(post_login(&t, &c, &right).await.status(), 303);
    assert_eq!(post_login(&t, &c, &right).await.status(), 401);
    // The address limit: 20 attempts, then refused (and audited).
    let other = client_from(&t, 77);
    let mut last = 0;
    for _ in 0..21 {
        last = post_login(
            &t,
            &other,
            &[
                ("method", "password"),
                ("login", "x"),
                ("password", "p"),
                ("code", "1"),
            ],
        )
        .await
        .status()
        .as_u16();
    }
    assert_eq!(last, 429);
    let audit = t.admin().audit_export(&[]).await.unwrap();
    for reason in [
        "unknown-name",
        "wrong-code",
        "ok",
        "replayed-code",
        "throttled-address",
    ] {
        assert!(
            audit.contains(&format!("\"reason\":\"{reason}\"")),
            "{reason} audited:\n{audit}"
        );
    }
    assert!(!audit.contains("nobody-here") && !audit.contains("secret-guess-1"));
    assert!(!audit.contains(&format!("\"{code}\"")));
}
