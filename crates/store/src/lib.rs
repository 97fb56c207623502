//! Tessera's storage: sea-orm repositories implementing `tessera-auth-core`'s ports on SQLite
//! (the embedded default) and PostgreSQL (scale-out).
//!
//! - [`entity`]: plain models of the tables (the schema itself is `tessera-migrations`);
//! - `users`, `sessions`, `keys`, `events`, `accounts`, `mail_queue`: the repository implementations on [`SeaStore`], each
//!   with the conversion between its entity and the domain types;
//! - [`notify`]: cross-instance [`Notice`]s over PostgreSQL `LISTEN`/`NOTIFY` (no-ops on SQLite),
//!   and the [`RevocationPublisher`](tessera_auth_core::ports::RevocationPublisher) built on them;
//! - [`testing`] (feature `testing`): per-test databases on both backends and
//!   [`backend_tests!`](crate::backend_tests).
//!
//! Every state change that the ports describe as atomic is one transaction. Write transactions on
//! SQLite begin `IMMEDIATE`, so they take the database's write lock up front (waiting up to the
//! busy timeout) instead of failing with `SQLITE_BUSY` when a read turns into a write.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unreachable,
        clippy::indexing_slicing,
        clippy::await_holding_lock
    )
)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use tessera_migrations::{Migrator, MigratorTrait};

pub use tessera_auth_core::ports::StoreError;

mod accounts;
mod backup;
mod ceremonies;
pub mod entity;
mod error;
mod events;
mod keys;
mod login_throttle;
mod mail_queue;
mod mail_tokens;
mod mfa_challenges;
pub mod notify;
mod passkeys;
mod sessions;
mod time_value;
mod totp;
mod users;

#[cfg(feature = "testing")]
pub mod testing;

use error::db_error;
pub use notify::{Notice, NoticeListener};

/// Which database a [`SeaStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names, by its scheme.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per pool. SQLite in WAL mode has one writer at a time but concurrent readers.
const SQLITE_MAX_CONNECTIONS: u32 = 8;
const POSTGRES_MAX_CONNECTIONS: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Serialises `migrate()` across instances sharing one PostgreSQL database
/// (`pg_advisory_xact_lock` key; any constant unique to Tessera).
const MIGRATION_LOCK_KEY: i64 = 0x7465_7373_6572_6101;

/// The sea-orm implementation of every repository port. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct SeaStore {
    db: DatabaseConnection,
    backend: Backend,
    /// SQLite has one writer at a time. Writers of this process queue here, in order, instead of
    /// in SQLite's busy handler, which polls with sleeps that grow to 100 ms: under contention
    /// that turned a 1 ms write into a p99 of 600 ms. (Other processes on the same file, such as
    /// `tessera user create` beside a server, still meet the busy timeout.) Unused on PostgreSQL.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Wakes this process's mail worker when a transaction that queued mail has committed.
    mail_wakeup: Arc<tokio::sync::Notify>,
}

/// Held from `BEGIN` to `COMMIT` of a SQLite write; nothing on PostgreSQL.
pub(crate) type WritePermit = Option<tokio::sync::OwnedMutexGuard<()>>;

