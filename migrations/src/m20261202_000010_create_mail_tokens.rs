//! Mail tokens and verified addresses (DESIGN.md part 2, "Mail"):
//! - `users.email_verified`: the address was proved by a mailed link. Existing accounts start
//!   unverified (nothing has proved their address yet); `NOT NULL DEFAULT false` fills them.
//! - `mail_tokens`: the secret of each reset, verification or confirmation link, stored only as
//!   its SHA-256 (the primary key, so unique), bound to one user (`ON DELETE CASCADE`: deleting an
//!   account kills its links) and one `purpose`; `new_email` is the address a `confirm_email`
//!   token moves the account to and `session_id` the session that asked (it stays signed in; no
//!   foreign key: a session row may be pruned while the link is still good). `used_at` is set by
//!   one conditional update, so a token works once. Rows stay after use: the newest per user and
//!   purpose spaces the mails (one a minute).

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
                    .add_column(boolean(Users::EmailVerified).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MailTokens::Table)
                    .col(binary_len(MailTokens::TokenHash, 32).primary_key())
                    .col(uuid(MailTokens::UserId))
                    .col(string(MailTokens::Purpose).check((
                        "ck-mail_tokens-purpose",
                        Expr::col(MailTokens::Purpose).is_in(["reset_password", "verify_email", "confirm_email"]),
                    )))
                    .col(string_null(MailTokens::NewEmail))
                    .col(uuid_null(MailTokens::SessionId))
                    .col(timestamp_with_time_zone(MailTokens::CreatedAt))
                    .col(timestamp_with_time_zone(MailTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(MailTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-mail_tokens-user_id")
                            .from(MailTokens::Table, MailTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-mail_tokens-user_id-purpose-created_at")
                    .table(MailTokens::Table)
                    .col(MailTokens::UserId)
                    .col(MailTokens::Purpose)
                    .col(MailTokens::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailTokens::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::EmailVerified)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    EmailVerified,
}

#[derive(DeriveIden)]
enum MailTokens {
    Table,
    TokenHash,
    UserId,
    Purpose,
    NewEmail,
    SessionId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}
