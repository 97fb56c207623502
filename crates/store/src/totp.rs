//! `SecondFactorRepository` on `totp_secrets` and `recovery_codes` (and, for an administrator's
//! removal, `passkeys`). The rules of docs/second-factors.md, "Storage": a TOTP step is used by
//! one conditional `UPDATE … AND last_used_step < :step`, a recovery code by one conditional
//! `UPDATE … AND used_at IS NULL`; every change of the set is one transaction with its event and
//! notices.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, SqlErr};
use tessera_auth_core::mfa::recovery::RecoveryCodeHash;
use tessera_auth_core::ports::{FactorChange, SecondFactorRepository, StoreError, StoredTotp};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{passkeys, recovery_codes, totp_secrets};
use crate::error::{corrupt, db_error};
use crate::events::insert_event;
use crate::mail_queue::enqueue_in;
use crate::time_value::to_db;
use crate::{SeaStore, unique_row};

fn step_to_db(step: u64) -> Result<i64, StoreError> {
    i64::try_from(step).map_err(|_| StoreError::Backend("TOTP step out of range".to_owned()))
}

async fn insert_codes(
    txn: &DatabaseTransaction,
    user_id: Uuid,
    codes: &[RecoveryCodeHash],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    if codes.is_empty() {
        return Ok(());
    }
    let rows = codes.iter().map(|hash| recovery_codes::ActiveModel {
        code_hash: Set(hash.0.to_vec()),
        user_id: Set(user_id),
        created_at: Set(to_db(at)),
        used_at: Set(None),
    });
    recovery_codes::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await
        .map_err(db_error("insert recovery codes"))?;
    Ok(())
}

async fn delete_codes(txn: &DatabaseTransaction, user_id: Uuid) -> Result<u64, StoreError> {
    Ok(recovery_codes::Entity::delete_many()
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .exec(txn)
        .await
        .map_err(db_error("delete recovery codes"))?
        .rows_affected)
}

async fn delete_totp(txn: &DatabaseTransaction, user_id: Uuid) -> Result<u64, StoreError> {
    Ok(totp_secrets::Entity::delete_by_id(user_id)
        .exec(txn)
        .await
        .map_err(db_error("delete TOTP secret"))?
        .rows_affected)
}

/// The change's event and notices, then the commit; the mail worker is woken after it.
async fn finish(store: &SeaStore, txn: DatabaseTransaction, change: FactorChange) -> Result<(), StoreError> {
    insert_event(&txn, change.event).await?;
    let queued = !change.notices.is_empty();
    for notice in &change.notices {
        enqueue_in(&txn, notice).await?;
    }
    txn.commit().await.map_err(db_error("commit second-factor change"))?;
    if queued {
        store.wake_mail_worker();
    }
    Ok(())
}

