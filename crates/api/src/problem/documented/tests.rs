use super::*;

fn spec() -> Value {
    serde_json::from_str(&crate::app::spec_json()).expect("the spec is JSON")
}

/// The codes each status of `method path` documents.
fn documented(spec: &Value, method: &str, path: &str) -> BTreeMap<u16, Vec<String>> {
    let responses = spec["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is in the spec"));
    responses
        .iter()
        .filter_map(|(status, response)| {
            let examples = response["content"][PROBLEM_CONTENT_TYPE]["examples"].as_object()?;
            Some((status.parse().expect("status"), examples.keys().cloned().collect()))
        })
        .collect()
}

#[test]
fn get_me_documents_only_what_it_can_answer() {
    let me = documented(&spec(), "get", "/api/me");
    assert!(!me.contains_key(&409), "{me:?}");
    assert!(!me.contains_key(&413), "{me:?}");
    assert!(!me.contains_key(&503), "no database read: {me:?}");
    assert!(!me.contains_key(&400), "no input: {me:?}");
    assert_eq!(
        me.get(&401).map(Vec::as_slice),
        Some(
            ["session_revoked", "token_expired", "unauthenticated"]
                .map(String::from)
                .as_slice()
        )
    );
}

#[test]
fn register_documents_its_own_problems_and_the_rules() {
    let register = documented(&spec(), "post", "/api/auth/register");
    for (status, code) in [
        (409, "email_taken"),
        (400, "validation_failed"),
        (422, "validation_failed"),
        (413, "payload_too_large"),
        (403, "csrf_failed"),
        (429, "rate_limited"),
        (503, "storage_unavailable"),
    ] {
        assert!(
            register
                .get(&status)
                .is_some_and(|codes| codes.iter().any(|c| c == code)),
            "{status} {code}: {register:?}"
        );
    }
    assert!(!register.contains_key(&401), "no authentication: {register:?}");
    assert!(!register.contains_key(&404), "{register:?}");
}

#[test]
fn every_example_is_the_problem_of_its_status_and_name() {
    let spec = spec();
    let mut seen = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let Some(examples) = response["content"][PROBLEM_CONTENT_TYPE]["examples"].as_object() else {
                    continue;
                };
                let description = response["description"].as_str().unwrap_or_default();
                for (name, example) in examples {
                    let body = &example["value"];
                    assert_eq!(body["status"].to_string(), *status, "{method} {path} {name}");
                    assert_eq!(body["code"], *name, "{method} {path} {status}");
                    assert!(body["title"].is_string() && body["type"].is_string() && body["detail"].is_string());
                    assert!(
                        description.contains(&format!("`{name}`")),
                        "{method} {path} {status}: {description}"
                    );
                    seen += 1;
                }
            }
            assert!(
                operation["responses"]["500"]["content"][PROBLEM_CONTENT_TYPE].is_object(),
                "{method} {path} documents 500"
            );
        }
    }
    assert!(seen > 50, "{seen}");
}

#[test]
fn each_code_has_examples_of_itself() {
    let codes = every_code(&spec());
    assert!(codes.len() >= 16, "{codes:?}");
    for code in codes {
        let examples = code.examples();
        assert!(!examples.is_empty(), "{code:?}");
        for example in examples {
            assert_eq!(example.code, code);
            assert!(example.status.is_client_error() || example.status.is_server_error());
        }
    }
}

#[test]
fn an_undeclared_operation_is_reported_and_documents_every_code() {
    let mut spec: Value = serde_json::from_str(&crate::app::api_service().spec()).expect("JSON");
    let mistakes = document_problems(&mut spec, &[]);
    assert!(
        mistakes
            .iter()
            .any(|m| m.contains("`get_me`") && m.contains("PROBLEMS")),
        "{mistakes:?}"
    );
    let me = documented(&spec, "get", "/api/me");
    assert!(
        me.get(&409)
            .is_some_and(|codes| codes.iter().any(|code| code == "email_taken")),
        "{me:?}"
    );

    let stale: Declared = &[("no_such_operation", &[])];
    let mistakes = document_problems(&mut serde_json::json!({"paths": {}}), &[stale, stale]);
    assert!(mistakes.iter().any(|m| m.contains("declared twice")), "{mistakes:?}");
    assert!(
        mistakes.iter().any(|m| m.contains("no operation has that id")),
        "{mistakes:?}"
    );
}
