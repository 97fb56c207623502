//! Abuse limits (DESIGN.md "Passwords and abuse"): per-IP rate limits on the auth endpoints and a
//! per-account exponential backoff after consecutive failures, both answered with 429
//! `rate_limited` and `Retry-After`, and neither revealing which emails have accounts.

use reqwest::StatusCode;
use serde_json::json;
use tessera_store::testing::TestDatabase;
use time::Duration;

use crate::harness::{PASSWORD, Reply, TestServer, assert_problem};

#[track_caller]
fn assert_rate_limited(reply: &Reply) -> u64 {
    assert_problem(reply, 429, "rate_limited");
    let retry_after: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without a numeric Retry-After: {:?}", reply.headers));
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    reply.assert_no_cookies();
    retry_after
}

async fn ip_rate_limit(db: &TestDatabase) {
    let server = TestServer::start(db, &[("TESSERA_RATE_LIMIT_PER_IP", "3")]).await;
    let (mut browser, _) = server.register("alice@example.com").await;
    server.login("alice@example.com").await;
    server.login("alice@example.com").await;

    let login = json!({"email": "alice@example.com", "password": PASSWORD});
    assert_rate_limited(&server.post_json("/api/auth/login", &login).await);
    let registration = json!({"email": "bob@example.com", "password": PASSWORD, "name": "Bob"});
    assert_rate_limited(&server.post_json("/api/auth/register", &registration).await);

    // Refresh has its own, larger allowance: busy SPAs cannot be locked out by login traffic.
    for _ in 0..3 {
        let reply = browser.refresh().await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    // Other endpoints are not rate limited.
    for _ in 0..10 {
        assert_eq!(browser.me().await.status, StatusCode::OK);
    }
    // A forged X-Forwarded-For does not buy a new allowance (no trusted proxies configured).
    let request = server
        .request(reqwest::Method::POST, "/api/auth/login")
        .header("x-forwarded-for", "203.0.113.7")
        .json(&login);
    assert_rate_limited(&server.send(request).await);
}

async fn account_backoff(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    server.register("alice@example.com").await;
    server.register("bob@example.com").await;
    let wrong = |email: &str| json!({"email": email, "password": "definitely-not-the-password"});

    // Known and unknown emails back off identically: the same answers, attempt by attempt.
    for email in ["alice@example.com", "nobody@example.com"] {
        for attempt in 1..=6 {
            let reply = server.post_json("/api/auth/login", &wrong(email)).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{email} attempt {attempt}: {}",
                reply.text()
            );
        }
    }
    let known = server.post_json("/api/auth/login", &wrong("alice@example.com")).await;
    let unknown = server.post_json("/api/auth/login", &wrong("nobody@example.com")).await;
    let known_wait = assert_rate_limited(&known);
    let unknown_wait = assert_rate_limited(&unknown);
    assert_eq!(
        known.body, unknown.body,
        "the 429 must not reveal whether the account exists"
    );
    assert_eq!(known_wait, unknown_wait);

    // While backing off even the right password is refused (no password work is done), in any
    // spelling of the email.
    let right = json!({"email": "  ALICE@example.com ", "password": PASSWORD});
    assert_rate_limited(&server.post_json("/api/auth/login", &right).await);
    // Other accounts are unaffected.
    server.login("bob@example.com").await;

    // After the wait, the right password gets in and the counter starts again.
    server.advance(Duration::seconds(i64::try_from(known_wait).expect("small")));
    let reply = server.post_json("/api/auth/login", &right).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    for _ in 0..5 {
        assert_problem(
            &server.post_json("/api/auth/login", &wrong("alice@example.com")).await,
            401,
            "invalid_credentials",
        );
    }

    // The waits grow: fail once each window opens and the next wait doubles (up to a cap).
    let mut last_wait = 0;
    for _ in 0..4 {
        let reply = server.post_json("/api/auth/login", &wrong("nobody@example.com")).await;
        assert_problem(&reply, 401, "invalid_credentials");
        let wait = assert_rate_limited(&server.post_json("/api/auth/login", &wrong("nobody@example.com")).await);
        assert!(wait > last_wait, "backoff did not grow: {last_wait} → {wait}");
        last_wait = wait;
        server.advance(Duration::seconds(i64::try_from(wait).expect("small")));
    }
    assert!(last_wait >= 4, "the backoff did not grow: {last_wait}");
    assert!(
        last_wait <= 15 * 60,
        "the backoff must be capped, never a lockout: {last_wait}"
    );
}

