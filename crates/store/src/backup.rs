//! Online copies of a SQLite database (`tessera backup`).

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tessera_auth_core::ports::StoreError;

use crate::error::db_error;
use crate::{Backend, SeaStore};

impl SeaStore {
    /// SQLite: writes a consistent, compacted copy of the whole database into `path` with
    /// `VACUUM INTO`. It runs as one read transaction, so it is safe while instances serve (in WAL
    /// mode writers carry on meanwhile) and the copy is the database as of one instant. `path` must
    /// not exist or be an empty file. PostgreSQL: refused (use `pg_dump`).
    pub async fn vacuum_into(&self, path: &str) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Backend(
                "VACUUM INTO copies SQLite databases only; use pg_dump for PostgreSQL".to_owned(),
            ));
        }
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "VACUUM INTO ?",
                [path.into()],
            ))
            .await
            .map_err(db_error("backup (VACUUM INTO)"))?;
        Ok(())
    }
}