impl std::fmt::Debug for SeaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl SeaStore {
    /// Opens a connection pool.
    ///
    /// `sqlite:` URLs: the parent directory and the file are created when missing; the database
    /// runs in WAL mode with `synchronous=NORMAL`, a 5 s busy timeout and foreign keys on.
    /// `postgres://` URLs: a pool of up to 16 connections.
    ///
    /// Errors name the problem and the database with any password masked.
    pub async fn connect(url: &str) -> Result<SeaStore, StoreError> {
        let backend = Backend::from_url(url).ok_or_else(|| {
            StoreError::Backend(format!(
                "unsupported database URL {}: expected sqlite:// or postgres://",
                redact_url(url)
            ))
        })?;
        let mut options = ConnectOptions::new(url);
        options.sqlx_logging(false).acquire_timeout(ACQUIRE_TIMEOUT);
        match backend {
            Backend::Sqlite => {
                let in_memory = is_sqlite_memory(url);
                if !in_memory {
                    create_sqlite_parent_dir(url)?;
                }
                options
                    .max_connections(if in_memory { 1 } else { SQLITE_MAX_CONNECTIONS })
                    .map_sqlx_sqlite_opts(|opts| {
                        opts.create_if_missing(true)
                            .journal_mode(SqliteJournalMode::Wal)
                            .synchronous(SqliteSynchronous::Normal)
                            .busy_timeout(SQLITE_BUSY_TIMEOUT)
                            .foreign_keys(true)
                    })
                    .map_sqlx_sqlite_before_acquire(outside_any_transaction);
            }
            Backend::Postgres => {
                options.max_connections(POSTGRES_MAX_CONNECTIONS).min_connections(0);
            }
        }
        let db = Database::connect(options).await.map_err(|err| {
            StoreError::Backend(scrub_password(
                url,
                format!("cannot connect to database {}: {err}", redact_url(url)),
            ))
        })?;
        Ok(SeaStore {
            db,
            backend,
            writer: Arc::new(tokio::sync::Mutex::new(())),
            mail_wakeup: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Brings the schema up to date (a no-op when it is), all pending migrations in one
    /// transaction. Concurrent callers (instances starting at once, `tessera migrate` beside a
    /// starting server) take turns: SQLite through the write lock of an `IMMEDIATE` transaction,
    /// PostgreSQL through a transaction-scoped advisory lock; whoever comes second finds nothing
    /// left to do. Returns how many migrations this call applied. Then fills what rows from before
    /// a migration need computed in Rust ([`fill_email_skeletons`](Self::fill_email_skeletons)).
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let (writer, txn) = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            txn.execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK_KEY.into()],
            ))
            .await
            .map_err(db_error("migrate: lock"))?;
        }
        let pending = Migrator::get_pending_migrations(&txn)
            .await
            .map_err(db_error("migrate: pending"))?
            .len();
        Migrator::up(&txn, None).await.map_err(db_error("migrate"))?;
        txn.commit().await.map_err(db_error("migrate: commit"))?;
        drop(writer);
        // Data the schema cannot compute (in Rust, after the migrations): a no-op once done.
        let filled = self.fill_email_skeletons().await?;
        if filled > 0 {
            tracing::info!(filled, "filled the look-alike check of existing accounts");
        }
        Ok(pending)
    }

    /// Checks that the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(db_error("ping"))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for queries the ports do not cover.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Begins a transaction that will write. On SQLite it starts `IMMEDIATE`: the write lock is
    /// taken at `BEGIN` (waiting up to the busy timeout), so a later read-then-write inside it
    /// can neither fail with `SQLITE_BUSY` nor interleave with another writer. PostgreSQL ignores
    /// the mode; rows are locked explicitly where it matters.
    ///
    /// Keep the returned permit alive until the transaction has committed or rolled back.
    pub(crate) async fn begin_write(&self) -> Result<(WritePermit, DatabaseTransaction), StoreError> {
        let permit = self.write_permit().await;
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(db_error("begin transaction"))?;
        Ok((permit, txn))
    }

    /// This process's turn to write (SQLite); `None` on PostgreSQL, whose writers lock rows.
    pub(crate) async fn write_permit(&self) -> WritePermit {
        match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }
}

