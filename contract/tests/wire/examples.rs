//! Literal JSON as the relay sends it today (from its handlers and integration tests), the
//! problem kinds, and every enum spelling checked against kizuna-core.

use crate::roundtrip;
use kizuna_contract::{Problem, ProblemKind};

#[test]
fn health_is_status_ok() {
    // `api::healthz`: `json!({"status": "ok"})`.
    assert_eq!(
        serde_json::to_string(&kizuna_contract::Health::ok()).unwrap(),
        serde_json::json!({"status": "ok"}).to_string()
    );
}

#[test]
fn problems_are_what_the_relay_sends() {
    // `Problem::from(RelayError::Revoked { wipe: true })` in `api.rs`.
    let json = r#"{"type":"urn:kizuna:problem:device-revoked","title":"Device revoked","status":403,"detail":"this device's access has been revoked by the administrator","wipe":true}"#;
    roundtrip::<Problem>(json);
    assert_eq!(
        serde_json::to_string(&Problem::revoked(true)).unwrap(),
        json
    );
    // `internal()`: no detail, no wipe.
    let json = r#"{"type":"urn:kizuna:problem:internal","title":"Internal error","status":500}"#;
    roundtrip::<Problem>(json);
    assert_eq!(
        serde_json::to_string(&Problem::new(ProblemKind::Internal, None)).unwrap(),
        json
    );
    // A problem from a newer relay still reads, without a known kind.
    let p: Problem =
        serde_json::from_str(r#"{"type":"urn:kizuna:problem:new-thing","title":"T","status":418}"#)
            .unwrap();
    assert_eq!(p.kind(), None);
}

#[test]
fn problem_kinds_have_the_relays_status_and_title() {
    // (slug, status, title) as `api.rs` builds them.
    let relay = [
        ("invalid", 400, "Invalid request"),
        ("protocol-version", 400, "Unsupported protocol version"),
        ("invalid-csr", 400, "Invalid certificate signing request"),
        ("upload-cut", 400, "Upload cut"),
        (
            "client-certificate-required",
            401,
            "Client certificate required",
        ),
        ("certificate-retired", 401, "Certificate authority retired"),
        ("device-revoked", 403, "Device revoked"),
        ("forbidden", 403, "Forbidden"),
        (
            "enrollment-code-invalid",
            403,
            "Enrollment code not accepted",
        ),
        ("cross-origin", 403, "Cross-origin request refused"),
        ("not-found", 404, "Not found"),
        ("method-not-allowed", 405, "Method not allowed"),
        ("conflict", 409, "Conflict"),
        ("too-large", 413, "Request too large"),
        ("unsupported-media-type", 415, "Unsupported media type"),
        ("range", 416, "Range not satisfiable"),
        ("rate-limited", 429, "Too many attempts"),
        ("internal", 500, "Internal error"),
        ("busy", 503, "Relay busy"),
        ("storage-full", 507, "Relay storage full"),
        ("storage-failed", 500, "Relay storage failed"),
    ];
    assert_eq!(relay.len(), ProblemKind::ALL.len());
    for (k, (slug, status, title)) in ProblemKind::ALL.into_iter().zip(relay) {
        assert_eq!((k.slug(), k.status(), k.title()), (slug, status, title));
        assert_eq!(k.type_uri(), format!("urn:kizuna:problem:{slug}"));
        assert_eq!(ProblemKind::from_type_uri(&k.type_uri()), Some(k));
        assert_eq!(Problem::new(k, None).kind(), Some(k));
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn enum_spellings_are_cores() {
    for p in kizuna_core::Profession::ALL {
        let ours: kizuna_contract::Profession = p.into();
        assert_eq!(json(&ours), json(&p));
        assert_eq!(kizuna_core::Profession::from(ours), p);
    }
    assert_eq!(
        kizuna_contract::Profession::ALL.len(),
        kizuna_core::Profession::ALL.len()
    );
    for r in [kizuna_core::Role::Writer, kizuna_core::Role::Reader] {
        assert_eq!(json(&kizuna_contract::Role::from(r)), json(&r));
    }
    use kizuna_core::RoomKind as K;
    for k in [K::Patient, K::CityNotices, K::Alerts, K::Direct] {
        assert_eq!(json(&kizuna_contract::RoomKind::from(k)), json(&k));
    }
    for k in kizuna_core::careplan::FileKind::ALL {
        let ours: kizuna_contract::careplans::CarePlanFileKind = k.into();
        assert_eq!(json(&ours), json(&k));
    }
    // The city rooms as the relay spelled them (`"notices"`, `"alerts"`), in JSON and URLs.
    for (ours, today) in [
        (kizuna_contract::notices::CityRoom::Notices, "notices"),
        (kizuna_contract::notices::CityRoom::Alerts, "alerts"),
    ] {
        assert_eq!(json(&ours), format!("\"{today}\""));
        assert_eq!(ours.key(), today);
        assert_eq!(
            kizuna_contract::notices::CityRoom::from_key(ours.key()),
            Some(ours)
        );
    }
}

#[test]
fn core_conversions_keep_the_json() {
    use kizuna_core::model::Consent;
    let c = Consent {
        given_by: "山田 花子".into(),
        relation: "本人".into(),
        date: kizuna_core::Date::new(2024, 2, 29).unwrap(),
        obtained_by: "佐藤".into(),
        obtained_by_id: Some(kizuna_core::ProfessionalId::new()),
        form: Some(kizuna_core::ContentHash::of(b"pdf")),
    };
    let ours: kizuna_contract::rooms::Consent = c.clone().into();
    assert_eq!(json(&ours), json(&c));
    assert_eq!(Consent::try_from(ours.clone()).unwrap(), c);
    let bad = kizuna_contract::rooms::Consent {
        date: "2025-02-29".into(),
        ..ours
    };
    assert!(Consent::try_from(bad).is_err());
    let t = kizuna_core::Timestamp(1_765_000_000_000);
    assert_eq!(json(&kizuna_contract::Millis::from(t)), json(&t));
}

#[test]
fn audit_limits_are_the_apis() {
    use kizuna_contract::audit::{AuditQuery, MAX_EXPORT_LIMIT};
    assert_eq!(AuditQuery::default().effective_limit(), 100_000);
    let q = AuditQuery {
        limit: Some(5_000_000),
        ..AuditQuery::default()
    };
    assert_eq!(q.effective_limit(), MAX_EXPORT_LIMIT);
}
