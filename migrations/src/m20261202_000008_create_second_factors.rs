//! Second factors and the state of ceremonies in progress (docs/second-factors.md):
//! - `totp_secrets`: one enabled TOTP secret per user, sealed under a key derived from the
//!   master key (associated data: the user id), and the last time step accepted, which the store
//!   advances with a conditional update so each step works once;
//! - `recovery_codes`: SHA-256 digests (bound to the user) of the current set; `used_at` is set
//!   by a conditional update, so each code works once;
//! - `passkeys`: WebAuthn credentials. `credential` is the relying party's serialised
//!   credential (public key, counter, flags, registration policy), the source of truth for
//!   verification; `sign_count` and the flags are copies written with it, for listing;
//! - `ceremonies`: WebAuthn challenges in progress and pending TOTP enrolments, keyed by a
//!   digest of their handle (the WebAuthn challenge, or the user id), taken with one
//!   delete-returning statement (single use), five minutes;
//! - `mfa_challenges`: logins waiting for their second factor, keyed by the SHA-256 of the
//!   `__Host-mfa` token, with the attempts counted before each code is checked.
//!
//! Every row belongs to a user and goes with the user (`ON DELETE CASCADE`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn owned_by_user<T: IntoIden + Copy + 'static>(table: T, column: T, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TotpSecrets::Table)
                    .col(pk_uuid(TotpSecrets::UserId))
                    .col(binary(TotpSecrets::SealedSecret))
                    .col(big_integer(TotpSecrets::LastUsedStep))
                    .col(timestamp_with_time_zone(TotpSecrets::CreatedAt))
                    .foreign_key(&mut owned_by_user(
                        TotpSecrets::Table,
                        TotpSecrets::UserId,
                        "fk-totp_secrets-user_id",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(binary_len(RecoveryCodes::CodeHash, 32).primary_key())
                    .col(uuid(RecoveryCodes::UserId))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .foreign_key(&mut owned_by_user(
                        RecoveryCodes::Table,
                        RecoveryCodes::UserId,
                        "fk-recovery_codes-user_id",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-recovery_codes-user_id")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Passkeys::Table)
                    .col(pk_uuid(Passkeys::Id))
                    .col(uuid(Passkeys::UserId))
                    .col(binary(Passkeys::CredentialId))
                    .col(binary(Passkeys::Credential))
                    .col(string_len(Passkeys::Name, 100))
                    .col(big_integer(Passkeys::SignCount))
                    .col(boolean(Passkeys::BackupEligible))
                    .col(boolean(Passkeys::BackupState))
                    .col(boolean(Passkeys::UserVerified))
                    .col(string(Passkeys::Transports))
                    .col(timestamp_with_time_zone(Passkeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(Passkeys::LastUsedAt))
                    .foreign_key(&mut owned_by_user(
                        Passkeys::Table,
                        Passkeys::UserId,
                        "fk-passkeys-user_id",
                    ))
                    .to_owned(),
            )
            .await?;
        // A credential id names one credential of one user (WebAuthn: a registration of an id
        // already registered must fail).
        manager
            .create_index(
                Index::create()
                    .name("uq-passkeys-credential_id")
                    .table(Passkeys::Table)
                    .col(Passkeys::CredentialId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-passkeys-user_id")
                    .table(Passkeys::Table)
                    .col(Passkeys::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Ceremonies::Table)
                    .col(binary_len(Ceremonies::Key, 32).primary_key())
                    .col(string(Ceremonies::Kind))
                    .col(uuid_null(Ceremonies::UserId))
                    .col(binary(Ceremonies::State))
                    .col(timestamp_with_time_zone(Ceremonies::CreatedAt))
                    .col(timestamp_with_time_zone(Ceremonies::ExpiresAt))
                    .foreign_key(&mut owned_by_user(
                        Ceremonies::Table,
                        Ceremonies::UserId,
                        "fk-ceremonies-user_id",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-ceremonies-expires_at")
                    .table(Ceremonies::Table)
                    .col(Ceremonies::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MfaChallenges::Table)
                    .col(binary_len(MfaChallenges::Key, 32).primary_key())
                    .col(uuid(MfaChallenges::UserId))
                    .col(string(MfaChallenges::Delivery))
                    .col(integer(MfaChallenges::Attempts))
                    .col(timestamp_with_time_zone(MfaChallenges::CreatedAt))
                    .col(timestamp_with_time_zone(MfaChallenges::ExpiresAt))
                    .foreign_key(&mut owned_by_user(
                        MfaChallenges::Table,
                        MfaChallenges::UserId,
                        "fk-mfa_challenges-user_id",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-mfa_challenges-expires_at")
                    .table(MfaChallenges::Table)
                    .col(MfaChallenges::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MfaChallenges::Table.into_iden(),
            Ceremonies::Table.into_iden(),
            Passkeys::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
            TotpSecrets::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum TotpSecrets {
    Table,
    UserId,
    SealedSecret,
    LastUsedStep,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RecoveryCodes {
    Table,
    CodeHash,
    UserId,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Passkeys {
    Table,
    Id,
    UserId,
    CredentialId,
    Credential,
    Name,
    SignCount,
    BackupEligible,
    BackupState,
    UserVerified,
    Transports,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Ceremonies {
    Table,
    Key,
    Kind,
    UserId,
    State,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MfaChallenges {
    Table,
    Key,
    UserId,
    Delivery,
    Attempts,
    CreatedAt,
    ExpiresAt,
}
