//! `AccountRepository` (deleting an account, the `account_deleted` records it leaves in
//! `security_events`) and `FactorSummaryRepository` (read-only views of the second-factor
//! tables).

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use tessera_auth_core::account::{AccountDeletion, MfaStatus, PasskeySummary};
use tessera_auth_core::events::EventKind;
use tessera_auth_core::ports::{AccountRepository, FactorSummaryRepository, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{login_throttle, passkeys, recovery_codes, security_events, sessions, totp_secrets, users};
use crate::error::{corrupt, db_error};
use crate::time_value::{from_db, sqlite_second_prefix, to_db};
use crate::{Backend, SeaStore};

// --- conversion (the one place deletion records and `security_events` rows meet) ---

fn deletion_model(deletion: &AccountDeletion) -> security_events::ActiveModel {
    security_events::ActiveModel {
        id: Set(deletion.event_id),
        // NULL, so the cascade of the account's deletion passes the record by.
        user_id: Set(None),
        account_id: Set(Some(deletion.account_id)),
        kind: Set(EventKind::AccountDeleted.as_str().to_owned()),
        at: Set(to_db(deletion.at)),
        ip: Set(deletion.ip.clone()),
        user_agent: Set(deletion.user_agent.clone()),
        session_id: Set(deletion.session_id),
    }
}

impl TryFrom<security_events::Model> for AccountDeletion {
    type Error = StoreError;

    fn try_from(model: security_events::Model) -> Result<AccountDeletion, StoreError> {
        let account_id = model
            .account_id
            .ok_or_else(|| corrupt("security_events", "account_id", "a deletion record without its account"))?;
        Ok(AccountDeletion {
            event_id: model.id,
            account_id,
            at: from_db(model.at),
            ip: model.ip,
            user_agent: model.user_agent,
            session_id: model.session_id,
        })
    }
}

impl From<passkeys::Model> for PasskeySummary {
    fn from(model: passkeys::Model) -> PasskeySummary {
        PasskeySummary {
            id: model.id,
            name: model.name,
            created_at: from_db(model.created_at),
            last_used_at: model.last_used_at.map(from_db),
            backup_eligible: model.backup_eligible,
            backup_state: model.backup_state,
        }
    }
}

/// The deletion records, as a query to refine.
fn deletions() -> sea_orm::Select<security_events::Entity> {
    security_events::Entity::find()
        .filter(security_events::Column::Kind.eq(EventKind::AccountDeleted.as_str()))
        .filter(security_events::Column::AccountId.is_not_null())
}

fn count_to_u32(count: u64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

// --- repositories ---

#[async_trait]
impl AccountRepository for SeaStore {
    /// The user's row is locked first (as every account-wide change locks it), the live
    /// sessions read, the record and the throttle row written, then the user deleted: the
    /// schema's `ON DELETE CASCADE` removes sessions, events, passkeys, the TOTP secret,
    /// recovery codes, ceremonies and MFA challenges with it (SQLite connections run with
    /// foreign keys on). `mail_queue.user_id` has no foreign key, so queued mail stays.
    ///
    /// PostgreSQL: a login that commits a session between the read of the live sessions and the
    /// delete (it holds the key-share lock the delete waits for) loses that session to the
    /// cascade without it being listed; its tokens are still refused by the account-wide
    /// cut-off the service applies, on other instances from their next catch-up poll.
    async fn delete_account(
        &self,
        deletion: &AccountDeletion,
        throttle_key: &[u8; 32],
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let user_id = deletion.account_id;
        let (_writer, txn) = self.begin_write().await?;
        if self.lock_user(&txn, user_id).await?.is_none() {
            txn.rollback().await.map_err(db_error("end delete account"))?;
            return Ok(None);
        }
        let live = sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .select_only()
            .column(sessions::Column::Id)
            .into_tuple::<Uuid>()
            .all(&txn)
            .await
            .map_err(db_error("find the sessions of a deleted account"))?;
        security_events::Entity::insert(deletion_model(deletion))
            .exec_without_returning(&txn)
            .await
            .map_err(db_error("record account deletion"))?;
        login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::Key.eq(throttle_key.to_vec()))
            .exec(&txn)
            .await
            .map_err(db_error("forget the login throttle of a deleted account"))?;
        users::Entity::delete_by_id(user_id)
            .exec(&txn)
            .await
            .map_err(db_error("delete account"))?;
        txn.commit().await.map_err(db_error("commit delete account"))?;
        Ok(Some(live))
    }

    async fn list_account_deletions(
        &self,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<AccountDeletion>, StoreError> {
        let mut query = deletions();
        if let Some(before) = before {
            query = query.filter(security_events::Column::Id.lt(before));
        }
        query
            .order_by_desc(security_events::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error("list account deletions"))?
            .into_iter()
            .map(AccountDeletion::try_from)
            .collect()
    }

    async fn accounts_deleted_since(&self, since: OffsetDateTime) -> Result<Vec<AccountDeletion>, StoreError> {
        // A coarse bound in SQL (SQLite compares the stored text, exact to the second),
        // refined exactly below.
        let query = match self.backend {
            Backend::Postgres => deletions().filter(security_events::Column::At.gte(since)),
            Backend::Sqlite => {
                deletions().filter(Expr::col(security_events::Column::At).gte(sqlite_second_prefix(since)))
            }
        };
        let rows = query
            .all(&self.db)
            .await
            .map_err(db_error("list recent account deletions"))?;
        let mut recent = Vec::with_capacity(rows.len());
        for row in rows {
            let deletion = AccountDeletion::try_from(row)?;
            if deletion.at >= since {
                recent.push(deletion);
            }
        }
        Ok(recent)
    }
}

#[async_trait]
impl FactorSummaryRepository for SeaStore {
    async fn list_passkey_summaries(&self, user_id: Uuid) -> Result<Vec<PasskeySummary>, StoreError> {
        let mut summaries: Vec<PasskeySummary> = passkeys::Entity::find()
            .filter(passkeys::Column::UserId.eq(user_id))
            .all(&self.db)
            .await
            .map_err(db_error("list passkeys"))?
            .into_iter()
            .map(PasskeySummary::from)
            .collect();
        // In Rust: SQLite orders stored times only to the second.
        summaries.sort_by_key(|passkey| (passkey.created_at, passkey.id));
        Ok(summaries)
    }

    async fn mfa_status(&self, user_id: Uuid) -> Result<MfaStatus, StoreError> {
        let totp = totp_secrets::Entity::find_by_id(user_id)
            .count(&self.db)
            .await
            .map_err(db_error("find TOTP secret"))?;
        let recovery_codes_left = recovery_codes::Entity::find()
            .filter(recovery_codes::Column::UserId.eq(user_id))
            .filter(recovery_codes::Column::UsedAt.is_null())
            .count(&self.db)
            .await
            .map_err(db_error("count recovery codes"))?;
        let passkeys = passkeys::Entity::find()
            .filter(passkeys::Column::UserId.eq(user_id))
            .count(&self.db)
            .await
            .map_err(db_error("count passkeys"))?;
        Ok(MfaStatus {
            totp: totp > 0,
            recovery_codes_left: count_to_u32(recovery_codes_left),
            passkeys: count_to_u32(passkeys),
        })
    }
}
