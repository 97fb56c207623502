//! The account endpoints: the session list and revoking one session, logout everywhere, password
//! change (ends every other session) and the security-event log.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_store::testing::TestDatabase;
use time::Duration;

use crate::harness::{Browser, PASSWORD, TestServer, assert_invalid_token, assert_problem};
use crate::tokens::decode;

const NEW_PASSWORD: &str = "amber-Lattice-93-slowly-Harbor";

fn sid(browser: &Browser) -> String {
    decode(&browser.access()).1["sid"].as_str().expect("sid").to_owned()
}

async fn sessions_list_and_revoke_one(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut laptop, _) = server.register("alice@example.com").await;
    server.advance(Duration::seconds(5));
    let mut phone = server.browser();
    let login = json!({"email": "alice@example.com", "password": PASSWORD});
    let reply = phone
        .send(
            phone
                .request(Method::POST, "/api/auth/login")
                .header("user-agent", "PhoneBrowser/1.0")
                .json(&login),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let native = server.login_native("alice@example.com").await;
    let (mut bob, _) = server.register("bob@example.com").await;

    // The list: Alice's three live sessions, the caller's flagged current.
    let reply = laptop.get("/api/sessions").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let items = reply.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 3, "{items:?}");
    let ids: HashSet<&str> = items.iter().map(|s| s["id"].as_str().expect("id")).collect();
    assert!(ids.contains(sid(&laptop).as_str()) && ids.contains(sid(&phone).as_str()));
    assert!(!ids.contains(sid(&bob).as_str()), "another user's session is listed");
    for item in &items {
        for field in ["id", "created_at", "last_used_at", "expires_at", "current"] {
            assert!(item.get(field).is_some(), "session without {field}: {item}");
        }
        assert_eq!(
            item["current"].as_bool(),
            Some(item["id"] == sid(&laptop).as_str()),
            "{item}"
        );
        assert!(
            item.get("refresh_token").is_none() && item.get("current_hash").is_none(),
            "{item}"
        );
    }
    let phone_item = items
        .iter()
        .find(|s| s["id"] == sid(&phone).as_str())
        .expect("phone session");
    assert_eq!(phone_item["user_agent"], "PhoneBrowser/1.0");
    assert_eq!(phone_item["ip"], "127.0.0.1");

    // Bob cannot see or end Alice's sessions: 404, exactly like a session that does not exist.
    let request = bob.request_csrf(Method::DELETE, &format!("/api/sessions/{}", sid(&phone)));
    let reply = bob.send(request).await;
    assert_problem(&reply, 404, "not_found");
    let request = bob.request_csrf(Method::DELETE, &format!("/api/sessions/{}", uuid::Uuid::new_v4()));
    let missing = bob.send(request).await;
    assert_problem(&missing, 404, "not_found");
    assert_eq!(
        reply.body, missing.body,
        "another user's session must look like a missing one"
    );
    assert_eq!(phone.me().await.status, StatusCode::OK);
    let request = bob.request_csrf(Method::DELETE, "/api/sessions/not-a-uuid");
    let reply = bob.send(request).await;
    assert!(matches!(reply.status.as_u16(), 400 | 404), "{}", reply.text());

    // Cookie callers need the CSRF token to end a session.
    let request = laptop.request(Method::DELETE, &format!("/api/sessions/{}", sid(&phone)));
    assert_problem(&laptop.send(request).await, 403, "csrf_failed");
    assert_eq!(phone.me().await.status, StatusCode::OK);

    // Alice ends the phone's session from the laptop: the phone is out at once.
    let phone_before = phone.clone();
    let request = laptop.request_csrf(Method::DELETE, &format!("/api/sessions/{}", sid(&phone)));
    let reply = laptop.send(request).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert!(
        reply.set_cookies().is_empty(),
        "ending another session must not clear the caller's cookies"
    );
    assert_invalid_token(&phone.me().await, "session_revoked");
    assert_problem(&phone_before.clone().refresh().await, 401, "session_revoked");
    assert_eq!(laptop.me().await.status, StatusCode::OK);
    let reply = laptop.get("/api/sessions").await;
    assert_eq!(reply.json()["items"].as_array().expect("items").len(), 2);

    // A native client ends its own session with Bearer (no CSRF needed).
    let native_sid = decode(&native.access).1["sid"].as_str().expect("sid").to_owned();
    let request = server
        .request(Method::DELETE, &format!("/api/sessions/{native_sid}"))
        .bearer_auth(&native.access);
    assert_eq!(server.send(request).await.status, StatusCode::NO_CONTENT);
    assert_invalid_token(&server.me_bearer(&native.access).await, "session_revoked");
    assert_problem(&server.refresh_body(&native.refresh).await, 401, "session_revoked");

    // Ending the current session clears the cookies.
    let request = laptop.request_csrf(Method::DELETE, &format!("/api/sessions/{}", sid(&laptop)));
    let before = laptop.clone();
    let reply = laptop.send(request).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    reply.assert_cookies_cleared();
    assert_invalid_token(&before.clone().me().await, "session_revoked");
    assert_eq!(bob.me().await.status, StatusCode::OK, "Bob is untouched");
}

