//! `PasskeyRepository` on the `passkeys` table.
//!
//! A credential id is registered once (`uq-passkeys-credential_id`: the insert fails, never a
//! check-then-insert). Rename and delete are scoped to the owner in their `WHERE`, so another
//! user's id changes nothing. Recording a use is one conditional update on the counter (`sign_count
//! <= :new`, or `<` for a device-bound key that counts), so two assertions racing each other
//! cannot move it back.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, SqlErr};
use tessera_auth_core::events::SecurityEvent;
use tessera_auth_core::mail::SealedMail;
use tessera_auth_core::mfa::passkey::StoredPasskey;
use tessera_auth_core::ports::{NewPasskey, PasskeyRepository, PasskeyUse, StoreError};
use uuid::Uuid;

use crate::SeaStore;
use crate::entity::passkeys;
use crate::error::{corrupt, db_error};
use crate::events::insert_event;
use crate::mail_queue::enqueue_in;
use crate::time_value::{from_db, to_db};

// --- conversion (the one place `passkeys` rows and the domain's passkeys meet) ---

fn stored_of(model: passkeys::Model) -> Result<StoredPasskey, StoreError> {
    let sign_count = u32::try_from(model.sign_count).map_err(|_| corrupt("passkeys", "sign_count", "out of range"))?;
    Ok(StoredPasskey {
        id: model.id,
        user_id: model.user_id,
        credential_id: model.credential_id,
        credential: model.credential,
        name: model.name,
        sign_count,
        backup_eligible: model.backup_eligible,
        backup_state: model.backup_state,
        created_at: from_db(model.created_at),
        last_used_at: model.last_used_at.map(from_db),
    })
}

fn new_row(new: NewPasskey) -> passkeys::ActiveModel {
    let NewPasskey {
        passkey,
        user_verified,
        transports,
    } = new;
    passkeys::ActiveModel {
        id: Set(passkey.id),
        user_id: Set(passkey.user_id),
        credential_id: Set(passkey.credential_id),
        credential: Set(passkey.credential),
        name: Set(passkey.name),
        sign_count: Set(i64::from(passkey.sign_count)),
        backup_eligible: Set(passkey.backup_eligible),
        backup_state: Set(passkey.backup_state),
        user_verified: Set(user_verified),
        transports: Set(transports.join(" ")),
        created_at: Set(to_db(passkey.created_at)),
        last_used_at: Set(passkey.last_used_at.map(to_db)),
    }
}

fn sorted(mut passkeys: Vec<StoredPasskey>) -> Vec<StoredPasskey> {
    // In Rust: SQLite orders stored times only to the second; ids are UUIDv7.
    passkeys.sort_by_key(|passkey| (passkey.created_at, passkey.id));
    passkeys
}

#[async_trait]
impl PasskeyRepository for SeaStore {
    async fn add_passkey(&self, new: NewPasskey, event: SecurityEvent, notice: SealedMail) -> Result<(), StoreError> {
        let (writer, txn) = self.begin_write().await?;
        let inserted = passkeys::Entity::insert(new_row(new))
            .exec_without_returning(&txn)
            .await;
        if let Err(err) = inserted {
            txn.rollback().await.map_err(db_error("end insert passkey"))?;
            drop(writer);
            return Err(match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::CredentialTaken,
                _ => db_error("insert passkey")(err),
            });
        }
        insert_event(&txn, event).await?;
        enqueue_in(&txn, &notice).await?;
        txn.commit().await.map_err(db_error("commit insert passkey"))?;
        drop(writer);
        self.wake_mail_worker();
        Ok(())
    }

    async fn list_passkeys(&self, user_id: Uuid) -> Result<Vec<StoredPasskey>, StoreError> {
        let rows = passkeys::Entity::find()
            .filter(passkeys::Column::UserId.eq(user_id))
            .all(&self.db)
            .await
            .map_err(db_error("list passkeys"))?;
        Ok(sorted(rows.into_iter().map(stored_of).collect::<Result<_, _>>()?))
    }

    async fn find_passkey_by_credential_id(&self, credential_id: &[u8]) -> Result<Option<StoredPasskey>, StoreError> {
        passkeys::Entity::find()
            .filter(passkeys::Column::CredentialId.eq(credential_id.to_vec()))
            .one(&self.db)
            .await
            .map_err(db_error("find passkey"))?
            .map(stored_of)
            .transpose()
    }

    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, name: &str) -> Result<Option<StoredPasskey>, StoreError> {
        let (writer, txn) = self.begin_write().await?;
        let renamed = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::Name, Expr::value(name.to_owned()))
            .filter(passkeys::Column::Id.eq(id))
            .filter(passkeys::Column::UserId.eq(user_id))
            .exec(&txn)
            .await
            .map_err(db_error("rename passkey"))?
            .rows_affected;
        let row = match renamed {
            1 => passkeys::Entity::find_by_id(id)
                .one(&txn)
                .await
                .map_err(db_error("load renamed passkey"))?,
            _ => None,
        };
        txn.commit().await.map_err(db_error("commit rename passkey"))?;
        drop(writer);
        row.map(stored_of).transpose()
    }

    async fn delete_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        event: SecurityEvent,
        notice: SealedMail,
    ) -> Result<bool, StoreError> {
        let (writer, txn) = self.begin_write().await?;
        let deleted = passkeys::Entity::delete_many()
            .filter(passkeys::Column::Id.eq(id))
            .filter(passkeys::Column::UserId.eq(user_id))
            .exec(&txn)
            .await
            .map_err(db_error("delete passkey"))?
            .rows_affected;
        if deleted != 1 {
            txn.rollback().await.map_err(db_error("end delete passkey"))?;
            return Ok(false);
        }
        insert_event(&txn, event).await?;
        enqueue_in(&txn, &notice).await?;
        txn.commit().await.map_err(db_error("commit delete passkey"))?;
        drop(writer);
        self.wake_mail_worker();
        Ok(true)
    }

    async fn record_passkey_use(&self, passkey_use: &PasskeyUse) -> Result<bool, StoreError> {
        let new_count = i64::from(passkey_use.sign_count);
        let counter_holds = if passkey_use.require_increase {
            passkeys::Column::SignCount.lt(new_count)
        } else {
            passkeys::Column::SignCount.lte(new_count)
        };
        let mut update = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::SignCount, Expr::value(new_count))
            .col_expr(
                passkeys::Column::BackupEligible,
                Expr::value(passkey_use.backup_eligible),
            )
            .col_expr(passkeys::Column::BackupState, Expr::value(passkey_use.backup_state))
            .col_expr(passkeys::Column::LastUsedAt, Expr::value(to_db(passkey_use.at)));
        if let Some(credential) = &passkey_use.credential {
            update = update.col_expr(passkeys::Column::Credential, Expr::value(credential.clone()));
        }
        let _writer = self.write_permit().await;
        let written = update
            .filter(passkeys::Column::Id.eq(passkey_use.passkey_id))
            .filter(passkeys::Column::UserId.eq(passkey_use.user_id))
            .filter(counter_holds)
            .exec(&self.db)
            .await
            .map_err(db_error("record passkey use"))?
            .rows_affected;
        Ok(written == 1)
    }
}
