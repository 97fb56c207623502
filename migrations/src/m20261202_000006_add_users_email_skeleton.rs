//! Look-alike addresses: `users.email_skeleton_hash`, the SHA-256 of the address's Unicode TR39
//! skeleton, unique, so two accounts cannot have addresses that look the same (`paypal` with a
//! Cyrillic `а`). Nullable: rows from before this migration are filled in by the store at
//! start-up (the skeleton is computed in Rust, by the same function new accounts use); a row
//! whose skeleton another account already holds keeps NULL, which a unique index allows.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(binary_null(Users::EmailSkeletonHash))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq-users-email-skeleton-hash")
                    .table(Users::Table)
                    .col(Users::EmailSkeletonHash)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("uq-users-email-skeleton-hash")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::EmailSkeletonHash)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    EmailSkeletonHash,
}
