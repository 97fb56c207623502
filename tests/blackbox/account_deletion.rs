//! Leaving Tessera (DESIGN.md part 2): DELETE /api/me ends the account everywhere at once and
//! leaves administrators one `account_deleted` record; GET /api/me/export hands over the
//! account's public data and nothing secret.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_store::testing::TestDatabase;
use time::Duration;

use crate::admin::admin;
use crate::harness::{Browser, PASSWORD, Reply, TestServer, assert_invalid_token, assert_problem};
use crate::multi_instance::{on, propagation_deadline, refused_within, wait_for_listeners};

fn with_password(password: &str) -> Value {
    json!({ "current_password": password })
}

/// DELETE /api/me as the SPA sends it: cookies, `X-CSRF-Token`, the JSON body.
async fn delete_me(browser: &mut Browser, password: &str) -> Reply {
    let request = browser
        .request_csrf(Method::DELETE, "/api/me")
        .json(&with_password(password));
    browser.send(request).await
}

async fn delete_me_bearer(server: &TestServer, access: &str, password: &str) -> Reply {
    server
        .send(
            server
                .request(Method::DELETE, "/api/me")
                .bearer_auth(access)
                .json(&with_password(password)),
        )
        .await
}

#[track_caller]
fn assert_wrong_password(reply: &Reply) {
    assert_problem(reply, 422, "validation_failed");
    assert!(reply.text().contains("current_password"), "{}", reply.text());
    reply.assert_no_cookies();
}

async fn deletion_ends_every_session_on_every_instance(db: &TestDatabase) {
    let a = TestServer::start(db, &[("TESSERA_SYNC_INTERVAL", "1s")]).await;
    let b = a.peer().await;
    wait_for_listeners(&a, db, 2).await;
    let mut root = admin(&a, "root@example.com").await;
    let (mut alice, body) = a.register("alice@example.com").await;
    let alice_id = body["user"]["id"].as_str().expect("id").to_owned();
    let phone = a.login_native("alice@example.com").await;
    let alice_on_b = on(&b, &alice);
    assert_eq!(alice_on_b.clone().me().await.status, StatusCode::OK);
    let access = alice.access();

    let reply = delete_me(&mut alice, PASSWORD).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    reply.assert_cookies_cleared();
    assert_eq!(reply.header("clear-site-data"), Some("\"cookies\""));
    // Refused at once here, for every session of the account.
    assert_invalid_token(&a.me_bearer(&access).await, "session_revoked");
    assert_invalid_token(&a.me_bearer(&phone.access).await, "session_revoked");
    // And on the other instance within the propagation deadline.
    let (propagation, reply) = refused_within(propagation_deadline(db), || {
        let mut browser = alice_on_b.clone();
        async move { browser.me().await }
    })
    .await;
    assert_invalid_token(&reply, "session_revoked");
    println!(
        "{:?}: deletion reached the other instance in {propagation:?}",
        db.backend
    );
    // Each session is its own notice: the phone's may arrive a moment later.
    let (_, reply) = refused_within(propagation_deadline(db), || b.me_bearer(&phone.access)).await;
    assert_invalid_token(&reply, "session_revoked");
    // No refresh token of the account works any more.
    let refresh = a.refresh_body(&phone.refresh).await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED, "{}", refresh.text());
    let mut old_browser = alice_on_b.clone();
    assert_eq!(old_browser.refresh().await.status, StatusCode::UNAUTHORIZED);

    // Administrators see who was deleted, when and from where; nothing else is kept.
    let reply = root.get("/api/admin/account-deletions").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let items = reply.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["kind"], "account_deleted");
    assert_eq!(items[0]["account_id"], alice_id.as_str());
    assert!(items[0]["at"].is_string());
    assert!(
        !reply.text().contains("alice@example.com"),
        "no address kept: {}",
        reply.text()
    );

    // The address is free again, for a new account with a history of its own.
    let (mut again, body) = a.register("alice@example.com").await;
    assert_ne!(body["user"]["id"].as_str(), Some(alice_id.as_str()));
    let events = again.get("/api/me/events").await.json();
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|event| event["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["account_created"]);
}

async fn a_wrong_password_is_refused_and_counted(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut alice, _) = server.register("alice@example.com").await;
    for _ in 0..6 {
        assert_wrong_password(&delete_me(&mut alice, "not-the-current-password").await);
    }
    assert_eq!(alice.me().await.status, StatusCode::OK, "nothing was deleted");
    // The account backs off now, here and at login (the same count).
    assert_problem(&delete_me(&mut alice, PASSWORD).await, 429, "rate_limited");
    let login = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "alice@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(&login, 429, "rate_limited");
    // After the wait the right password deletes.
    server.advance(Duration::seconds(2));
    assert_eq!(delete_me(&mut alice, PASSWORD).await.status, StatusCode::NO_CONTENT);
}

async fn the_per_ip_limit_bounds_guesses(db: &TestDatabase) {
    let server = TestServer::start(db, &[("TESSERA_RATE_LIMIT_PER_IP", "3")]).await;
    let (mut alice, _) = server.register("alice@example.com").await;
    let mut limited = false;
    for _ in 0..5 {
        let reply = delete_me(&mut alice, "not-the-current-password").await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_problem(&reply, 429, "rate_limited");
            limited = true;
            break;
        }
        assert_wrong_password(&reply);
    }
    assert!(limited, "the per-IP allowance never ran out");
}

