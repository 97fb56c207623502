//! `DbErr` → `StoreError`. Messages carry what was being done and the driver's text (which names
//! constraints and columns, never bound values); they are for logs only.
//!
//! A failure of the storage itself (unreachable, out of space, read-only, locked, failing I/O)
//! becomes [`StoreError::Unavailable`], which the api answers with 503 `storage_unavailable`;
//! anything else (a constraint, a decoding error, a bug) stays [`StoreError::Backend`], a 500.

use sea_orm::sqlx::error::DatabaseError;
use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};
use tessera_auth_core::ports::StoreError;

/// `map_err(db_error("load session"))`.
pub(crate) fn db_error(context: &'static str) -> impl FnOnce(DbErr) -> StoreError {
    move |err| {
        let message = format!("{context}: {err}");
        if is_unavailable(&err) {
            StoreError::Unavailable(message)
        } else {
            StoreError::Backend(message)
        }
    }
}

/// Like [`db_error`], but a unique-constraint violation (on `users` besides the primary key:
/// `uq-users-email` and `uq-users-email-skeleton-hash`) becomes [`StoreError::EmailTaken`]; the
/// caller tells the two apart.
pub(crate) fn user_insert_error(err: DbErr) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::EmailTaken,
        _ => db_error("insert user")(err),
    }
}

pub(crate) fn corrupt(table: &str, column: &str, problem: &str) -> StoreError {
    StoreError::Corrupt(format!("{table}.{column}: {problem}"))
}

/// Whether the storage, not the statement, failed: retrying later, unchanged, may succeed.
fn is_unavailable(err: &DbErr) -> bool {
    match err {
        // Pool timed out (every connection busy or none can be opened), or closed.
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(err))
        | DbErr::Exec(RuntimeErr::SqlxError(err))
        | DbErr::Query(RuntimeErr::SqlxError(err)) => sqlx_unavailable(err),
        // sea-orm's own connection errors ("Disconnected").
        DbErr::Conn(RuntimeErr::Internal(_)) => true,
        _ => false,
    }
}

fn sqlx_unavailable(err: &sqlx::Error) -> bool {
    match err {
        // Connection refused, reset or closed mid-statement; the SQLite worker thread gone.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(err) => database_unavailable(err.as_ref()),
        _ => false,
    }
}

fn database_unavailable(err: &dyn DatabaseError) -> bool {
    let Some(code) = err.code() else {
        return false;
    };
    if err.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return code.parse::<i32>().is_ok_and(sqlite_code_unavailable);
    }
    if err.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
        return postgres_state_unavailable(&code);
    }
    false
}

/// SQLite result codes (extended codes carry the primary one in their low byte).
fn sqlite_code_unavailable(code: i32) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const NOMEM: i32 = 7;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    const PROTOCOL: i32 = 15;
    matches!(
        code & 0xff,
        BUSY | LOCKED | NOMEM | READONLY | IOERR | FULL | CANTOPEN | PROTOCOL
    )
}

/// PostgreSQL SQLSTATEs (Appendix A of its manual).
fn postgres_state_unavailable(state: &str) -> bool {
    // 08: connection exception; 53: insufficient resources (disk full, out of memory, too many
    // connections); 58: system error (I/O).
    let class_unavailable = ["08", "53", "58"].iter().any(|class| state.starts_with(class));
    class_unavailable
        || matches!(
            state,
            // admin_shutdown (pg_terminate_backend, a fast shutdown), crash_shutdown,
            // cannot_connect_now (starting up or in recovery), idle_session_timeout
            "57P01" | "57P02" | "57P03" | "57P05"
            // read_only_sql_transaction: a standby, or a primary made read-only
            | "25006"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes() {
        // SQLITE_FULL, SQLITE_READONLY, SQLITE_BUSY, SQLITE_IOERR_WRITE (778), SQLITE_READONLY_DBMOVED (1032).
        for code in [13, 8, 5, 6, 10, 778, 1032, 14, 7] {
            assert!(sqlite_code_unavailable(code), "{code}");
        }
        // SQLITE_CONSTRAINT_FOREIGNKEY (787), SQLITE_CONSTRAINT_UNIQUE (2067), SQLITE_CORRUPT, SQLITE_ERROR.
        for code in [787, 2067, 11, 1] {
            assert!(!sqlite_code_unavailable(code), "{code}");
        }
    }

    #[test]
    fn postgres_states() {
        for state in [
            "08006", "08003", "08001", "57P01", "57P03", "53100", "53300", "58030", "25006",
        ] {
            assert!(postgres_state_unavailable(state), "{state}");
        }
        for state in ["23505", "23503", "40001", "42P01", "22P02", "XX000"] {
            assert!(!postgres_state_unavailable(state), "{state}");
        }
    }

    #[test]
    fn pool_and_io_failures_are_unavailable() {
        let io = DbErr::Query(RuntimeErr::SqlxError(
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)).into(),
        ));
        assert!(matches!(db_error("x")(io), StoreError::Unavailable(_)));
        let acquire = DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout);
        assert!(matches!(db_error("x")(acquire), StoreError::Unavailable(_)));
        let decode = DbErr::Type("bad column".to_owned());
        assert!(matches!(db_error("x")(decode), StoreError::Backend(_)));
    }
}
