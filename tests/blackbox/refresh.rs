//! Cases 3, 4 and 5: refresh-token rotation under races, the grace window, reuse detection,
//! forged tokens, session expiry, and access-token expiry with its leeway.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera_store::testing::TestDatabase;
use time::Duration;

use crate::harness::{ACCESS, Browser, REFRESH, TestServer, assert_invalid_token, assert_problem};
use crate::tokens::{b64, unb64};

/// The browser's jar with its refresh cookie replaced by `token`.
fn presenting(browser: &Browser, token: &str) -> Browser {
    let mut copy = browser.clone();
    copy.set_cookie(REFRESH, token);
    copy
}

/// Case 3: sixteen tabs refresh at once with the same cookie.
async fn concurrent_refreshes(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, _) = server.register("alice@example.com").await;
    let original = browser.refresh_token();
    server.advance(Duration::seconds(60));

    let replies = join_all((0..16).map(|_| server.send(browser.request_csrf(Method::POST, "/api/auth/refresh")))).await;
    let mut refresh_tokens = Vec::new();
    for reply in &replies {
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "a concurrent refresh failed: {}",
            reply.text()
        );
        refresh_tokens.push(reply.set_cookie(REFRESH).expect("new refresh cookie").value);
        let access = reply.set_cookie(ACCESS).expect("new access cookie").value;
        assert_eq!(server.me_bearer(&access).await.status, StatusCode::OK);
    }
    assert!(
        refresh_tokens.iter().all(|t| *t == refresh_tokens[0]),
        "refresh tokens differ: {refresh_tokens:?}"
    );
    assert_ne!(refresh_tokens[0], original);

    // Whichever response the jar kept, the session carries on.
    browser.absorb(&replies[15]);
    assert_eq!(browser.me().await.status, StatusCode::OK);
    server.advance(Duration::seconds(60));
    let reply = browser.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_ne!(
        browser.refresh_token(),
        refresh_tokens[0],
        "the next refresh rotates again"
    );
    assert_eq!(browser.me().await.status, StatusCode::OK);

    // The same race by native clients (token in the body).
    let native = server.login_native("alice@example.com").await;
    let replies = join_all((0..16).map(|_| server.refresh_body(&native.refresh))).await;
    let bodies: Vec<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json()["refresh_token"].as_str().expect("refresh_token").to_owned()
        })
        .collect();
    assert!(bodies.iter().all(|t| *t == bodies[0]), "native refresh tokens differ");
    assert_ne!(bodies[0], native.refresh);
    assert_eq!(server.refresh_body(&bodies[0]).await.status, StatusCode::OK);
}

/// Case 4: a stale token within the grace window gets the current token again; after it, the
/// replay revokes the whole session.
async fn grace_then_reuse_revokes_session(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, _) = server.register("alice@example.com").await;
    let token_a = browser.refresh_token();
    let first_access = browser.access();

    server.advance(Duration::seconds(60));
    let reply = browser.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let token_b = browser.refresh_token();
    assert_ne!(token_a, token_b);

    // Within the grace window (10 s): A again → B again, byte for byte, and no further rotation.
    for step in [1, 4, 4] {
        server.advance(Duration::seconds(step));
        let mut late_tab = presenting(&browser, &token_a);
        let reply = late_tab.refresh().await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "stale token within grace: {}",
            reply.text()
        );
        assert_eq!(reply.set_cookie(REFRESH).expect("refresh cookie").value, token_b);
    }
    // Native form of the same late retry.
    let reply = server.refresh_body(&token_a).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(
        reply.json().get("refresh_token").is_none(),
        "a cookie session never gets tokens in a body"
    );
    assert_eq!(reply.set_cookie(REFRESH).expect("refresh cookie").value, token_b);
    let access_b = browser.access();
    assert_eq!(server.me_bearer(&access_b).await.status, StatusCode::OK);

    // Past the grace window (9 s + 2 s = 11 s after the rotation): A is a replay.
    server.advance(Duration::seconds(2));
    let mut attacker = presenting(&browser, &token_a);
    let reply = attacker.refresh().await;
    assert_invalid_token(&reply, "refresh_reused");
    reply.assert_cookies_cleared();
    assert!(
        reply.set_cookie(REFRESH).is_some_and(|c| c.value.is_empty()),
        "no new token is handed out"
    );

    // The whole session is gone: the current refresh token B and every access token of it.
    let reply = browser.clone().refresh().await;
    assert_problem(&reply, 401, "session_revoked");
    reply.assert_cookies_cleared();
    assert_problem(&server.refresh_body(&token_b).await, 401, "session_revoked");
    assert_invalid_token(&browser.clone().me().await, "session_revoked");
    assert_invalid_token(&server.me_bearer(&access_b).await, "session_revoked");
    assert_invalid_token(&server.me_bearer(&first_access).await, "session_revoked");
    // Replaying again changes nothing and still answers 401.
    assert_eq!(server.refresh_body(&token_a).await.status, StatusCode::UNAUTHORIZED);

    // Another session of the same user is unaffected.
    let (mut other, _) = server.login("alice@example.com").await;
    assert_eq!(other.me().await.status, StatusCode::OK);
    assert_eq!(other.refresh().await.status, StatusCode::OK);
}

