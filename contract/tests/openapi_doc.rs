//! `docs/openapi.json` is the committed copy of `kizuna_contract::openapi()`: this test fails
//! when the code changed and the file did not. Regenerate with
//! `KIZUNA_BLESS=1 cargo test -p kizuna-contract --test openapi_doc`.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[test]
fn committed_document_matches_the_code() {
    let generated = kizuna_contract::openapi_json();
    let path = committed_path();
    if std::env::var_os("KIZUNA_BLESS").is_some_and(|v| v != "0") {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from kizuna_contract::openapi(); if the change is intended, \
         regenerate it with `KIZUNA_BLESS=1 cargo test -p kizuna-contract --test openapi_doc` \
         and commit the file"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_mutual_tls() {
    let doc: serde_json::Value =
        serde_json::from_str(&kizuna_contract::openapi_json()).expect("valid JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["deviceCertificate"]["type"],
        "mutualTLS"
    );
    // Enrollment and the health check need no certificate.
    assert_eq!(
        doc["paths"]["/v1/enroll"]["post"]["security"],
        serde_json::json!([{}])
    );
    assert_eq!(
        doc["paths"]["/healthz"]["get"]["security"],
        serde_json::json!([{}])
    );
}

#[test]
fn every_reference_resolves() {
    let text = kizuna_contract::openapi_json();
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut missing = Vec::new();
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap_or_default();
        if !schemas.contains_key(name) {
            missing.push(name.to_string());
        }
    }
    assert!(missing.is_empty(), "dangling references: {missing:?}");
}

#[test]
fn every_route_is_in_the_document_once() {
    let doc: serde_json::Value =
        serde_json::from_str(&kizuna_contract::openapi_json()).expect("valid JSON");
    let mut ids = std::collections::HashSet::new();
    for r in kizuna_contract::routes::ROUTES {
        let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
        assert_eq!(
            op["operationId"],
            r.operation_id,
            "{} {}",
            r.method.as_str(),
            r.path
        );
        assert!(
            ids.insert(r.operation_id),
            "operation id {} twice",
            r.operation_id
        );
        assert!(op["responses"][r.status.to_string()].is_object());
    }
}
