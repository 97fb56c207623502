//! Case 1: the whole browser flow, register → me → profile → refresh → logout, with the cookie
//! attributes and headers a browser relies on, and what logout leaves behind.

use reqwest::StatusCode;
use serde_json::Value;
use tessera_store::testing::TestDatabase;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::harness::{ACCESS, CSRF, REFRESH, TestServer, assert_invalid_token, assert_problem};
use crate::tokens::decode;

fn rfc3339(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        value.as_str().unwrap_or_else(|| panic!("not a string: {value}")),
        &Rfc3339,
    )
    .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {value}"))
}

async fn whole_flow(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let mut browser = server.browser();

    // Register: 201, the user, the session, and exactly the three cookies.
    let reply = browser
        .post_json(
            "/api/auth/register",
            &serde_json::json!({"email": "alice@example.com", "password": crate::harness::PASSWORD, "name": "Alice"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    let user = &body["user"];
    let user_id = user["id"].as_str().expect("user.id").to_owned();
    uuid::Uuid::parse_str(&user_id).expect("user.id is a UUID");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["name"], "Alice");
    assert_eq!(user["role"], "user");
    rfc3339(&user["created_at"]);
    let mut user_keys: Vec<&str> = user
        .as_object()
        .expect("user object")
        .keys()
        .map(String::as_str)
        .collect();
    user_keys.sort_unstable();
    assert_eq!(
        user_keys,
        ["created_at", "email", "email_verified", "id", "name", "role"],
        "user must expose nothing else"
    );
    let session = &body["session"];
    let session_id = session["id"].as_str().expect("session.id").to_owned();
    let access_expires_at = rfc3339(&session["access_expires_at"]);
    let refresh_expires_at = rfc3339(&session["refresh_expires_at"]);
    assert_eq!(access_expires_at - server.now(), time::Duration::minutes(10));
    assert_eq!(refresh_expires_at - server.now(), time::Duration::days(14));
    for secret in ["access_token", "refresh_token", "password", "password_hash"] {
        assert!(
            body.get(secret).is_none() && user.get(secret).is_none(),
            "a cookie session got {secret} in a body"
        );
    }
    assert!(!reply.text().contains(crate::harness::PASSWORD));

    let cookies = reply.set_cookies();
    let mut names: Vec<&str> = cookies.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, [ACCESS, CSRF, REFRESH]);
    let access = reply.set_cookie(ACCESS).expect("access cookie");
    access.assert_host_cookie(true);
    assert_eq!(access.max_age(), 600, "access cookie lives as long as the token");
    let refresh = reply.set_cookie(REFRESH).expect("refresh cookie");
    refresh.assert_host_cookie(true);
    assert_eq!(
        refresh.max_age(),
        14 * 86_400,
        "refresh cookie lives until the session's expiry"
    );
    let csrf = reply.set_cookie(CSRF).expect("csrf cookie");
    csrf.assert_host_cookie(false);
    assert!(!csrf.value.is_empty());

    // The access cookie is a JWT for this user and session.
    let (header, claims) = decode(&access.value);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["sid"], session_id.as_str());
    assert_eq!(claims["iss"], "tessera");
    assert_eq!(claims["aud"], "tessera-api");
    assert_eq!(claims["exp"].as_i64(), Some(access_expires_at.unix_timestamp()));
    // The refresh token is opaque, not a JWT.
    assert!(!refresh.value.contains('.'), "refresh token should be opaque");

    // GET /api/me from the cookie.
    let reply = browser.me().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let me = reply.json();
    assert_eq!(me["id"], user_id.as_str());
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["name"], "Alice");
    assert_eq!(me["role"], "user");
    assert_eq!(me["session_id"], session_id.as_str());
    assert_eq!(rfc3339(&me["expires_at"]), access_expires_at);

    // PATCH /api/me with CSRF: a new access cookie carrying the new name.
    let old_access = browser.access();
    let reply = browser.patch_me("  Alice Liddell ").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["user"]["name"], "Alice Liddell");
    assert!(
        reply.json().get("access_token").is_none(),
        "a cookie caller got a token in the body"
    );
    let reissued = reply
        .set_cookie(ACCESS)
        .expect("PATCH /api/me re-issues the access cookie");
    reissued.assert_host_cookie(true);
    assert_ne!(reissued.value, old_access);
    assert_eq!(decode(&reissued.value).1["sid"], session_id.as_str(), "same session");
    let reply = browser.me().await;
    assert_eq!(reply.json()["name"], "Alice Liddell");

    // Refresh: new refresh and access cookies, nothing secret in the body.
    server.advance(time::Duration::seconds(30));
    let (old_refresh, old_access) = (browser.refresh_token(), browser.access());
    let reply = browser.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["session"]["id"], session_id.as_str());
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    let new_refresh = reply.set_cookie(REFRESH).expect("refresh rotates the refresh cookie");
    new_refresh.assert_host_cookie(true);
    assert_ne!(
        new_refresh.value, old_refresh,
        "the refresh token must change on every refresh"
    );
    let new_access = reply.set_cookie(ACCESS).expect("refresh issues an access cookie");
    new_access.assert_host_cookie(true);
    assert_ne!(new_access.value, old_access);
    if let Some(csrf) = reply.set_cookie(CSRF) {
        csrf.assert_host_cookie(false);
    }
    let reply = browser.me().await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json()["name"],
        "Alice Liddell",
        "the refreshed token carries the current profile"
    );

    // Logout: 204, the cookies cleared, Clear-Site-Data.
    let before_logout = browser.clone();
    let reply = browser.logout().await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_eq!(reply.header("clear-site-data"), Some("\"cookies\""));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    reply.assert_cookies_cleared();
    assert!(browser.cookie(ACCESS).is_none() && browser.cookie(REFRESH).is_none() && browser.cookie(CSRF).is_none());

    // The old access token is refused at once, the refresh token too.
    let mut stale = before_logout.clone();
    let reply = stale.me().await;
    assert_invalid_token(&reply, "session_revoked");
    reply.assert_cookies_cleared();
    let reply = server.me_bearer(&before_logout.access()).await;
    assert_invalid_token(&reply, "session_revoked");

    let mut stale = before_logout.clone();
    let reply = stale.refresh().await;
    assert_problem(&reply, 401, "session_revoked");
    reply.assert_cookies_cleared();
    let reply = server.refresh_body(&before_logout.refresh_token()).await;
    assert_problem(&reply, 401, "session_revoked");

    // Without any credentials the browser is simply unauthenticated.
    let reply = browser.me().await;
    assert_problem(&reply, 401, "unauthenticated");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));

    // Logging out again with the stale cookies is harmless.
    let mut stale = before_logout.clone();
    let reply = stale.logout().await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    reply.assert_cookies_cleared();
}

tessera_store::backend_tests!(whole_flow);
