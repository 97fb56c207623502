//! A user row deleted behind Tessera's back (an operator's `DELETE FROM users`) while the user
//! still holds tokens: every authenticated endpoint ends the session with a 401 (and clears the
//! cookies), never a 500. Two ways the row goes: with the foreign keys' cascade (the sessions
//! and events go too), and with the foreign keys off (the `sqlite3` shell's default;
//! PostgreSQL with `session_replication_role = replica`), leaving sessions without a user.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use serde_json::json;
use tessera_store::Backend;
use tessera_store::testing::TestDatabase;

use crate::harness::{Browser, PASSWORD, TestServer, assert_invalid_token};
use crate::tokens::decode;

const EMAIL: &str = "gone@example.com";

/// Deletes the user `EMAIL` on a connection of its own. `cascade: false` turns the foreign keys
/// off first, so the user's sessions and events stay behind.
async fn delete_behind_the_back(db: &TestDatabase, cascade: bool) {
    let mut options = ConnectOptions::new(db.url.clone());
    options.max_connections(1).sqlx_logging(false);
    let conn = Database::connect(options).await.expect("connect");
    let statements: &[&str] = match (db.backend, cascade) {
        (_, true) => &[],
        (Backend::Sqlite, false) => &["PRAGMA foreign_keys = OFF"],
        (Backend::Postgres, false) => &["SET session_replication_role = replica"],
    };
    for sql in statements {
        conn.execute_unprepared(sql).await.expect("foreign keys off");
    }
    let result = conn
        .execute_unprepared(&format!("DELETE FROM users WHERE email = '{EMAIL}'"))
        .await
        .expect("delete the user");
    assert_eq!(result.rows_affected(), 1);
    conn.close().await.expect("close");
}

fn sid(browser: &Browser) -> String {
    decode(&browser.access()).1["sid"].as_str().expect("sid").to_owned()
}

/// Asserts the 401 that ends a session, with the cookies cleared.
#[track_caller]
fn assert_session_ended(what: &str, reply: &crate::harness::Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}: {}", reply.text());
    reply.assert_cookies_cleared();
}

async fn a_deleted_user_is_logged_out_never_500(db: &TestDatabase, cascade: bool) {
    let server = TestServer::start(db, &[]).await;
    let (registered, _) = server.register(EMAIL).await;
    let mut browsers = vec![registered];
    for _ in 0..6 {
        browsers.push(server.login(EMAIL).await.0);
    }
    let native = server.login_native(EMAIL).await;
    let [
        mut logout_all,
        mut profile,
        mut password,
        mut revoke_own,
        mut listing,
        mut refresh,
        mut logout,
    ] = <[Browser; 7]>::try_from(browsers).unwrap_or_else(|_| unreachable!());
    let ended_here: Vec<String> = [&logout_all, &profile, &password, &revoke_own, &listing]
        .iter()
        .map(|browser| browser.access())
        .collect();
    delete_behind_the_back(db, cascade).await;

    let reply = logout_all.post_empty("/api/auth/logout-all").await;
    assert_session_ended("logout-all", &reply);
    assert_invalid_token(&reply, "session_revoked");

    let reply = profile.patch_me("Nobody").await;
    assert_session_ended("PATCH /api/me", &reply);
    assert_invalid_token(&reply, "session_revoked");

    let body = json!({"current_password": PASSWORD, "new_password": "amber-Lattice-93-slowly-Harbor"});
    let reply = password.post_json("/api/me/password", &body).await;
    assert_session_ended("POST /api/me/password", &reply);

    let own = sid(&revoke_own);
    let request = revoke_own.request_csrf(Method::DELETE, &format!("/api/sessions/{own}"));
    let reply = revoke_own.send(request).await;
    assert_session_ended("DELETE /api/sessions/{id}", &reply);

    let reply = listing.get("/api/sessions").await;
    assert_session_ended("GET /api/sessions", &reply);

    let reply = refresh.refresh().await;
    assert_session_ended("refresh", &reply);
    let reply = server.refresh_body(&native.refresh).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "native refresh: {}",
        reply.text()
    );

    // Logging out of a session that is already gone is no error.
    let reply = logout.logout().await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "logout: {}", reply.text());
    reply.assert_cookies_cleared();

    // The events of a user that is gone: whatever is left (never an error).
    let reply = server
        .send(
            server
                .request(Method::GET, "/api/me/events")
                .bearer_auth(&native.access),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "events: {}", reply.text());

    // Every session found over is refused at once, here without any database read.
    for access in ended_here {
        assert_invalid_token(&server.me_bearer(&access).await, "session_revoked");
    }
}

async fn deleted_with_cascade(db: &TestDatabase) {
    a_deleted_user_is_logged_out_never_500(db, true).await;
}

async fn deleted_with_foreign_keys_off(db: &TestDatabase) {
    a_deleted_user_is_logged_out_never_500(db, false).await;
}

tessera_store::backend_tests!(deleted_with_cascade, deleted_with_foreign_keys_off);