async fn bearer_callers_delete_without_csrf(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    server.register("alice@example.com").await;
    let native = server.login_native("alice@example.com").await;
    assert_wrong_password(&delete_me_bearer(&server, &native.access, "not-the-current-password").await);

    let reply = delete_me_bearer(&server, &native.access, PASSWORD).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_invalid_token(&server.me_bearer(&native.access).await, "session_revoked");
    assert_eq!(
        server.refresh_body(&native.refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    let login = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "alice@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(&login, 401, "invalid_credentials");
}

async fn cookie_callers_need_the_csrf_token(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut alice, _) = server.register("alice@example.com").await;
    let without = alice.request(Method::DELETE, "/api/me").json(&with_password(PASSWORD));
    assert_problem(&alice.send(without).await, 403, "csrf_failed");
    let wrong = alice
        .request(Method::DELETE, "/api/me")
        .header("x-csrf-token", "forged")
        .json(&with_password(PASSWORD));
    assert_problem(&alice.send(wrong).await, 403, "csrf_failed");
    let cross_site = alice
        .request_csrf(Method::DELETE, "/api/me")
        .header("sec-fetch-site", "cross-site")
        .json(&with_password(PASSWORD));
    assert_problem(&alice.send(cross_site).await, 403, "csrf_failed");
    assert_eq!(alice.me().await.status, StatusCode::OK, "still there");
    // Bad bodies are 4xx, never a deletion.
    for body in [
        json!({}),
        json!({"current_password": 5}),
        json!({"current_password": PASSWORD, "x": 1}),
    ] {
        let request = alice.request_csrf(Method::DELETE, "/api/me").json(&body);
        let reply = alice.send(request).await;
        assert!(reply.status.is_client_error(), "{body}: {}", reply.status);
    }
    assert_eq!(alice.me().await.status, StatusCode::OK, "still there");
}

/// Every key of every object in `value`, at any depth.
fn keys(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                into.push(key.clone());
                keys(inner, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| keys(item, into)),
        _ => {}
    }
}

/// Every string anywhere in `value`.
fn strings(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(text) => into.push(text.clone()),
        Value::Object(map) => map.values().for_each(|inner| strings(inner, into)),
        Value::Array(items) => items.iter().for_each(|item| strings(item, into)),
        _ => {}
    }
}

async fn an_export_holds_the_public_data_and_no_secret(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut alice, body) = server.register("alice@example.com").await;
    let phone = server.login_native("alice@example.com").await;
    let failed = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "alice@example.com", "password": "not-the-password-at-all"}),
        )
        .await;
    assert_problem(&failed, 401, "invalid_credentials");
    server.register("bob@example.com").await;

    let reply = alice.get("/api/me/export").await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let date = server.now().date();
    let file = format!(
        "attachment; filename=\"tessera-export-{:04}-{:02}-{:02}.json\"",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    assert_eq!(reply.header("content-disposition"), Some(file.as_str()));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let export = reply.json();
    assert_eq!(export["user"], body["user"]);
    let sessions = export["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let kinds: Vec<&str> = export["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["login_failed", "login_succeeded", "account_created"]);
    assert_eq!(export["passkeys"], json!([]));
    assert_eq!(
        export["mfa"],
        json!({"totp": false, "recovery_codes_left": 0, "passkeys": 0})
    );

    let mut found = Vec::new();
    keys(&export, &mut found);
    for key in &found {
        let key = key.to_lowercase();
        for secret in ["hash", "secret", "token", "password", "credential", "sealed"] {
            assert!(!key.contains(secret), "key {key:?} in the export");
        }
    }
    let mut values = Vec::new();
    strings(&export, &mut values);
    for secret in [
        phone.refresh.clone(),
        phone.access.clone(),
        alice.refresh_token(),
        alice.access(),
        alice.csrf(),
        PASSWORD.to_owned(),
    ] {
        assert!(
            !values.iter().any(|value| value.contains(&secret)),
            "a secret is in the export"
        );
    }
    assert!(!reply.text().contains("argon2"), "no password hash");

    // Bearer callers get the same; nobody without a token gets anything.
    let bearer = server
        .send(server.request(Method::GET, "/api/me/export").bearer_auth(&phone.access))
        .await;
    assert_eq!(bearer.status, StatusCode::OK);
    assert_eq!(bearer.json()["user"], body["user"]);
    assert_problem(&server.get("/api/me/export").await, 401, "unauthenticated");
}

async fn an_export_of_many_events_is_complete(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    server.register("alice@example.com").await;
    let failures = 1_100;
    let wrong = json!({"email": "alice@example.com", "password": "not-the-password-at-all"});
    for _ in 0..failures {
        // Past the backoff each time: every attempt is checked and recorded.
        server.advance(Duration::minutes(16));
        let reply = server.post_json("/api/auth/login", &wrong).await;
        assert_problem(&reply, 401, "invalid_credentials");
    }
    server.advance(Duration::minutes(16));
    let (mut fresh, _) = server.login("alice@example.com").await;
    let reply = fresh.get("/api/me/export").await;
    assert_eq!(reply.status, StatusCode::OK);
    let events = reply.json()["events"].as_array().expect("events").len();
    assert_eq!(events, failures + 2, "every failure, the login and account_created");
}

tessera_store::backend_tests!(
    deletion_ends_every_session_on_every_instance,
    a_wrong_password_is_refused_and_counted,
    the_per_ip_limit_bounds_guesses,
    bearer_callers_delete_without_csrf,
    cookie_callers_need_the_csrf_token,
    an_export_holds_the_public_data_and_no_secret,
    an_export_of_many_events_is_complete,
);
