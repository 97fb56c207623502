//! Scale-out (DESIGN.md "Instant revocation without a database read", "Refresh tokens" 6): two
//! instances on one database. A revocation on one is refused by the other within 1 s on
//! PostgreSQL (LISTEN/NOTIFY; SQLite relies on the catch-up poll), and concurrent refreshes spread
//! over both instances keep rotation idempotent, for cookie and body (native) clients.
//! Process-level scale-out (the real binary, listener cuts, key rotation, the database gone) is in
//! crates/api/tests/cases/instances.rs.
//!
//! Propagation is measured in real time (it is a latency target), by polling with short waits
//! under a deadline; everything else uses the shared manual clock.

use std::time::{Duration as StdDuration, Instant};

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tessera_store::Backend;
use tessera_store::testing::TestDatabase;
use time::Duration;

use crate::harness::{Browser, REFRESH, Reply, TestServer, assert_invalid_token, assert_problem};

/// How long a revocation may take to reach another instance.
pub(crate) fn propagation_deadline(db: &TestDatabase) -> StdDuration {
    match db.backend {
        Backend::Postgres => StdDuration::from_secs(1),
        // No notifications: the catch-up poll (TESSERA_SYNC_INTERVAL=1s here) heals it.
        _ => StdDuration::from_secs(3),
    }
}

/// Waits until both instances hold their PostgreSQL LISTEN connection, so a notification sent
/// now cannot be missed by an instance that is still starting.
pub(crate) async fn wait_for_listeners(server: &TestServer, db: &TestDatabase, count: i64) {
    if db.backend != Backend::Postgres {
        return;
    }
    let sql = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
               AND application_name = 'tessera-listener' AND query ILIKE 'LISTEN%'";
    let started = Instant::now();
    loop {
        let row = server
            .state()
            .store
            .connection()
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .expect("pg_stat_activity")
            .expect("one row");
        if row.try_get::<i64>("", "n").expect("count") >= count {
            return;
        }
        assert!(
            started.elapsed() < StdDuration::from_secs(10),
            "instances never started listening"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// Polls `probe` until it answers 401, failing after `deadline`. Returns how long it took.
pub(crate) async fn refused_within<F, Fut>(deadline: StdDuration, mut probe: F) -> (StdDuration, Reply)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Reply>,
{
    let started = Instant::now();
    loop {
        let reply = probe().await;
        if reply.status == StatusCode::UNAUTHORIZED {
            return (started.elapsed(), reply);
        }
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert!(started.elapsed() < deadline, "still accepted after {deadline:?}");
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
}

pub(crate) fn on(server: &TestServer, browser: &Browser) -> Browser {
    let mut copy = browser.clone();
    copy.attach(server);
    copy
}

async fn revocations_reach_every_instance(db: &TestDatabase) {
    let a = TestServer::start(db, &[("TESSERA_SYNC_INTERVAL", "1s")]).await;
    let b = a.peer().await;
    wait_for_listeners(&a, db, 2).await;
    let deadline = propagation_deadline(db);

    // Logout on A: B refuses the access token within the deadline.
    let (mut alice, _) = a.register("alice@example.com").await;
    let alice_b = on(&b, &alice);
    assert_eq!(
        alice_b.clone().me().await.status,
        StatusCode::OK,
        "tokens verify on every instance"
    );
    let access = alice.access();
    assert_eq!(alice.logout().await.status, StatusCode::NO_CONTENT);
    assert_invalid_token(&a.me_bearer(&access).await, "session_revoked");
    let (propagation, reply) = refused_within(deadline, || {
        let mut browser = alice_b.clone();
        async move { browser.me().await }
    })
    .await;
    assert_invalid_token(&reply, "session_revoked");
    println!(
        "{:?}: revocation propagation to the other instance: {propagation:?}",
        db.backend
    );

    // Reuse detected on B: A refuses that session's access token.
    let (bob, _) = a.login("alice@example.com").await;
    let stale = bob.refresh_token();
    let mut bob_b = on(&b, &bob);
    assert_eq!(bob_b.refresh().await.status, StatusCode::OK);
    let bob_a = on(&a, &bob_b);
    a.advance(Duration::seconds(11));
    assert_invalid_token(&b.refresh_body(&stale).await, "refresh_reused");
    let (_, reply) = refused_within(deadline, || {
        let mut browser = bob_a.clone();
        async move { browser.me().await }
    })
    .await;
    assert_invalid_token(&reply, "session_revoked");
    // The refresh side is in the database, so it is refused everywhere at once.
    assert_problem(&bob_a.clone().refresh().await, 401, "session_revoked");

    // Logout everywhere on B: A refuses every session of the user.
    let (carol_1, _) = a.register("carol@example.com").await;
    let carol_native = a.login_native("carol@example.com").await;
    let carol_b = on(&b, &carol_1);
    let reply = b.send(carol_b.request_csrf(Method::POST, "/api/auth/logout-all")).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    refused_within(deadline, || {
        let mut browser = carol_1.clone();
        async move { browser.me().await }
    })
    .await;
    refused_within(deadline, || a.me_bearer(&carol_native.access)).await;

    // And a restarted instance still knows (the start-up fill).
    let b = b.restart().await;
    assert_invalid_token(&b.me_bearer(&carol_native.access).await, "session_revoked");
}

async fn concurrent_refreshes_across_instances(db: &TestDatabase) {
    let a = TestServer::start(db, &[]).await;
    let b = a.peer().await;
    let (browser, _) = a.register("alice@example.com").await;
    let original = browser.refresh_token();
    a.advance(Duration::seconds(30));
    let on_b = on(&b, &browser);

    let requests = (0..16).map(|i| {
        let (server, jar) = if i % 2 == 0 { (&a, &browser) } else { (&b, &on_b) };
        server.send(jar.request_csrf(Method::POST, "/api/auth/refresh"))
    });
    let replies = join_all(requests).await;
    let mut tokens = Vec::new();
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        tokens.push(reply.set_cookie(REFRESH).expect("refresh cookie").value);
    }
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "instances handed out different tokens: {tokens:?}"
    );
    assert_ne!(tokens[0], original);

    let mut browser = browser;
    browser.absorb(&replies[0]);
    a.advance(Duration::seconds(30));
    let mut on_b = on(&b, &browser);
    let reply = on_b.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(on_b.me().await.status, StatusCode::OK);

    // A native client (tokens in the body) gets one successor as well.
    let native = a.login_native("alice@example.com").await;
    a.advance(Duration::seconds(30));
    let requests = (0..16).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        server.refresh_body(&native.refresh)
    });
    let mut successors = Vec::new();
    for reply in join_all(requests).await {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        successors.push(
            reply.json()["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
        );
    }
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "instances handed out different tokens: {successors:?}"
    );
    assert_ne!(successors[0], native.refresh);
}

tessera_store::backend_tests!(revocations_reach_every_instance, concurrent_refreshes_across_instances);
