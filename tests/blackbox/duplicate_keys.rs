//! Duplicate keys in JSON bodies (issue 12, Low 6): the last one used to win, so
//! `{"email":"a@b.c","email":"alice@…"}` logged in as the second address. Every JSON body is now
//! refused with 400 `validation_failed` when one object has a key twice, at any depth, on every
//! endpoint the spec says takes JSON — checked here by walking openapi/openapi.json.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tessera_store::testing::TestDatabase;

use crate::harness::{Browser, PASSWORD, Reply, TestServer, assert_problem};

const DUPLICATE: &str = "more than once";

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let text = std::fs::read_to_string(path).expect("openapi/openapi.json");
    serde_json::from_str(&text).expect("the spec is JSON")
}

/// (method, path with parameters filled in, property names of the JSON body) of every operation
/// that takes a JSON body.
fn json_operations(spec: &Value) -> Vec<(Method, String, Vec<String>)> {
    let mut found = Vec::new();
    for (template, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Some(content) = operation["requestBody"]["content"].as_object() else {
                continue;
            };
            let Some((_, media)) = content.iter().find(|(ct, _)| ct.starts_with("application/json")) else {
                continue;
            };
            let reference = media["schema"]["$ref"].as_str().expect("body schemas are named");
            let name = reference.rsplit('/').next().expect("schema name");
            let properties = spec["components"]["schemas"][name]["properties"]
                .as_object()
                .map(|props| props.keys().cloned().collect())
                .unwrap_or_default();
            let path = template
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        uuid::Uuid::new_v4().to_string()
                    } else {
                        segment.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
            found.push((method, path, properties));
        }
    }
    found
}

async fn send(browser: &mut Browser, method: &Method, path: &str, body: &str) -> Reply {
    let request = browser
        .request_csrf(method.clone(), path)
        .header("content-type", "application/json")
        .body(body.to_owned());
    browser.send(request).await
}

fn mentions_duplicate(reply: &Reply) -> bool {
    reply.text().contains(DUPLICATE)
}

async fn duplicate_keys_are_refused_on_every_json_endpoint(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (signed_in, _) = server.register("alice@example.com").await;
    let operations = json_operations(&spec());
    assert!(
        operations.len() >= 7,
        "the spec lists the JSON endpoints: {operations:?}"
    );
    let mut failures = Vec::new();
    for (method, path, properties) in &operations {
        let first = properties.first().map_or("field", String::as_str);
        let bodies = [
            ("top level", format!(r#"{{"{first}":"a","{first}":"b"}}"#)),
            (
                "escaped",
                format!(
                    r#"{{"{first}":"a","\u{first_escaped}":"b"}}"#,
                    first_escaped = escape_first(first)
                ),
            ),
            ("nested", format!(r#"{{"{first}":{{"k":[{{"d":1,"d":2}}]}}}}"#)),
        ];
        for (who, mut browser) in [("anonymous", server.browser()), ("signed in", signed_in.clone())] {
            for (label, body) in &bodies {
                let reply = send(&mut browser, method, path, body).await;
                if reply.status != StatusCode::BAD_REQUEST
                    || reply.json()["code"] != "validation_failed"
                    || !mentions_duplicate(&reply)
                {
                    failures.push(format!(
                        "{method} {path} ({who}, {label}): {} {}",
                        reply.status,
                        reply.text()
                    ));
                }
            }
            // Control: without the duplicate, whatever the answer, it is not this refusal.
            let reply = send(&mut browser, method, path, &format!(r#"{{"{first}":"b"}}"#)).await;
            if mentions_duplicate(&reply) {
                failures.push(format!("{method} {path} ({who}, control): {}", reply.text()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "duplicate keys not refused:\n{}",
        failures.join("\n")
    );
}

/// `\u`-escapes the first character of `key` (the rest as is), so `"e"` + `"mail"` → `0065mail`.
fn escape_first(key: &str) -> String {
    let mut chars = key.chars();
    let first = chars.next().expect("a key");
    format!("{:04x}{}", u32::from(first), chars.as_str())
}

/// The probe's case: the second `email` must not be the one that logs in.
async fn a_second_email_key_does_not_log_in(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    server.register("alice@example.com").await;
    for body in [
        format!(r#"{{"email":"nobody@example.com","email":"alice@example.com","password":"{PASSWORD}"}}"#),
        format!(
            r#"{{"email":"nobody@example.com","password":"x","password":"{PASSWORD}","\u0065mail":"alice@example.com"}}"#
        ),
    ] {
        let reply = server
            .send(
                server
                    .request(Method::POST, "/api/auth/login")
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await;
        assert_problem(&reply, 400, "validation_failed");
        assert!(mentions_duplicate(&reply), "{}", reply.text());
        reply.assert_no_cookies();
    }
    // A well-formed login still works.
    server.login("alice@example.com").await;
}

tessera_store::backend_tests!(
    duplicate_keys_are_refused_on_every_json_endpoint,
    a_second_email_key_does_not_log_in,
);
