//! Enrollment: one-time codes, expiry, CSR checks, rate limits, QR payload.

use kizuna_contract::enrollment::EnrollRequest;
use kizuna_core::{Profession, Timestamp};
use kizuna_server::identity::pki;
use kizuna_server::state::RelayConfig;
use kizuna_testkit::{LoopbackRelay, generous};
use std::time::Duration;

fn req(code: &str, csr: &str) -> EnrollRequest {
    EnrollRequest {
        code: code.to_string(),
        csr_pem: csr.to_string(),
        label: None,
    }
}

#[tokio::test]
async fn enrollment_works_once_then_the_code_fails() {
    let t = LoopbackRelay::start().await;
    let nurse = t.add("佐藤 美咲", Profession::Nurse).await.unwrap();
    let code = t.admin().enroll_code(nurse.id, None).await.unwrap();
    assert!(
        code.qr_payload
            .starts_with("kizuna://enroll?v=1&relay=https%3A%2F%2F127.0.0.1%3A")
    );
    assert!(
        code.qr_payload
            .contains(&format!("ca=sha256:{}", t.relay.ca().fingerprint()))
    );
    assert!(code.qr_payload.ends_with(&format!("code={}", code.code)));
    let expires_in = code.expires_at.0 - Timestamp::now().millis();
    assert!(
        (23 * 3_600_000..=24 * 3_600_000).contains(&expires_in),
        "default life is 24 h"
    );

    let (key, csr) = pki::new_device_key_and_csr().unwrap();
    let enrolled = t.anonymous().enroll(&req(&code.code, &csr)).await.unwrap();
    assert_eq!(enrolled.professional, nurse.id);
    assert_eq!(enrolled.ca_pem, t.ca_pem);

    // The new certificate works at once, and names this professional and device.
    let device = t
        .device(&kizuna_testkit::DeviceKeys {
            crt: enrolled.certificate_pem.clone(),
            key: key.serialize_pem(),
            enrolled: enrolled.clone(),
        })
        .me()
        .await
        .unwrap();
    assert_eq!(device.professional.id, nurse.id);
    assert_eq!(device.device.id, enrolled.device);

    // Second use of the same code, even written in lower case without dashes, fails.
    let (_k2, csr2) = pki::new_device_key_and_csr().unwrap();
    let again = code.code.to_lowercase().replace('-', "");
    let err = t.anonymous().enroll(&req(&again, &csr2)).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
}

#[tokio::test]
async fn expired_and_wrong_codes_fail() {
    let t = LoopbackRelay::start().await;
    let nurse = t.add("佐藤 美咲", Profession::Nurse).await.unwrap();
    t.relay
        .insert_enroll_code(
            kizuna_core::ProfessionalId(nurse.id),
            "ABCD-EFGH-JKLM",
            Timestamp::now().plus_millis(-1000),
        )
        .unwrap();
    let (_key, csr) = pki::new_device_key_and_csr().unwrap();
    let anon = t.anonymous();
    for code in ["ABCD-EFGH-JKLM", "ZZZZ-ZZZZ-ZZZZ", "not a code", ""] {
        let err = anon.enroll(&req(code, &csr)).await.unwrap_err();
        assert_eq!(err.status(), Some(403), "{code}: {err}");
        match err {
            kizuna_server::cli::client::ClientError::Problem(p) => {
                assert_eq!(p.type_uri, "urn:kizuna:problem:enrollment-code-invalid")
            }
            other => panic!("expected a problem, got {other}"),
        }
    }
    // A code for a removed professional is refused too.
    let helper = t.add("伊藤 花子", Profession::Helper).await.unwrap();
    let code = t.admin().enroll_code(helper.id, None).await.unwrap();
    t.admin().remove_professional(helper.id).await.unwrap();
    let err = anon.enroll(&req(&code.code, &csr)).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
}

#[tokio::test]
async fn malformed_csr_gets_a_clear_400_problem_and_keeps_the_code() {
    let t = LoopbackRelay::start().await;
    let nurse = t.add("佐藤 美咲", Profession::Nurse).await.unwrap();
    let code = t.admin().enroll_code(nurse.id, None).await.unwrap();
    let raw = t.raw(None);
    let bad_csrs = [
        "hello".to_string(),
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
            .to_string(),
        // A certificate is not a request.
        t.ca_pem.clone(),
        // Far too big.
        format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n",
            "A".repeat(20_000)
        ),
    ];
    for csr in &bad_csrs {
        let resp = raw
            .post(format!("{}/v1/enroll", t.url))
            .json(&req(&code.code, csr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["type"], "urn:kizuna:problem:invalid-csr");
        assert_eq!(body["status"], 400);
        assert!(body["detail"].as_str().unwrap().contains("CSR"));
    }
    // Not JSON at all, and a body over the size limit.
    let resp = raw
        .post(format!("{}/v1/enroll", t.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = raw
        .post(format!("{}/v1/enroll", t.url))
        .header("content-type", "application/json")
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // The code survived the broken attempts.
    let (_key, csr) = pki::new_device_key_and_csr().unwrap();
    t.anonymous().enroll(&req(&code.code, &csr)).await.unwrap();
}

#[tokio::test]
async fn enrollment_attempts_are_rate_limited_per_source() {
    let t = LoopbackRelay::start_with(RelayConfig {
        enroll_attempts: 3,
        enroll_window: Duration::from_secs(600),
        ..generous()
    })
    .await;
    let nurse = t.add("佐藤 美咲", Profession::Nurse).await.unwrap();
    let (_key, csr) = pki::new_device_key_and_csr().unwrap();
    let anon = t.anonymous();
    for _ in 0..3 {
        let err = anon.enroll(&req("ZZZZ-ZZZZ-ZZZZ", &csr)).await.unwrap_err();
        assert_eq!(err.status(), Some(403));
    }
    // Even the right code is refused once the source is over its budget.
    let code = t.admin().enroll_code(nurse.id, None).await.unwrap();
    let err = anon.enroll(&req(&code.code, &csr)).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
}

/// The first start's acts (the administrator, the city rooms) and every enrollment are in
/// the audit log, each naming what it made, and the chain verifies.
#[tokio::test]
async fn the_first_start_and_every_enrollment_are_audited() {
    let t = LoopbackRelay::start().await;
    let (nurse, keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    let lines = t.admin().audit_export(&[]).await.unwrap();
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    let admin = t.relay.administrators().unwrap().remove(0);
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "relay.administrator.created"
                && r["subject"] == admin.id.to_string()),
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "relay.city_room.created")
            .count(),
        2,
        "{actions:?}"
    );
    let device = keys.enrolled.device.to_string();
    assert!(
        records.iter().any(|r| r["action"] == "device.enrolled"
            && r["subject"] == device
            && r["professional"] == nurse.id.to_string()),
        "{actions:?}"
    );
    assert!(t.admin().audit_verify().await.unwrap().intact);
}
