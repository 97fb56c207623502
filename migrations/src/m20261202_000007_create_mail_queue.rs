//! The durable mail queue: one row per message, written in the same transaction as the state
//! change that caused it, claimed and marked by each instance's mail worker.
//!
//! - `payload` is the recipient and the message's data sealed under the master key (it can hold
//!   a live token); it is erased (NULL) once the message is sent or given up.
//! - `status`: `queued` (waiting, being sent, or waiting for a retry), `sent`, `failed`.
//! - `next_attempt_at`: when a queued message is due; claiming a message pushes it one lease
//!   ahead, so a worker that dies holding the claim only delays it. `claim` identifies the
//!   current claim: marking a message requires it to be unchanged.
//! - `user_id` has no foreign key on purpose: deleting an account must not delete a notice
//!   already queued for it (an attacker who took an account over could otherwise suppress the
//!   "your password was changed" mail by deleting the account at once).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailQueue::Table)
                    .col(pk_uuid(MailQueue::Id))
                    .col(string(MailQueue::Kind))
                    .col(uuid_null(MailQueue::UserId))
                    .col(binary_null(MailQueue::Payload))
                    .col(string(MailQueue::Status).check((
                        "ck-mail_queue-status",
                        Expr::col(MailQueue::Status).is_in(["queued", "sent", "failed"]),
                    )))
                    .col(integer(MailQueue::Attempts))
                    .col(timestamp_with_time_zone(MailQueue::CreatedAt))
                    .col(timestamp_with_time_zone(MailQueue::NextAttemptAt))
                    .col(uuid_null(MailQueue::Claim))
                    .col(timestamp_with_time_zone_null(MailQueue::SentAt))
                    .col(timestamp_with_time_zone_null(MailQueue::FailedAt))
                    .col(text_null(MailQueue::LastError))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-mail_queue-status-next_attempt_at")
                    .table(MailQueue::Table)
                    .col(MailQueue::Status)
                    .col(MailQueue::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailQueue::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MailQueue {
    Table,
    Id,
    Kind,
    UserId,
    Payload,
    Status,
    Attempts,
    CreatedAt,
    NextAttemptAt,
    Claim,
    SentAt,
    FailedAt,
    LastError,
}