const NEW_PASSWORD: &str = "cobalt-Heron-82-softly-Lantern";

fn password_change(current: &str) -> serde_json::Value {
    json!({"current_password": current, "new_password": NEW_PASSWORD})
}

/// POST /api/me/password checks a password: the same per-account backoff as login, counted in
/// the same place, so an access token does not buy unlimited guesses (issue 12, Medium).
async fn password_change_is_throttled_like_login(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, _) = server.register("alice@example.com").await;
    for attempt in 1..=6 {
        let reply = browser
            .post_json("/api/me/password", &password_change("not-the-current-password"))
            .await;
        assert_problem(&reply, 422, "validation_failed");
        assert!(
            reply.text().contains("current_password"),
            "attempt {attempt}: {}",
            reply.text()
        );
    }
    // Now even the right password waits, before any password work.
    let wait = assert_rate_limited(&browser.post_json("/api/me/password", &password_change(PASSWORD)).await);
    // The wrong guesses counted toward the account: the next login meets the backoff too.
    let login = json!({"email": "alice@example.com", "password": PASSWORD});
    assert_eq!(
        assert_rate_limited(&server.post_json("/api/auth/login", &login).await),
        wait
    );

    // After the wait, the right password goes through and clears the count.
    server.advance(Duration::seconds(i64::try_from(wait).expect("small")));
    let reply = browser.post_json("/api/me/password", &password_change(PASSWORD)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    let wrong = json!({"email": "alice@example.com", "password": "definitely-not-the-password"});
    for _ in 0..5 {
        assert_problem(
            &server.post_json("/api/auth/login", &wrong).await,
            401,
            "invalid_credentials",
        );
    }
    let reply = browser
        .post_json("/api/me/password", &password_change("still-not-the-password"))
        .await;
    assert_problem(&reply, 422, "validation_failed");
    assert_rate_limited(
        &browser
            .post_json("/api/me/password", &password_change(NEW_PASSWORD))
            .await,
    );
}

/// Password changes take from the per-IP allowance login and register share.
async fn password_change_takes_from_the_ip_limit(db: &TestDatabase) {
    let server = TestServer::start(db, &[("TESSERA_RATE_LIMIT_PER_IP", "3")]).await;
    let (mut browser, _) = server.register("alice@example.com").await;
    for _ in 0..2 {
        let reply = browser
            .post_json("/api/me/password", &password_change("not-the-current-password"))
            .await;
        assert_problem(&reply, 422, "validation_failed");
    }
    assert_rate_limited(&browser.post_json("/api/me/password", &password_change(PASSWORD)).await);
    let login = json!({"email": "alice@example.com", "password": PASSWORD});
    assert_rate_limited(&server.post_json("/api/auth/login", &login).await);
}

/// A burst of parallel guesses when the backoff opens: exactly one is checked, the rest wait.
async fn parallel_guesses_cannot_share_one_opening(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (browser, _) = server.register("alice@example.com").await;
    let wrong = password_change("not-the-current-password");
    for _ in 0..6 {
        let mut browser = browser.clone();
        assert_problem(
            &browser.post_json("/api/me/password", &wrong).await,
            422,
            "validation_failed",
        );
    }
    let mut probe = browser.clone();
    let wait = assert_rate_limited(&probe.post_json("/api/me/password", &wrong).await);
    server.advance(Duration::seconds(i64::try_from(wait).expect("small")));
    let burst = (0..16).map(|_| {
        let mut browser = browser.clone();
        let wrong = wrong.clone();
        async move { browser.post_json("/api/me/password", &wrong).await }
    });
    let replies = futures::future::join_all(burst).await;
    let checked = replies.iter().filter(|r| r.status.as_u16() == 422).count();
    for reply in replies.iter().filter(|r| r.status.as_u16() != 422) {
        assert_rate_limited(reply);
    }
    assert_eq!(checked, 1, "one opening of the backoff, one guess");
}

tessera_store::backend_tests!(
    ip_rate_limit,
    account_backoff,
    password_change_is_throttled_like_login,
    password_change_takes_from_the_ip_limit,
    parallel_guesses_cannot_share_one_opening,
);
