//! The committed spec is what generated clients are built from: it must equal what the server
//! serves, and it must describe the security model.

use std::path::Path;

use serde_json::Value;

fn generated() -> Value {
    serde_json::from_str(&tessera_api::app::spec_json()).expect("generated spec is JSON")
}

#[test]
fn committed_spec_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == tessera_api::app::spec_json(),
        "openapi/openapi.json differs from the spec the server generates: run `make openapi` and commit the result"
    );
}

#[test]
fn protected_operations_accept_cookie_or_bearer() {
    let spec = generated();
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["CookieAuth"]["type"], "apiKey");
    assert_eq!(schemes["CookieAuth"]["in"], "cookie");
    assert_eq!(schemes["CookieAuth"]["name"], "__Host-access");
    assert_eq!(schemes["BearerAuth"]["type"], "http");
    assert_eq!(schemes["BearerAuth"]["scheme"], "bearer");

    for (path, method) in [("/api/me", "get"), ("/api/me", "patch")] {
        let security = &spec["paths"][path][method]["security"];
        assert_eq!(
            security,
            &serde_json::json!([{"CookieAuth": []}, {"BearerAuth": []}]),
            "{method} {path}"
        );
    }
    for (path, method) in [
        ("/api/auth/login", "post"),
        ("/api/auth/register", "post"),
        ("/api/health", "get"),
    ] {
        assert!(
            spec["paths"][path][method]["security"].is_null(),
            "{method} {path} must be public"
        );
    }
}

/// Which problems each operation documents is tested beside the rules
/// (`problem::documented`); here, that every operation documents some, as problem documents.
#[test]
fn every_operation_documents_problem_responses() {
    let spec = generated();
    let paths = spec["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let responses = op["responses"].as_object().expect("responses");
            for status in ["431", "500"] {
                let content = &responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{method} {path} lacks {status}"))["content"];
                assert!(
                    content["application/problem+json"]["examples"].is_object(),
                    "{method} {path} {status} is not problem+json with examples"
                );
            }
        }
    }
    let codes = &spec["components"]["schemas"]["ProblemCode"]["enum"];
    for code in [
        "invalid_credentials",
        "unauthenticated",
        "token_expired",
        "session_revoked",
        "refresh_reused",
        "csrf_failed",
        "forbidden",
        "rate_limited",
        "validation_failed",
        "email_taken",
        "not_found",
        "payload_too_large",
    ] {
        assert!(
            codes.as_array().expect("enum").iter().any(|c| c == code),
            "ProblemCode lacks {code}"
        );
    }
}