#[async_trait]
impl SecondFactorRepository for SeaStore {
    async fn enable_totp(
        &self,
        totp: StoredTotp,
        codes: &[RecoveryCodeHash],
        change: FactorChange,
    ) -> Result<bool, StoreError> {
        let user_id = change.user_id;
        let (_writer, txn) = self.begin_write().await?;
        let row = totp_secrets::ActiveModel {
            user_id: Set(user_id),
            sealed_secret: Set(totp.sealed_secret),
            last_used_step: Set(step_to_db(totp.last_used_step)?),
            created_at: Set(to_db(change.at)),
        };
        // The primary key decides (never check-then-insert): a second enabling finds the row.
        match totp_secrets::Entity::insert(row).exec_without_returning(&txn).await {
            Ok(_) => {}
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                txn.rollback().await.map_err(db_error("end TOTP enabling"))?;
                return Ok(false);
            }
            Err(err) => return Err(db_error("insert TOTP secret")(err)),
        }
        delete_codes(&txn, user_id).await?;
        insert_codes(&txn, user_id, codes, change.at).await?;
        finish(self, txn, change).await?;
        Ok(true)
    }

    async fn find_totp(&self, user_id: Uuid) -> Result<Option<StoredTotp>, StoreError> {
        let Some(row) = unique_row(totp_secrets::Entity::find_by_id(user_id), &self.db)
            .await
            .map_err(db_error("find TOTP secret"))?
        else {
            return Ok(None);
        };
        let last_used_step =
            u64::try_from(row.last_used_step).map_err(|_| corrupt("totp_secrets", "last_used_step", "negative"))?;
        Ok(Some(StoredTotp {
            sealed_secret: row.sealed_secret,
            last_used_step,
        }))
    }

    async fn use_totp_step(&self, user_id: Uuid, step: u64) -> Result<bool, StoreError> {
        let step = step_to_db(step)?;
        let _writer = self.write_permit().await;
        let result = totp_secrets::Entity::update_many()
            .col_expr(totp_secrets::Column::LastUsedStep, Expr::value(step))
            .filter(totp_secrets::Column::UserId.eq(user_id))
            .filter(totp_secrets::Column::LastUsedStep.lt(step))
            .exec(&self.db)
            .await
            .map_err(db_error("use TOTP step"))?;
        Ok(result.rows_affected == 1)
    }

    async fn disable_totp(&self, change: FactorChange) -> Result<bool, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        if delete_totp(&txn, change.user_id).await? == 0 {
            txn.rollback().await.map_err(db_error("end TOTP disabling"))?;
            return Ok(false);
        }
        delete_codes(&txn, change.user_id).await?;
        finish(self, txn, change).await?;
        Ok(true)
    }

    async fn redeem_recovery_code(
        &self,
        user_id: Uuid,
        hash: &RecoveryCodeHash,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let _writer = self.write_permit().await;
        let result = recovery_codes::Entity::update_many()
            .col_expr(recovery_codes::Column::UsedAt, Expr::value(Some(to_db(at))))
            .filter(recovery_codes::Column::CodeHash.eq(hash.0.to_vec()))
            .filter(recovery_codes::Column::UserId.eq(user_id))
            .filter(recovery_codes::Column::UsedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_error("redeem recovery code"))?;
        Ok(result.rows_affected == 1)
    }

    async fn replace_recovery_codes(
        &self,
        codes: &[RecoveryCodeHash],
        change: FactorChange,
    ) -> Result<bool, StoreError> {
        let user_id = change.user_id;
        let (_writer, txn) = self.begin_write().await?;
        // Locks the secret's row (PostgreSQL), so a disable cannot slip in between and leave
        // codes without their factor.
        let mut secret = totp_secrets::Entity::find_by_id(user_id);
        if self.backend == crate::Backend::Postgres {
            secret = sea_orm::QuerySelect::lock(secret, sea_orm::sea_query::LockType::Update);
        }
        if unique_row(secret, &txn)
            .await
            .map_err(db_error("lock TOTP secret"))?
            .is_none()
        {
            txn.rollback().await.map_err(db_error("end recovery code renewal"))?;
            return Ok(false);
        }
        delete_codes(&txn, user_id).await?;
        insert_codes(&txn, user_id, codes, change.at).await?;
        finish(self, txn, change).await?;
        Ok(true)
    }

    async fn remove_second_factors(&self, change: FactorChange) -> Result<bool, StoreError> {
        let user_id = change.user_id;
        let (_writer, txn) = self.begin_write().await?;
        let mut removed = delete_totp(&txn, user_id).await?;
        removed += delete_codes(&txn, user_id).await?;
        removed += passkeys::Entity::delete_many()
            .filter(passkeys::Column::UserId.eq(user_id))
            .exec(&txn)
            .await
            .map_err(db_error("delete passkeys"))?
            .rows_affected;
        if removed == 0 {
            txn.rollback().await.map_err(db_error("end second-factor removal"))?;
            return Ok(false);
        }
        finish(self, txn, change).await?;
        Ok(true)
    }
}