/// Case 4: a token two generations old is a replay even inside the grace window of the latest
/// rotation (only the immediately previous token gets the grace).
async fn older_generation_is_replay(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let registration = json!({"email": "alice@example.com", "password": crate::harness::PASSWORD, "name": "A", "token_delivery": "body"});
    let reply = server.post_json("/api/auth/register", &registration).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    reply.assert_no_cookies();
    let token_a = reply.json()["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let reply = server.refresh_body(&token_a).await;
    let token_b = reply.json()["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let reply = server.refresh_body(&token_b).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let token_c = reply.json()["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let access_c = reply.json()["access_token"].as_str().expect("access_token").to_owned();
    assert!(token_a != token_b && token_b != token_c && token_a != token_c);

    let reply = server.refresh_body(&token_a).await;
    assert_invalid_token(&reply, "refresh_reused");
    reply.assert_no_cookies();
    assert_problem(&server.refresh_body(&token_c).await, 401, "session_revoked");
    assert_invalid_token(&server.me_bearer(&access_c).await, "session_revoked");
}

/// Case 4: forged tokens — the right format with random bytes, a real token with one character
/// changed, other shapes — get 401 and revoke nothing.
async fn forged_refresh_tokens_revoke_nothing(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, _) = server.register("alice@example.com").await;
    let real = browser.refresh_token();
    let raw = unb64(&real);

    let mut forgeries: Vec<String> = Vec::new();
    // Right length and alphabet, random bytes.
    let random: Vec<u8> = (0..raw.len())
        .map(|i| uuid::Uuid::new_v4().as_bytes()[i % 16])
        .collect();
    forgeries.push(b64(&random));
    // The real session id and generation with a random secret (and the real tag).
    let mut other_secret = raw.clone();
    for byte in &mut other_secret[24..56] {
        *byte ^= 0x5a;
    }
    forgeries.push(b64(&other_secret));
    // The real token with a later generation (a forger guessing the next token).
    let mut later = raw.clone();
    later[23] = later[23].wrapping_add(1);
    forgeries.push(b64(&later));
    // One character flipped at several positions (sid, generation, secret, tag).
    for position in [0, 10, 30, 40, 60, 80, real.len() - 2] {
        let mut chars: Vec<char> = real.chars().collect();
        chars[position] = if chars[position] == 'A' { 'B' } else { 'A' };
        forgeries.push(chars.into_iter().collect());
    }
    // Wrong shapes.
    forgeries.extend([
        format!("{real}A"),
        real[..real.len() - 1].to_owned(),
        real.replace(|c: char| c.is_ascii_alphanumeric(), "_"),
        format!("{real}=="),
        "x".to_owned(),
        "A".repeat(real.len()),
        "%%%".to_owned(),
    ]);

    for forged in &forgeries {
        assert_ne!(forged, &real);
        let mut attacker = presenting(&browser, forged);
        let reply = attacker.refresh().await;
        assert_invalid_token(&reply, "unauthenticated");
        let reply = server.refresh_body(forged).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{forged}: {}", reply.text());
        // Logout with a forged token must not end the real session either.
        let reply = server
            .post_json("/api/auth/logout", &json!({ "refresh_token": forged }))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "logout with {forged}: {}",
            reply.text()
        );
    }

    // The real session is untouched: its access token works and the real token rotates normally
    // (it is still the current one, so the refresh is a rotation, not a grace re-issue).
    assert_eq!(browser.me().await.status, StatusCode::OK);
    server.advance(Duration::seconds(30));
    let reply = browser.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let next = browser.refresh_token();
    assert_ne!(next, real);
    server.advance(Duration::seconds(30));
    assert_eq!(browser.refresh().await.status, StatusCode::OK);
    assert_eq!(browser.me().await.status, StatusCode::OK);
}

