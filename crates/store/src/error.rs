//! `DbErr` → `StoreError`. Messages carry what was being done and the driver's text (which names
//! constraints and columns, never bound values); they are for logs, the api answers a generic 500.

use sea_orm::{DbErr, SqlErr};
use tessera_auth_core::ports::StoreError;

/// `map_err(db_error("load session"))`.
pub(crate) fn db_error(context: &'static str) -> impl FnOnce(DbErr) -> StoreError {
    move |err| StoreError::Backend(format!("{context}: {err}"))
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
