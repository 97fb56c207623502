//! `MfaChallengeRepository` on `mfa_challenges`. An attempt is counted by a conditional
//! `UPDATE … SET attempts = :n WHERE key = :k AND attempts = :n - 1` before the code is checked,
//! in a transaction that read the row (PostgreSQL: `FOR UPDATE`; SQLite: `IMMEDIATE`) and checked
//! its expiry exactly in Rust (SQLite compares stored times only to the second). Completing is a
//! `DELETE` of the row (one row: this request won) and the session's insert, in one transaction.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tessera_auth_core::events::SecurityEvent;
use tessera_auth_core::mfa::challenge::{ChallengeKey, MfaChallenge};
use tessera_auth_core::ports::{ChallengeCompletion, MfaChallengeRepository, StoreError};
use tessera_auth_core::session::{NewSession, TokenDelivery};
use time::OffsetDateTime;

use crate::entity::mfa_challenges;
use crate::error::{corrupt, db_error};
use crate::time_value::{from_db, to_db};
use crate::{Backend, SeaStore, unique_row};

fn challenge_of(model: mfa_challenges::Model) -> Result<MfaChallenge, StoreError> {
    let key: [u8; 32] = model
        .key
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("mfa_challenges", "key", "not 32 bytes"))?;
    let delivery = TokenDelivery::parse(&model.delivery)
        .ok_or_else(|| corrupt("mfa_challenges", "delivery", "unknown delivery"))?;
    let attempts = u32::try_from(model.attempts).map_err(|_| corrupt("mfa_challenges", "attempts", "negative"))?;
    Ok(MfaChallenge {
        key: ChallengeKey(key),
        user_id: model.user_id,
        delivery,
        created_at: from_db(model.created_at),
        expires_at: from_db(model.expires_at),
        attempts,
    })
}

fn attempts_to_db(attempts: u32) -> Result<i32, StoreError> {
    i32::try_from(attempts).map_err(|_| StoreError::Backend("MFA attempts out of range".to_owned()))
}

#[async_trait]
impl MfaChallengeRepository for SeaStore {
    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<(), StoreError> {
        let row = mfa_challenges::ActiveModel {
            key: Set(challenge.key.0.to_vec()),
            user_id: Set(challenge.user_id),
            delivery: Set(challenge.delivery.as_str().to_owned()),
            attempts: Set(attempts_to_db(challenge.attempts)?),
            created_at: Set(to_db(challenge.created_at)),
            expires_at: Set(to_db(challenge.expires_at)),
        };
        let _writer = self.write_permit().await;
        mfa_challenges::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error("insert MFA challenge"))?;
        Ok(())
    }

    async fn find_mfa_challenge(&self, key: &ChallengeKey) -> Result<Option<MfaChallenge>, StoreError> {
        unique_row(mfa_challenges::Entity::find_by_id(key.0.to_vec()), &self.db)
            .await
            .map_err(db_error("find MFA challenge"))?
            .map(challenge_of)
            .transpose()
    }

    async fn record_mfa_attempt(
        &self,
        key: &ChallengeKey,
        attempts: u32,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let Some(previous) = attempts.checked_sub(1) else {
            return Ok(false);
        };
        let (_writer, txn) = self.begin_write().await?;
        let mut select = mfa_challenges::Entity::find_by_id(key.0.to_vec());
        if self.backend == Backend::Postgres {
            select = select.lock(LockType::Update);
        }
        let live = unique_row(select, &txn)
            .await
            .map_err(db_error("lock MFA challenge"))?
            .is_some_and(|row| from_db(row.expires_at) > now);
        if !live {
            txn.rollback().await.map_err(db_error("end MFA attempt"))?;
            return Ok(false);
        }
        let result = mfa_challenges::Entity::update_many()
            .col_expr(mfa_challenges::Column::Attempts, Expr::value(attempts_to_db(attempts)?))
            .filter(mfa_challenges::Column::Key.eq(key.0.to_vec()))
            .filter(mfa_challenges::Column::Attempts.eq(attempts_to_db(previous)?))
            .exec(&txn)
            .await
            .map_err(db_error("count MFA attempt"))?;
        txn.commit().await.map_err(db_error("commit MFA attempt"))?;
        Ok(result.rows_affected == 1)
    }

    async fn complete_mfa_challenge(
        &self,
        key: &ChallengeKey,
        session: NewSession,
        login_event: SecurityEvent,
    ) -> Result<ChallengeCompletion, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        let deleted = mfa_challenges::Entity::delete_by_id(key.0.to_vec())
            .exec(&txn)
            .await
            .map_err(db_error("consume MFA challenge"))?
            .rows_affected;
        if deleted != 1 {
            txn.rollback().await.map_err(db_error("end MFA completion"))?;
            return Ok(ChallengeCompletion::Gone);
        }
        // Commits both, or rolls both back (`AccountDisabled`): the challenge stays for nothing.
        self.insert_session_in(txn, session, login_event).await?;
        Ok(ChallengeCompletion::Completed)
    }
}
