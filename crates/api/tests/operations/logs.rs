//! Every 403 is logged with its reason (and a refused origin), never with a secret.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Browser, PASSWORD, Server, free_port};

#[tokio::test]
async fn every_refusal_is_logged_with_its_reason_and_no_secret() {
    let data = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let public = format!("http://{addr}");
    let server = Server::start(
        data.path(),
        &addr,
        &[("TESSERA_LOG_FORMAT", "json"), ("RUST_LOG", "info")],
    )
    .await;
    let mut browser = Browser::new(&public, None);
    let registered = browser
        .post(
            "/api/auth/register",
            Some(json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"})),
        )
        .await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let access = browser.cookie("__Host-access").unwrap().to_owned();
    let csrf = browser.cookie("__Host-csrf").unwrap().to_owned();

    // 1. The app opened under another name.
    browser.origin = format!("http://localhost:{}", addr.rsplit(':').next().unwrap());
    let mut wrong_name = Browser::new(&public, None);
    wrong_name.cookies = browser.cookies.clone();
    let refused = wrong_name
        .client
        .patch(format!("{public}/api/me"))
        .header("origin", &browser.origin)
        .header("cookie", format!("__Host-access={access}; __Host-csrf={csrf}"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // 2. A wrong CSRF token.
    let forged_token = "forged-csrf-token-value-0123456789";
    let refused = wrong_name
        .client
        .patch(format!("{public}/api/me"))
        .header("cookie", format!("__Host-access={access}; __Host-csrf={csrf}"))
        .header("x-csrf-token", forged_token)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // 3. A user at an admin endpoint.
    let refused = wrong_name
        .client
        .get(format!("{public}/api/admin/users"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let log = server.log_text();
    let refusals: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "request refused")
        .collect();
    let details: Vec<&str> = refusals.iter().filter_map(|l| l["detail"].as_str()).collect();
    assert_eq!(refusals.len(), 3, "one line per 403: {details:?}\n{log}");
    assert!(
        details[0].contains(&browser.origin) && details[0].contains(&public),
        "the refused origin and the accepted one: {details:?}"
    );
    assert!(details[1].contains("X-CSRF-Token does not match"), "{details:?}");
    assert_eq!(refusals[2]["code"], "Forbidden", "{refusals:?}");
    for line in &refusals {
        assert!(
            line["span"]["id"].is_string() || line["spans"].is_array(),
            "in the request's span: {line}"
        );
    }
    for secret in [PASSWORD, access.as_str(), csrf.as_str(), forged_token] {
        assert!(!log.contains(secret), "a secret in the log: {secret}");
    }
}
