//! Re-authentication (step-up): sensitive operations need a recent proof of a credential, and
//! POST /api/auth/reauth gives one without a new session, through cookies and Bearer alike.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_store::testing::TestDatabase;
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

use crate::admin::admin;
use crate::harness::{Browser, PASSWORD, TestServer, assert_problem};

const NEW_PASSWORD: &str = "sapphire-Walrus-lantern-77-ahead";
/// The default `TESSERA_REAUTH_MAX_AGE`.
const MAX_AGE: Duration = Duration::minutes(10);

fn rfc3339(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a time string"), &Rfc3339).expect("RFC 3339")
}

fn change_to(new_password: &str) -> Value {
    json!({"current_password": PASSWORD, "new_password": new_password})
}

#[track_caller]
fn assert_reauth_required(reply: &crate::harness::Reply) {
    assert_problem(reply, 403, "reauth_required");
    assert_eq!(reply.json()["methods"], json!(["password"]), "{}", reply.text());
}

/// Past the maximum age, with a refreshed access token (the browser's next request after a
/// while): GET /api/me says when the login was.
async fn stale(server: &TestServer, browser: &mut Browser) {
    server.advance(MAX_AGE + Duration::seconds(1));
    let reply = browser.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

async fn a_cookie_session_reauthenticates_before_changing_its_password(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let logged_in_at = server.now();
    let (mut browser, _) = server.register("ada@example.com").await;

    let me = browser.me().await.json();
    assert_eq!(me["amr"], json!(["pwd"]));
    assert_eq!(rfc3339(&me["auth_time"]), logged_in_at);

    stale(&server, &mut browser).await;
    let me = browser.me().await.json();
    assert_eq!(rfc3339(&me["auth_time"]), logged_in_at, "a refresh keeps auth_time");
    assert_eq!(me["amr"], json!(["pwd"]));
    let old_access = browser.access();

    let reply = browser.post_json("/api/me/password", &change_to(NEW_PASSWORD)).await;
    assert_reauth_required(&reply);
    assert!(reply.set_cookies().is_empty(), "a step-up refusal ends nothing");

    // Cookie callers need the CSRF header like every unsafe request.
    let request = browser
        .request(Method::POST, "/api/auth/reauth")
        .json(&json!({"password": PASSWORD}));
    assert_problem(&browser.send(request).await, 403, "csrf_failed");

    let reauth_at = server.now();
    let reply = browser
        .post_json("/api/auth/reauth", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["session"]["id"], me["session_id"], "the same session");
    assert!(body["session"]["access_expires_at"].is_string());
    assert!(body["session"]["refresh_expires_at"].is_string());
    assert!(
        body.get("access_token").is_none(),
        "a cookie session never gets a token in a body"
    );
    let access = reply.set_cookie(crate::harness::ACCESS).expect("a new access cookie");
    access.assert_host_cookie(true);
    assert!(
        reply.set_cookie(crate::harness::REFRESH).is_none(),
        "the refresh token stays"
    );

    let me = browser.me().await.json();
    assert_eq!(rfc3339(&me["auth_time"]), reauth_at);
    assert_eq!(me["amr"], json!(["pwd"]));

    // The access token issued before keeps its old auth_time (documented): it still cannot
    // change the password, until it is replaced.
    let mut old = server.browser();
    for (name, value) in [
        (crate::harness::ACCESS, old_access.as_str()),
        (crate::harness::CSRF, browser.csrf().as_str()),
    ] {
        old.set_cookie(name, value);
    }
    let me_old = old.me().await.json();
    assert_eq!(rfc3339(&me_old["auth_time"]), logged_in_at);
    assert_reauth_required(&old.post_json("/api/me/password", &change_to(NEW_PASSWORD)).await);

    let reply = browser.post_json("/api/me/password", &change_to(NEW_PASSWORD)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());

    // The next refresh carries the re-authentication's time on.
    server.advance(Duration::seconds(30));
    assert_eq!(browser.refresh().await.status, StatusCode::OK);
    assert_eq!(rfc3339(&browser.me().await.json()["auth_time"]), reauth_at);

    let kinds: Vec<String> = browser.get("/api/me/events").await.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|event| event["kind"].as_str().expect("kind").to_owned())
        .collect();
    assert!(kinds.contains(&"reauthenticated".to_owned()), "{kinds:?}");
}

