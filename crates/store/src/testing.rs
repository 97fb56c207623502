//! Test support (feature `testing`): a fresh database per test on SQLite and on PostgreSQL,
//! always built by the real migrations, and [`backend_tests!`](crate::backend_tests) to run one
//! test body on both.
//!
//! PostgreSQL tests need `TEST_DATABASE_URL` (a server and a database to connect to first, e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets its own database
//! `tessera_t_<random hex>` on that server, dropped when the [`TestDatabase`] is.
#![allow(clippy::expect_used, clippy::panic)]

use std::future::Future;

use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use tempfile::TempDir;
use uuid::Uuid;

use crate::{Backend, SeaStore};

/// Names the PostgreSQL server for tests; unset means PostgreSQL tests are skipped.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// An empty database that exists as long as this value does.
pub struct TestDatabase {
    /// Connect here (`SeaStore::connect`, or `DATABASE_URL` of a spawned server).
    pub url: String,
    pub backend: Backend,
    /// Holds the SQLite file's directory.
    _dir: Option<TempDir>,
    /// PostgreSQL: the server URL and the database to drop.
    postgres: Option<(String, String)>,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// A fresh SQLite file in a temporary directory (removed on drop).
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::Builder::new()
            .prefix("tessera-test-")
            .tempdir()
            .expect("create a temporary directory for a test database");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("tessera.db").display());
        TestDatabase {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A fresh database on the server named by `TEST_DATABASE_URL`, or `None` when it is unset.
    /// Callable from synchronous code and from inside a tokio runtime alike.
    pub fn postgres() -> Option<TestDatabase> {
        let server = std::env::var(TEST_DATABASE_URL)
            .ok()
            .filter(|url| !url.trim().is_empty())?;
        let name = format!("tessera_t_{}", Uuid::new_v4().simple());
        let url = database_url(&server, &name);
        let create = format!("CREATE DATABASE \"{name}\"");
        run_on_own_runtime(execute_on_server(server.clone(), create))
            .unwrap_or_else(|err| panic!("cannot create test database {name}: {err}"));
        Some(TestDatabase {
            url,
            backend: Backend::Postgres,
            _dir: None,
            postgres: Some((server, name)),
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((server, name)) = self.postgres.take() {
            // WITH (FORCE) ends connections a pool may still hold. Best effort.
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(err) = run_on_own_runtime(execute_on_server(server, drop)) {
                eprintln!("warning: cannot drop test database {name}: {err}");
            }
        }
    }
}

/// Connects to `db` and runs the real migrations.
pub async fn migrated_store(db: &TestDatabase) -> SeaStore {
    let store = SeaStore::connect(&db.url).await.expect("connect to the test database");
    store.migrate().await.expect("migrate the test database");
    store
}

/// `server` with its database replaced by `name` (query parameters kept).
fn database_url(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).unwrap_or_else(|err| panic!("{TEST_DATABASE_URL} is not a URL: {err}"));
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn execute_on_server(server: String, sql: String) -> Result<(), String> {
    let mut options = ConnectOptions::new(server);
    options.max_connections(1).sqlx_logging(false);
    let conn = Database::connect(options).await.map_err(|err| err.to_string())?;
    let result = conn
        .execute_unprepared(&sql)
        .await
        .map(|_| ())
        .map_err(|err| err.to_string());
    let _ = conn.close().await;
    result
}

/// Runs `work` to completion on a new thread with its own small runtime, so it works from
/// `Drop` and from synchronous code inside a tokio test (where `block_on` would panic).
fn run_on_own_runtime<F>(work: F) -> Result<(), String>
where
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())?
            .block_on(work)
    })
    .join()
    .unwrap_or_else(|_| Err("test database helper thread panicked".to_owned()))
}

/// Generates, for each `async fn name(db: &TestDatabase)` named, a module `name` with two tokio
/// tests: `name::sqlite` (a fresh SQLite file) and `name::postgres` (a fresh database on the
/// `TEST_DATABASE_URL` server; prints "skipped: TEST_DATABASE_URL not set" and passes when it
/// is unset). The tests run on a two-thread runtime so concurrency tests are real.
///
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dependency.
///
/// ```no_run
/// use tessera_store::testing::{TestDatabase, migrated_store};
///
/// async fn ping_answers(db: &TestDatabase) {
///     let store = migrated_store(db).await;
///     store.ping().await.unwrap();
/// }
///
/// async fn migrate_twice(db: &TestDatabase) {
///     let store = migrated_store(db).await;
///     store.migrate().await.unwrap();
/// }
///
/// // Tests `ping_answers::sqlite`, `ping_answers::postgres`, `migrate_twice::sqlite`, ...
/// tessera_store::backend_tests!(ping_answers, migrate_twice);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::testing::TestDatabase::sqlite();
                    super::$name(&db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some(db) = $crate::testing::TestDatabase::postgres() else {
                        eprintln!("skipped: TEST_DATABASE_URL not set");
                        return;
                    };
                    super::$name(&db).await;
                }
            }
        )+
    };
}

/// What a flow's store method does with the mail a change causes: the change (here, recording
/// `event`) and `mail` in one transaction, then the worker woken after the commit. With
/// `commit = false` the transaction rolls back instead, as when a later step of the change fails:
/// neither the event nor the mail may then exist.
pub async fn record_event_with_mail(
    store: &SeaStore,
    event: tessera_auth_core::events::SecurityEvent,
    mail: &tessera_auth_core::mail::SealedMail,
    commit: bool,
) -> Result<(), crate::StoreError> {
    let (_writer, txn) = store.begin_write().await?;
    crate::events::insert_event(&txn, event).await?;
    crate::mail_queue::enqueue_in(&txn, mail).await?;
    if commit {
        txn.commit()
            .await
            .map_err(crate::error::db_error("commit event with mail"))?;
        store.wake_mail_worker();
    } else {
        txn.rollback()
            .await
            .map_err(crate::error::db_error("roll back event with mail"))?;
    }
    Ok(())
}
