//! Case 11: state that must survive a restart on the same database and master key — revocations
//! (refilled at start-up), live sessions, signing keys, accounts.

use reqwest::StatusCode;
use tessera_store::testing::TestDatabase;
use time::Duration;

use crate::harness::{TestServer, assert_invalid_token, assert_problem};

async fn restart_keeps_revocations_and_sessions(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut leaving, _) = server.register("alice@example.com").await;
    let (mut staying, _) = server.register("bob@example.com").await;
    let native = server.login_native("bob@example.com").await;
    // A session ended by reuse detection, to be remembered too.
    let (mut stolen, _) = server.login("alice@example.com").await;
    let stolen_refresh = stolen.refresh_token();
    assert_eq!(stolen.refresh().await.status, StatusCode::OK);
    let stolen_access = stolen.access();
    server.advance(Duration::seconds(11));
    assert_invalid_token(&server.refresh_body(&stolen_refresh).await, "refresh_reused");

    let revoked = leaving.clone();
    assert_eq!(leaving.logout().await.status, StatusCode::NO_CONTENT);
    assert_invalid_token(&revoked.clone().me().await, "session_revoked");
    server.advance(Duration::seconds(30));

    let server = server.restart().await;
    let mut revoked = revoked;
    revoked.attach(&server);
    staying.attach(&server);
    stolen.attach(&server);

    // Revocations are refused by the new instance from its first request (no database read on
    // the request path: the set was filled at start-up).
    assert_invalid_token(&revoked.clone().me().await, "session_revoked");
    assert_invalid_token(&server.me_bearer(&revoked.access()).await, "session_revoked");
    assert_invalid_token(&server.me_bearer(&stolen_access).await, "session_revoked");
    assert_problem(&revoked.clone().refresh().await, 401, "session_revoked");
    assert_problem(
        &server.refresh_body(&stolen.refresh_token()).await,
        401,
        "session_revoked",
    );

    // Live sessions carry on: old access tokens verify (keys persisted), refresh rotates.
    assert_eq!(staying.me().await.status, StatusCode::OK);
    assert_eq!(server.me_bearer(&native.access).await.status, StatusCode::OK);
    let before = staying.refresh_token();
    let reply = staying.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_ne!(staying.refresh_token(), before);
    assert_eq!(staying.me().await.status, StatusCode::OK);
    let reply = server.refresh_body(&native.refresh).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    // A second restart later, still within the access TTL: the revocation is still remembered.
    server.advance(Duration::minutes(8));
    let server = server.restart().await;
    assert_invalid_token(&server.me_bearer(&revoked.access()).await, "session_revoked");
    staying.attach(&server);
    assert_eq!(staying.me().await.status, StatusCode::OK);
    // Accounts survive: Alice can log in again with a new session.
    let (mut again, _) = server.login("alice@example.com").await;
    assert_eq!(again.me().await.status, StatusCode::OK);
}

tessera_store::backend_tests!(restart_keeps_revocations_and_sessions);
