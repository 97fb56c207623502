//! Case 6: native clients — tokens in bodies and `Authorization: Bearer`, never mixed with the
//! cookie session's rules, and no fallbacks.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera_store::testing::TestDatabase;

use crate::harness::{ACCESS, ORIGIN, TestServer, assert_invalid_token, assert_problem};
use crate::tokens::decode;

async fn bearer_clients(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, _) = server.register("alice@example.com").await;

    // Login with token_delivery body: tokens in the body, no Set-Cookie.
    let native = server.login_native("alice@example.com").await;
    assert_eq!(native.body["token_type"], "Bearer");
    assert_eq!(native.body["user"]["email"], "alice@example.com");
    let session_id = native.body["session"]["id"].as_str().expect("session.id").to_owned();
    assert_eq!(decode(&native.access).0["typ"], "at+jwt");
    assert_eq!(decode(&native.access).1["sid"], session_id.as_str());

    // Bearer works for GET /api/me.
    let reply = server.me_bearer(&native.access).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["session_id"], session_id.as_str());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    // The scheme name is case-insensitive.
    let reply = server
        .send(
            server
                .request(Method::GET, "/api/me")
                .header("authorization", format!("bearer {}", native.access)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    // Refresh with the token in the body: new tokens in the body, no cookies.
    let reply = server.refresh_body(&native.refresh).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.assert_no_cookies();
    let body = reply.json();
    let refresh_2 = body["refresh_token"].as_str().expect("refresh_token").to_owned();
    let access_2 = body["access_token"].as_str().expect("access_token").to_owned();
    assert_ne!(refresh_2, native.refresh);
    assert_ne!(access_2, native.access);
    assert_eq!(body["session"]["id"], session_id.as_str());
    assert_eq!(server.me_bearer(&access_2).await.status, StatusCode::OK);

    // A cookie session's refresh never returns tokens in the body, whichever way the refresh token
    // is presented.
    let reply = browser.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "{body}"
    );
    let reply = server.refresh_body(&browser.refresh_token()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "{body}"
    );

    // An invalid Bearer token never falls back to a valid access cookie.
    assert_eq!(browser.me().await.status, StatusCode::OK);
    let tampered = format!("{}x", browser.access());
    for authorization in [
        format!("Bearer {tampered}"),
        "Bearer garbage".to_owned(),
        "Basic YWxpY2U6cHc=".to_owned(),
        "Bearer".to_owned(),
    ] {
        let request = browser
            .request(Method::GET, "/api/me")
            .header("authorization", &authorization);
        let reply = server.send(request).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{authorization}: {}",
            reply.text()
        );
        let request = browser
            .request_csrf(Method::PATCH, "/api/me")
            .header("authorization", &authorization)
            .json(&json!({"name": "Mallory"}));
        assert_eq!(
            server.send(request).await.status,
            StatusCode::UNAUTHORIZED,
            "{authorization}"
        );
    }
    // A valid Bearer token wins over the cookie (another session's cookie here).
    let request = browser.request(Method::GET, "/api/me").bearer_auth(&access_2);
    assert_eq!(server.send(request).await.json()["session_id"], session_id.as_str());

    // A token in the query string is ignored.
    for query in ["access_token", "token", "jwt", ACCESS] {
        let reply = server.get(&format!("/api/me?{query}={access_2}")).await;
        assert_problem(&reply, 401, "unauthenticated");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }

    // Bearer unsafe requests need no CSRF token...
    let reply = server
        .send(
            server
                .request(Method::PATCH, "/api/me")
                .bearer_auth(&access_2)
                .json(&json!({"name": "Alice Native"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.assert_no_cookies();
    let reissued = reply.json()["access_token"]
        .as_str()
        .expect("Bearer callers get the re-issued token")
        .to_owned();
    assert_eq!(server.me_bearer(&reissued).await.json()["name"], "Alice Native");
    // ... but still obey the origin rules.
    let request = server
        .request(Method::PATCH, "/api/me")
        .bearer_auth(&access_2)
        .header("origin", "https://evil.example")
        .json(&json!({"name": "Mallory"}));
    assert_problem(&server.send(request).await, 403, "csrf_failed");
    let request = server
        .request(Method::PATCH, "/api/me")
        .bearer_auth(&access_2)
        .header("origin", ORIGIN)
        .json(&json!({"name": "Alice Native"}));
    assert_eq!(server.send(request).await.status, StatusCode::OK);

    // Logout with Bearer ends that session (and only that one).
    let reply = server
        .send(server.request(Method::POST, "/api/auth/logout").bearer_auth(&access_2))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_invalid_token(&server.me_bearer(&access_2).await, "session_revoked");
    assert_invalid_token(&server.me_bearer(&reissued).await, "session_revoked");
    assert_problem(&server.refresh_body(&refresh_2).await, 401, "session_revoked");
    assert_eq!(
        browser.me().await.status,
        StatusCode::OK,
        "the browser session is another session"
    );

    // Logout with a refresh token in the body.
    let native = server.login_native("alice@example.com").await;
    let reply = server
        .post_json("/api/auth/logout", &json!({ "refresh_token": native.refresh }))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_invalid_token(&server.me_bearer(&native.access).await, "session_revoked");

    // Nothing at all: 401 with a plain challenge.
    let reply = server.send(server.request(Method::POST, "/api/auth/logout")).await;
    assert_problem(&reply, 401, "unauthenticated");
}

tessera_store::backend_tests!(bearer_clients);