async fn a_bearer_client_gets_the_new_access_token_in_the_body(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    server.register("bob@example.com").await;
    let logged_in_at = server.now();
    let native = server.login_native("bob@example.com").await;
    let me = server.me_bearer(&native.access).await.json();
    assert_eq!(me["amr"], json!(["pwd"]));
    assert_eq!(rfc3339(&me["auth_time"]), logged_in_at);

    server.advance(MAX_AGE + Duration::seconds(1));
    let refreshed = server.refresh_body(&native.refresh).await.json();
    let access = refreshed["access_token"].as_str().expect("access_token").to_owned();
    let refreshed_me = server.me_bearer(&access).await.json();
    assert_eq!(
        rfc3339(&refreshed_me["auth_time"]),
        logged_in_at,
        "a refresh keeps auth_time"
    );

    let change = |token: &str| {
        server
            .request(Method::POST, "/api/me/password")
            .bearer_auth(token)
            .json(&change_to(NEW_PASSWORD))
    };
    assert_reauth_required(&server.send(change(&access)).await);

    let reply = server
        .send(
            server
                .request(Method::POST, "/api/auth/reauth")
                .bearer_auth(&access)
                .json(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(reply.set_cookies().is_empty(), "a Bearer caller gets no cookie");
    let body = reply.json();
    let fresh = body["access_token"].as_str().expect("access_token").to_owned();
    assert_eq!(body["session"]["id"], me["session_id"]);
    assert_eq!(
        rfc3339(&server.me_bearer(&fresh).await.json()["auth_time"]),
        server.now()
    );
    // The old token still works, with its old auth_time.
    let old_me = server.me_bearer(&access).await.json();
    assert_eq!(rfc3339(&old_me["auth_time"]), logged_in_at);

    let reply = server.send(change(&fresh)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
}

async fn a_wrong_password_is_401_and_counts_toward_the_backoff(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, _) = server.register("carol@example.com").await;
    let before = browser.me().await.json()["auth_time"].clone();
    let mut answers = Vec::new();
    for _ in 0..8 {
        let reply = browser
            .post_json("/api/auth/reauth", &json!({"password": "not-the-password-at-all"}))
            .await;
        answers.push(reply.json()["code"].as_str().expect("a code").to_owned());
        assert!(reply.set_cookies().is_empty(), "{}", reply.text());
    }
    assert_eq!(answers.first().map(String::as_str), Some("invalid_credentials"));
    assert_eq!(
        answers.last().map(String::as_str),
        Some("rate_limited"),
        "the failures count toward the account's backoff: {answers:?}"
    );
    // The backoff is the account's: a login meets it too, even with the right password.
    let reply = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "carol@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(&reply, 429, "rate_limited");
    assert_eq!(browser.me().await.json()["auth_time"], before, "nothing moved");
    let kinds = browser.get("/api/me/events").await.json()["items"].to_string();
    assert!(kinds.contains("login_failed"), "{kinds}");
    assert!(!kinds.contains("reauthenticated"), "{kinds}");
}

async fn a_reauth_body_carries_exactly_one_credential(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, _) = server.register("dan@example.com").await;
    for body in [
        json!({}),
        json!({"password": null}),
        json!({"credential": {"id": "x"}, "password": PASSWORD}),
        json!({"recovery_code": "x"}),
        json!({"password": PASSWORD, "totp_code": "123456"}),
        json!({"password": 12}),
    ] {
        let reply = browser.post_json("/api/auth/reauth", &body).await;
        assert!(
            matches!(reply.status.as_u16(), 400 | 422),
            "{body}: {} {}",
            reply.status,
            reply.text()
        );
        assert_eq!(reply.json()["code"], "validation_failed", "{body}");
    }
    assert_problem(
        &server
            .post_json("/api/auth/reauth", &json!({"password": PASSWORD}))
            .await,
        401,
        "unauthenticated",
    );
}

async fn an_admin_change_of_role_or_disabled_needs_recent_auth(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let mut root = admin(&server, "root@example.com").await;
    let (_, body) = server.register("erin@example.com").await;
    let erin = body["user"]["id"].as_str().expect("id").to_owned();
    let path = format!("/api/admin/users/{erin}");
    stale(&server, &mut root).await;

    let patch = |root: &Browser, body: Value| root.request_csrf(Method::PATCH, &path).json(&body);
    // Nothing to change: no step-up needed.
    let reply = root
        .send(patch(&root, json!({"role": "user", "disabled": false})))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    for body in [json!({"role": "admin"}), json!({"disabled": true})] {
        assert_reauth_required(&root.send(patch(&root, body)).await);
    }
    let users = root.get("/api/admin/users").await.json().to_string();
    assert!(
        !users.contains("\"disabled\":true") && users.matches("\"admin\"").count() == 1,
        "{users}"
    );

    let reply = root.post_json("/api/auth/reauth", &json!({"password": PASSWORD})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let reply = root.send(patch(&root, json!({"role": "admin"}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["role"], "admin");
}

async fn a_fresh_login_satisfies_the_step_up(db: &TestDatabase) {
    let server = TestServer::start(db, &[("TESSERA_REAUTH_MAX_AGE", "2s")]).await;
    let (mut browser, _) = server.register("fay@example.com").await;
    server.advance(Duration::seconds(3));
    assert_eq!(browser.refresh().await.status, StatusCode::OK);
    assert_reauth_required(&browser.post_json("/api/me/password", &change_to(NEW_PASSWORD)).await);
    let (mut fresh, _) = server.login("fay@example.com").await;
    let reply = fresh.post_json("/api/me/password", &change_to(NEW_PASSWORD)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
}

tessera_store::backend_tests!(
    a_cookie_session_reauthenticates_before_changing_its_password,
    a_bearer_client_gets_the_new_access_token_in_the_body,
    a_wrong_password_is_401_and_counts_toward_the_backoff,
    a_reauth_body_carries_exactly_one_credential,
    an_admin_change_of_role_or_disabled_needs_recent_auth,
    a_fresh_login_satisfies_the_step_up,
);
