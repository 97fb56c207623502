//! Cross-instance notices: PostgreSQL LISTEN/NOTIFY between separate pools (as between two
//! instances); no-ops on SQLite. Waits are bounded by timeouts, never sleeps.
//!
//! Each case here is about one backend, so these are plain tests rather than `backend_tests!`;
//! the PostgreSQL ones skip (and say so) when `TEST_DATABASE_URL` is unset, like the others.

use std::time::Duration as StdDuration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tessera_auth_core::ports::RevocationPublisher;
use tessera_auth_core::revocation::Revocation;
use tessera_store::notify::LISTENER_APPLICATION_NAME;
use tessera_store::testing::{TestDatabase, migrated_store};
use tessera_store::{Backend, Notice, NoticeListener, SeaStore};
use tokio::time::timeout;
use uuid::Uuid;

use super::support::at;

/// Far more than a notice takes on loopback; only reached when something is broken.
const WAIT: StdDuration = StdDuration::from_secs(10);

async fn next(listener: &mut NoticeListener) -> Notice {
    timeout(WAIT, listener.recv())
        .await
        .expect("a notice within the bound")
        .expect("the listener is connected")
}

/// Another instance: its own pool on the same database.
async fn other_instance(db: &TestDatabase) -> SeaStore {
    SeaStore::connect(&db.url).await.expect("connect a second pool")
}

/// Ends every listener connection to this test's database (and only this test's: other tests
/// run in parallel on their own databases). Returns how many it ended.
async fn terminate_listeners(store: &SeaStore) -> usize {
    let rows = store
        .connection()
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database()",
            [LISTENER_APPLICATION_NAME.into()],
        ))
        .await
        .expect("terminate listeners");
    rows.iter()
        .filter(|row| row.try_get::<bool>("", "ended").expect("a bool"))
        .count()
}

/// A fresh PostgreSQL test database, or `None` (after saying so) when there is no server.
fn postgres() -> Option<TestDatabase> {
    let db = TestDatabase::postgres();
    if db.is_none() {
        eprintln!("skipped: TEST_DATABASE_URL not set");
    }
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_listeners_of_other_instances() {
    let Some(db) = postgres() else { return };
    let store = migrated_store(&db).await;
    let other = other_instance(&db).await;
    let mut listener = store.listen().await.expect("listen").expect("PostgreSQL listens");
    let mut other_listener = other.listen().await.expect("listen").expect("PostgreSQL listens");

    let session = Uuid::now_v7();
    other.notify(&Notice::SessionRevoked(session)).await.expect("notify");
    assert_eq!(next(&mut listener).await, Notice::SessionRevoked(session));
    assert_eq!(
        next(&mut other_listener).await,
        Notice::SessionRevoked(session),
        "the sender's own listener hears it too"
    );

    other.notify(&Notice::KeysChanged).await.expect("notify");
    assert_eq!(next(&mut listener).await, Notice::KeysChanged);

    // Payloads this version does not understand are skipped, not errors.
    for payload in ["garbage", "revoked:not-a-uuid", ""] {
        other
            .connection()
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify('tessera_events', $1)",
                [payload.into()],
            ))
            .await
            .expect("raw notify");
    }
    // Other channels are not listened to.
    other
        .connection()
        .execute_unprepared("SELECT pg_notify('somebody_else', 'keys')")
        .await
        .expect("notify another channel");
    other.notify(&Notice::KeysChanged).await.expect("notify");
    assert_eq!(next(&mut listener).await, Notice::KeysChanged);

    // The revocation publisher: a session revocation becomes a notice; a per-user cut-off is not
    // published (so the next notice is the session's).
    let revoked = Uuid::now_v7();
    other
        .publish(&Revocation::UserTokensBefore {
            user_id: Uuid::now_v7(),
            before: at(0),
            forget_after: at(600),
        })
        .await;
    other
        .publish(&Revocation::Session {
            session_id: revoked,
            forget_after: at(600),
        })
        .await;
    assert_eq!(next(&mut listener).await, Notice::SessionRevoked(revoked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_connection_is_reported_and_listening_again_works() {
    let Some(db) = postgres() else { return };
    let store = migrated_store(&db).await;
    let other = other_instance(&db).await;
    let mut listener = store.listen().await.expect("listen").expect("PostgreSQL listens");

    // Lose the connection while `recv` waits.
    let waiting = tokio::spawn(async move {
        let result = timeout(WAIT, listener.recv()).await;
        (listener, result)
    });
    assert_eq!(terminate_listeners(&other).await, 1, "exactly our listener");
    let (mut listener, result) = waiting.await.expect("task");
    let result = result.expect("the loss is reported within the bound, not waited out");
    assert!(result.is_err(), "{result:?}");

    // It stays lost: no silent reconnection that would hide missed notices.
    other.notify(&Notice::KeysChanged).await.expect("notify");
    let again = timeout(WAIT, listener.recv()).await.expect("answers at once");
    assert!(again.is_err(), "{again:?}");
    drop(listener);

    // A fresh listener works.
    let mut listener = store.listen().await.expect("listen again").expect("PostgreSQL listens");
    let session = Uuid::now_v7();
    other.notify(&Notice::SessionRevoked(session)).await.expect("notify");
    assert_eq!(next(&mut listener).await, Notice::SessionRevoked(session));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_has_no_peers_to_notify() {
    let db = TestDatabase::sqlite();
    let store = migrated_store(&db).await;
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(store.listen().await.expect("listen").is_none());
    store
        .notify(&Notice::SessionRevoked(Uuid::now_v7()))
        .await
        .expect("notify is a no-op");
    store.notify(&Notice::KeysChanged).await.expect("notify is a no-op");
    store
        .publish(&Revocation::Session {
            session_id: Uuid::now_v7(),
            forget_after: at(600),
        })
        .await;
}
