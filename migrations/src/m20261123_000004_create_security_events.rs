//! The per-user audit trail (GET /api/me/events). `session_id` is deliberately not a foreign
//! key: events outlive the sessions they mention.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SecurityEvents::Table)
                    .col(pk_uuid(SecurityEvents::Id))
                    .col(uuid(SecurityEvents::UserId))
                    .col(string(SecurityEvents::Kind))
                    .col(timestamp_with_time_zone(SecurityEvents::At))
                    .col(string_null(SecurityEvents::Ip))
                    .col(text_null(SecurityEvents::UserAgent))
                    .col(uuid_null(SecurityEvents::SessionId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-security_events-user_id")
                            .from(SecurityEvents::Table, SecurityEvents::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SecurityEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SecurityEvents {
    Table,
    Id,
    UserId,
    Kind,
    At,
    Ip,
    UserAgent,
    SessionId,
}