async fn logout_everywhere(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut first, _) = server.register("alice@example.com").await;
    let (second, _) = server.login("alice@example.com").await;
    let native = server.login_native("alice@example.com").await;
    let (mut bob, _) = server.register("bob@example.com").await;

    // Cookie callers need CSRF; a refused attempt changes nothing.
    let request = first.request(Method::POST, "/api/auth/logout-all");
    assert_problem(&first.send(request).await, 403, "csrf_failed");
    assert_eq!(second.clone().me().await.status, StatusCode::OK);

    let before = first.clone();
    let reply = first.post_empty("/api/auth/logout-all").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_eq!(reply.header("clear-site-data"), Some("\"cookies\""));
    reply.assert_cookies_cleared();

    for browser in [&before, &second] {
        assert_invalid_token(&browser.clone().me().await, "session_revoked");
        assert_problem(&browser.clone().refresh().await, 401, "session_revoked");
    }
    assert_invalid_token(&server.me_bearer(&native.access).await, "session_revoked");
    assert_problem(&server.refresh_body(&native.refresh).await, 401, "session_revoked");
    assert_eq!(
        bob.me().await.status,
        StatusCode::OK,
        "another user's sessions are untouched"
    );

    // Logging in again at the very same instant works: the new session is not caught by the old
    // revocation (a per-user "valid after" must not refuse tokens issued in the same second).
    let (mut again, _) = server.login("alice@example.com").await;
    assert_eq!(again.me().await.status, StatusCode::OK);
    assert_eq!(again.refresh().await.status, StatusCode::OK);
    assert_eq!(again.me().await.status, StatusCode::OK);

    // Bearer callers need no CSRF.
    let native = server.login_native("alice@example.com").await;
    let reply = server
        .send(
            server
                .request(Method::POST, "/api/auth/logout-all")
                .bearer_auth(&native.access),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_invalid_token(&server.me_bearer(&native.access).await, "session_revoked");
    assert_invalid_token(&again.me().await, "session_revoked");
    // Without credentials: 401.
    assert_problem(
        &server.send(server.request(Method::POST, "/api/auth/logout-all")).await,
        401,
        "unauthenticated",
    );
}

async fn password_change_ends_other_sessions(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut current, _) = server.register("alice@example.com").await;
    let (mut other, _) = server.login("alice@example.com").await;
    let native = server.login_native("alice@example.com").await;
    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});

    // Refusals change nothing.
    let request = current.request(Method::POST, "/api/me/password").json(&change);
    assert_problem(&current.send(request).await, 403, "csrf_failed");
    let wrong = json!({"current_password": "not-the-password-at-all", "new_password": NEW_PASSWORD});
    let reply = current.post_json("/api/me/password", &wrong).await;
    assert!(
        matches!(reply.status.as_u16(), 400 | 401 | 403 | 422),
        "{}",
        reply.text()
    );
    assert!(
        reply.status != StatusCode::UNAUTHORIZED || reply.json()["code"] == "invalid_credentials",
        "{}",
        reply.text()
    );
    for weak in ["short", "password1234", "alice@example.com"] {
        let reply = current
            .post_json(
                "/api/me/password",
                &json!({"current_password": PASSWORD, "new_password": weak}),
            )
            .await;
        assert_problem(&reply, 422, "validation_failed");
    }
    let reply = current
        .post_json("/api/me/password", &json!({"current_password": PASSWORD}))
        .await;
    assert_problem(&reply, 400, "validation_failed");
    assert_eq!(other.me().await.status, StatusCode::OK);
    assert_eq!(
        current.me().await.status,
        StatusCode::OK,
        "a wrong current password must not end the session"
    );
    server.login("alice@example.com").await;

    // The change: this session stays, every other one ends.
    let reply = current.post_json("/api/me/password", &change).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_eq!(current.me().await.status, StatusCode::OK);
    assert_eq!(
        current.refresh().await.status,
        StatusCode::OK,
        "the changing session keeps refreshing"
    );
    assert_eq!(current.me().await.status, StatusCode::OK);
    assert_invalid_token(&other.me().await, "session_revoked");
    assert_invalid_token(&server.me_bearer(&native.access).await, "session_revoked");
    assert_problem(&server.refresh_body(&native.refresh).await, 401, "session_revoked");

    // Old password out, new one in.
    let reply = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "alice@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(&reply, 401, "invalid_credentials");
    let reply = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "alice@example.com", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    // Bearer callers can change their password without CSRF.
    let native = {
        let reply = server
            .post_json(
                "/api/auth/login",
                &json!({"email": "alice@example.com", "password": NEW_PASSWORD, "token_delivery": "body"}),
            )
            .await;
        reply.json()["access_token"].as_str().expect("access_token").to_owned()
    };
    let back = json!({"current_password": NEW_PASSWORD, "new_password": PASSWORD});
    let reply = server
        .send(
            server
                .request(Method::POST, "/api/me/password")
                .bearer_auth(&native)
                .json(&back),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_invalid_token(&current.me().await, "session_revoked");
    server.login("alice@example.com").await;
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().expect("kind")).collect()
}