/// Idle timeout (14 d since the last refresh) and absolute lifetime (30 d) end the session; the
/// refresh cookie's Max-Age tracks the time left.
async fn session_expiry(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut idle, _) = server.register("alice@example.com").await;
    let (mut busy, _) = server.login("alice@example.com").await;

    // Just before the idle timeout the session is alive; refreshing restarts the idle clock.
    server.advance(Duration::days(14) - Duration::seconds(1));
    let reply = busy.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.set_cookie(REFRESH).expect("refresh cookie").max_age(),
        14 * 86_400
    );

    server.advance(Duration::seconds(1));
    let reply = idle.refresh().await;
    assert_problem(&reply, 401, "session_revoked");
    reply.assert_cookies_cleared();

    // The busy session, 27 d after login: 3 d left of the absolute lifetime, less than the idle 14 d.
    server.advance(Duration::days(13));
    let reply = busy.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.set_cookie(REFRESH).expect("refresh cookie").max_age(), 3 * 86_400);
    let expires = reply.json()["session"]["refresh_expires_at"]
        .as_str()
        .expect("refresh_expires_at")
        .to_owned();
    let expires =
        time::OffsetDateTime::parse(&expires, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    assert_eq!(expires - server.now(), Duration::days(3));

    server.advance(Duration::days(3) - Duration::seconds(1));
    let reply = busy.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.set_cookie(REFRESH).expect("refresh cookie").max_age(), 1);
    server.advance(Duration::seconds(1));
    let reply = busy.refresh().await;
    assert_problem(&reply, 401, "session_revoked");
    reply.assert_cookies_cleared();
}

/// Case 5: access-token expiry with 5 s of leeway; refresh still works afterwards.
async fn access_token_expiry(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, _) = server.register("alice@example.com").await;
    let native = server.login_native("alice@example.com").await;

    server.advance(Duration::minutes(10) + Duration::seconds(5));
    assert_eq!(browser.me().await.status, StatusCode::OK, "within the 5 s leeway");
    assert_eq!(server.me_bearer(&native.access).await.status, StatusCode::OK);

    server.advance(Duration::seconds(1));
    let reply = browser.me().await;
    assert_invalid_token(&reply, "token_expired");
    assert!(
        reply.set_cookies().is_empty(),
        "an expired access token must not clear the refresh cookie"
    );
    assert_invalid_token(&server.me_bearer(&native.access).await, "token_expired");
    // Unsafe requests with the expired token too.
    assert_invalid_token(&browser.patch_me("New Name").await, "token_expired");

    let reply = browser.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let reply = browser.me().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let reply = server.refresh_body(&native.refresh).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let access = reply.json()["access_token"].as_str().expect("access_token").to_owned();
    assert_eq!(server.me_bearer(&access).await.status, StatusCode::OK);
}

tessera_store::backend_tests!(
    concurrent_refreshes,
    grace_then_reuse_revokes_session,
    older_generation_is_replay,
    forged_refresh_tokens_revoke_nothing,
    session_expiry,
    access_token_expiry,
);