/// Hands out a pooled SQLite connection only if sqlx believes no transaction is open on it.
///
/// When a COMMIT fails with SQLITE_FULL or SQLITE_IOERR (a full disk, a failing file), SQLite
/// rolls the whole transaction back by itself. sqlx does not notice: its count of open
/// transactions stays at one, and the ROLLBACK it sends when the transaction is dropped fails
/// ("no transaction is active") and leaves the count as it is. Back in the pool, that
/// connection turned the next `BEGIN IMMEDIATE` into a `SAVEPOINT`: a deferred transaction
/// whose "commit" released the savepoint inside a transaction that never ended. The write was
/// answered with success while nothing was stored, and the lock it kept made every later
/// write fail with "database is locked" even after the disk had room again. Such a connection
/// is closed instead (the pool opens a fresh one). By the time a connection is idle, its
/// release has been acknowledged by its worker, so the count read here is current.
fn outside_any_transaction<'c>(
    conn: &'c mut sea_orm::sqlx::sqlite::SqliteConnection,
    _meta: sea_orm::sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, sea_orm::sqlx::Error>> + Send + 'c>> {
    let depth = transaction_depth::<sea_orm::sqlx::Sqlite>(conn);
    if depth != 0 {
        tracing::warn!(
            depth,
            "closing a SQLite connection left inside a transaction that SQLite had already ended"
        );
    }
    Box::pin(std::future::ready(Ok(depth == 0)))
}

/// How many transactions sqlx thinks are open on `conn`.
fn transaction_depth<DB: sea_orm::sqlx::Database>(conn: &DB::Connection) -> usize {
    use sqlx_core::transaction::TransactionManager;
    DB::TransactionManager::get_transaction_depth(conn)
}

/// The row of a primary-key or unique lookup. Not `.one()`: sea-orm renders its `LIMIT 1` as a
/// bound parameter, and SQLite marks a statement whose LIMIT is a variable as expired whenever
/// the variable is bound again, which sqlx does on every execution; each `.one()` was parsed and
/// planned anew (19% of a refresh's instructions, docs/benchmarks.md).
pub(crate) async fn unique_row<E, C>(select: sea_orm::Select<E>, conn: &C) -> Result<Option<E::Model>, sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
    C: ConnectionTrait,
{
    Ok(select.all(conn).await?.into_iter().next())
}

fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

fn create_sqlite_parent_dir(url: &str) -> Result<(), StoreError> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|err| StoreError::Backend(format!("invalid SQLite URL {url}: {err}")))?;
    if let Some(parent) = opts.get_filename().parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|err| {
            StoreError::Backend(format!(
                "cannot create the database directory {}: {err}",
                parent.display()
            ))
        })?;
    }
    Ok(())
}

/// The URL with its password (if any) replaced by `***`, for messages.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Only fails for URLs that cannot have credentials, which have no password.
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        // Unparseable: show only the scheme, the rest might hold a secret.
        Err(_) => match url.split_once(':') {
            Some((scheme, _)) => format!("{scheme}:…"),
            None => "(unparseable URL)".to_owned(),
        },
    }
}

/// Belt and braces: a driver error text should never echo the password, but make sure.
fn scrub_password(url: &str, message: String) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return message;
    };
    let Some(raw) = parsed.password() else {
        return message;
    };
    let mut message = message;
    let decoded = url::form_urlencoded::parse(format!("p={raw}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned());
    for secret in [Some(raw.to_owned()), decoded].into_iter().flatten() {
        if secret.len() >= 3 {
            message = message.replace(&secret, "***");
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:5432/tessera"),
            "postgres://app:***@db.example:5432/tessera"
        );
        assert_eq!(redact_url("postgres://app@db/tessera"), "postgres://app@db/tessera");
        assert_eq!(redact_url("sqlite://data/tessera.db"), "sqlite://data/tessera.db");
    }

    #[test]
    fn passwords_are_scrubbed_from_messages() {
        let url = "postgres://app:p%40ss-word@db/tessera";
        let message = scrub_password(url, "failed for p@ss-word and p%40ss-word".to_owned());
        assert_eq!(message, "failed for *** and ***");
    }

    #[test]
    fn backends_are_told_by_scheme() {
        assert_eq!(Backend::from_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("postgres://h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("postgresql://h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("mysql://h/db"), None);
    }
}
