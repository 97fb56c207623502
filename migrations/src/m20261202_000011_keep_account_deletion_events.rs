//! Lets the record of an account's deletion outlive the account (DESIGN.md part 2, DELETE
//! /api/me: "security events are kept only as `account_deleted` for admins").
//!
//! - `security_events.user_id` becomes nullable. An event of a live account names it there and
//!   still goes with it (`fk-security_events-user_id`, ON DELETE CASCADE, unchanged).
//! - `security_events.account_id` (new, nullable, deliberately no foreign key): set only on the
//!   one event kept after an account is deleted, `account_deleted`, whose `user_id` is NULL so
//!   the cascade passes it by. It holds the deleted account's id, nothing else about it: with
//!   the event's time, IP, user agent and session id, an administrator can answer "which account
//!   was deleted, when, from where", and no address or name is kept.
//! - `ck-security_events-owner`: exactly one of the two is set, so an event is either a live
//!   account's or a deleted account's record, never neither.
//! - `idx-security_events-kind-at`: the catch-up poll reads recent deletions by kind and time.
//!
//! Existing rows keep their `user_id` (account_id NULL), which satisfies the check. PostgreSQL
//! alters the table in place; SQLite cannot drop a NOT NULL or add a check to a column, so the
//! table is rebuilt (create, copy, drop, rename) with the same columns, constraint and index
//! names.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const REBUILT: &str = "security_events_rebuilt";
const OWNER_CHECK: &str = "ck-security_events-owner";

/// Exactly one of `user_id` and `account_id` is set (the same text on both backends).
const OWNER_CONDITION: &str = "(user_id IS NULL) <> (account_id IS NULL)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Sqlite => rebuild_sqlite(manager).await?,
            _ => alter_postgres(manager).await?,
        }
        manager
            .create_index(
                Index::create()
                    .name("idx-security_events-kind-at")
                    .table(SecurityEvents::Table)
                    .col(SecurityEvents::Kind)
                    .col(SecurityEvents::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The records of deleted accounts cannot go back into a NOT NULL user_id.
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM security_events WHERE user_id IS NULL")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx-security_events-kind-at")
                    .table(SecurityEvents::Table)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Sqlite {
            return Err(DbErr::Migration(
                "m20261202_000011 cannot be reverted on SQLite (restore a backup instead)".to_owned(),
            ));
        }
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            r#"ALTER TABLE security_events DROP CONSTRAINT "{OWNER_CHECK}""#
        ))
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SecurityEvents::Table)
                    .drop_column(SecurityEvents::AccountId)
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared("ALTER TABLE security_events ALTER COLUMN user_id SET NOT NULL")
            .await?;
        Ok(())
    }
}

async fn alter_postgres(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    db.execute_unprepared("ALTER TABLE security_events ALTER COLUMN user_id DROP NOT NULL")
        .await?;
    manager
        .alter_table(
            Table::alter()
                .table(SecurityEvents::Table)
                .add_column(uuid_null(SecurityEvents::AccountId))
                .to_owned(),
        )
        .await?;
    db.execute_unprepared(&format!(
        r#"ALTER TABLE security_events ADD CONSTRAINT "{OWNER_CHECK}" CHECK ({OWNER_CONDITION})"#
    ))
    .await?;
    Ok(())
}

async fn rebuild_sqlite(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Alias::new(REBUILT))
                .col(pk_uuid(SecurityEvents::Id))
                .col(uuid_null(SecurityEvents::UserId))
                .col(uuid_null(SecurityEvents::AccountId))
                .col(string(SecurityEvents::Kind))
                .col(timestamp_with_time_zone(SecurityEvents::At))
                .col(string_null(SecurityEvents::Ip))
                .col(text_null(SecurityEvents::UserAgent))
                .col(uuid_null(SecurityEvents::SessionId))
                .check((Alias::new(OWNER_CHECK), Expr::cust(OWNER_CONDITION)))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk-security_events-user_id")
                        .from(Alias::new(REBUILT), SecurityEvents::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "INSERT INTO {REBUILT} (id, user_id, kind, at, ip, user_agent, session_id) \
             SELECT id, user_id, kind, at, ip, user_agent, session_id FROM security_events"
        ))
        .await?;
    manager
        .drop_table(Table::drop().table(SecurityEvents::Table).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(Alias::new(REBUILT), SecurityEvents::Table)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx-security_events-user_id-at")
                .table(SecurityEvents::Table)
                .col(SecurityEvents::UserId)
                .col(SecurityEvents::At)
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum SecurityEvents {
    Table,
    UserId,
    AccountId,
    Kind,
    At,
    Id,
    Ip,
    UserAgent,
    SessionId,
}
