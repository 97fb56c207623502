//! Re-authentication (DESIGN.md part 2): `sessions.auth_time`, when the session's user last
//! proved a credential, and `sessions.amr`, how (RFC 8176 values).
//!
//! `amr` is text: the values in canonical order separated by single spaces (`"pwd"`,
//! `"pwd otp mfa"`; `AmrSet::to_storage` in auth-core), one short string a row can be compared
//! and read without a JSON type SQLite lacks. Existing rows: every session before this migration
//! was a password login, so `amr` is `"pwd"` and `auth_time` its `created_at`. `auth_time` is
//! added nullable, filled, then made NOT NULL (PostgreSQL); SQLite cannot alter a column's
//! nullability, so there it gets a NOT NULL column with a placeholder default that the same
//! migration overwrites with `created_at` (the store always writes it).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(ColumnDef::new(Sessions::Amr).text().not_null().default("pwd"))
                    .to_owned(),
            )
            .await?;
        let auth_time = match manager.get_database_backend() {
            // The placeholder never survives this migration: every row is filled below.
            DbBackend::Sqlite => ColumnDef::new(Sessions::AuthTime)
                .timestamp_with_time_zone()
                .not_null()
                .default("1970-01-01T00:00:00+00:00")
                .to_owned(),
            _ => ColumnDef::new(Sessions::AuthTime)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        };
        manager
            .alter_table(Table::alter().table(Sessions::Table).add_column(auth_time).to_owned())
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Sessions::Table)
                    .value(Sessions::AuthTime, Expr::col(Sessions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() != DbBackend::Sqlite {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .modify_column(ColumnDef::new(Sessions::AuthTime).timestamp_with_time_zone().not_null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Sessions::AuthTime, Sessions::Amr] {
            manager
                .alter_table(Table::alter().table(Sessions::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    CreatedAt,
    AuthTime,
    Amr,
}