async fn security_events(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut alice, _) = server.register("alice@example.com").await;
    let (mut bob, _) = server.register("bob@example.com").await;
    server.advance(Duration::seconds(1));
    let reply = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "alice@example.com", "password": "wrong-password-guess"}),
        )
        .await;
    assert_problem(&reply, 401, "invalid_credentials");
    server.advance(Duration::seconds(1));
    // A stolen refresh token replayed after the grace window.
    let (mut victim, _) = server.login("alice@example.com").await;
    let stale = victim.refresh_token();
    assert_eq!(victim.refresh().await.status, StatusCode::OK);
    server.advance(Duration::seconds(11));
    assert_invalid_token(&server.refresh_body(&stale).await, "refresh_reused");
    server.advance(Duration::seconds(1));
    let (mut leaving, _) = server.login("alice@example.com").await;
    assert_eq!(leaving.logout().await.status, StatusCode::NO_CONTENT);
    server.advance(Duration::seconds(1));
    let reply = alice
        .post_json(
            "/api/me/password",
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());

    let reply = alice.get("/api/me/events").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let events = reply.json()["items"].as_array().expect("items").clone();
    let seen = kinds(&events);
    for kind in [
        "account_created",
        "login_succeeded",
        "login_failed",
        "refresh_reuse_detected",
        "logout",
        "password_changed",
    ] {
        assert!(seen.contains(&kind), "no {kind} event in {seen:?}");
    }
    for event in &events {
        for field in ["id", "kind", "at"] {
            assert!(event.get(field).is_some(), "event without {field}: {event}");
        }
        let text = event.to_string();
        assert!(
            !text.contains(PASSWORD) && !text.contains(&stale),
            "an event leaks a secret: {text}"
        );
    }
    let reuse = events
        .iter()
        .find(|e| e["kind"] == "refresh_reuse_detected")
        .expect("reuse event");
    assert_eq!(reuse["session_id"], sid(&victim).as_str());
    // Newest first.
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().expect("at")).collect();
    let parsed: Vec<time::OffsetDateTime> = times
        .iter()
        .map(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).expect("RFC 3339"))
        .collect();
    assert!(parsed.windows(2).all(|w| w[0] >= w[1]), "not newest first: {times:?}");

    // Pagination walks every event exactly once.
    let mut walked: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let path = match &cursor {
            Some(c) => format!("/api/me/events?limit=2&cursor={c}"),
            None => "/api/me/events?limit=2".to_owned(),
        };
        let reply = alice.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let page = reply.json();
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        walked.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let walked_ids: Vec<&Value> = walked.iter().map(|e| &e["id"]).collect();
    let all_ids: Vec<&Value> = events.iter().map(|e| &e["id"]).collect();
    assert_eq!(
        walked_ids, all_ids,
        "paging must return the same events in the same order"
    );
    for bad in ["limit=0", "limit=101", "limit=-1", "limit=x", "cursor=not-a-uuid"] {
        let reply = alice.get(&format!("/api/me/events?{bad}")).await;
        assert_problem(&reply, 400, "validation_failed");
    }

    // Bob sees only his own.
    let reply = bob.get("/api/me/events").await;
    let bob_events = reply.json()["items"].as_array().expect("items").clone();
    assert_eq!(
        kinds(&bob_events),
        ["account_created"],
        "registration is not a login: {bob_events:?}"
    );
    let alice_ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().expect("id")).collect();
    assert!(
        bob_events
            .iter()
            .all(|e| !alice_ids.contains(e["id"].as_str().expect("id")))
    );
    assert_problem(&server.get("/api/me/events").await, 401, "unauthenticated");
}

tessera_store::backend_tests!(
    sessions_list_and_revoke_one,
    logout_everywhere,
    password_change_ends_other_sessions,
    security_events,
);
