//! `UserRepository` on the `users` table.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use tessera_auth_core::events::{EventKind, RequestMeta, SecurityEvent};
use tessera_auth_core::mail::SealedMail;
use tessera_auth_core::ports::{AccountChange, StoreError, UserRepository};
use tessera_auth_core::session::RevocationReason;
use tessera_auth_core::user::{NewUser, Role, User, email_skeleton_hash, normalise_email};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::users;
use crate::error::{corrupt, db_error, user_insert_error};
use crate::events::insert_event;
use crate::mail_queue::enqueue_in;
use crate::mail_tokens::kill_reset_tokens_in;
use crate::sessions::revoke_sessions_of_user;
use crate::time_value::{from_db, to_db};
use crate::{Backend, SeaStore, unique_row};

// --- conversion (the one place `users` rows and domain users meet) ---

impl TryFrom<users::Model> for User {
    type Error = StoreError;

    fn try_from(model: users::Model) -> Result<User, StoreError> {
        let role = Role::parse(&model.role).ok_or_else(|| corrupt("users", "role", "unknown role"))?;
        Ok(User {
            id: model.id,
            email: model.email,
            name: model.name,
            role,
            password_hash: model.password_hash,
            disabled: model.disabled,
            email_verified: model.email_verified,
            created_at: from_db(model.created_at),
        })
    }
}

/// The row to insert and the user it stores (times as they will read back).
pub(crate) fn new_user_model(user: NewUser) -> (users::ActiveModel, User) {
    let skeleton_hash = user.email.skeleton_hash();
    let mut user = User::from(user);
    user.created_at = to_db(user.created_at);
    let model = users::ActiveModel {
        id: Set(user.id),
        email: Set(user.email.clone()),
        email_skeleton_hash: Set(Some(skeleton_hash.to_vec())),
        name: Set(user.name.clone()),
        password_hash: Set(user.password_hash.clone()),
        role: Set(user.role.as_str().to_owned()),
        disabled: Set(user.disabled),
        email_verified: Set(user.email_verified),
        created_at: Set(user.created_at),
        updated_at: Set(user.created_at),
    };
    (model, user)
}

// --- repository ---

/// Rows filled per round trip by [`SeaStore::fill_email_skeletons`].
const SKELETON_BATCH: u64 = 500;

impl SeaStore {
    /// Brings rows from before the skeleton column up to today's rules: the address normalised
    /// (NFC) and its skeleton hash set. Idempotent and safe to run from several instances at
    /// once (each row is written only while its hash is still NULL); `migrate` runs it, so it
    /// has finished before an instance serves. A row whose address (or skeleton) another
    /// account already has cannot be brought up and keeps its NULL; it is logged by id for the
    /// operator (two accounts that look alike, created before the rule). Returns the rows
    /// filled.
    pub async fn fill_email_skeletons(&self) -> Result<u64, StoreError> {
        let mut filled = 0;
        let mut after: Option<Uuid> = None;
        loop {
            let mut query = users::Entity::find().filter(users::Column::EmailSkeletonHash.is_null());
            if let Some(after) = after {
                query = query.filter(users::Column::Id.gt(after));
            }
            let rows = query
                .order_by_asc(users::Column::Id)
                .limit(SKELETON_BATCH)
                .all(&self.db)
                .await
                .map_err(db_error("read users without a skeleton"))?;
            let Some(last) = rows.last().map(|row| row.id) else {
                return Ok(filled);
            };
            for row in rows {
                let email = normalise_email(&row.email);
                let hash = email_skeleton_hash(&row.email).to_vec();
                let _writer = self.write_permit().await;
                let updated = users::Entity::update_many()
                    .col_expr(users::Column::Email, Expr::value(email))
                    .col_expr(users::Column::EmailSkeletonHash, Expr::value(hash))
                    .filter(users::Column::Id.eq(row.id))
                    .filter(users::Column::EmailSkeletonHash.is_null())
                    .exec(&self.db)
                    .await;
                match updated {
                    Ok(result) => filled += result.rows_affected,
                    Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                        tracing::warn!(
                            user_id = %row.id,
                            "this account's address looks the same as another account's (both \
                             created before look-alike addresses were refused); it keeps working \
                             but has no skeleton: review the two accounts"
                        );
                    }
                    Err(err) => return Err(db_error("fill email skeleton")(err)),
                }
            }
            after = Some(last);
        }
    }

    /// Loads the user row for update inside `txn`. Account-wide changes of one user queue here,
    /// so each sees the one before it.
    ///
    /// PostgreSQL: `SELECT … FOR NO KEY UPDATE`, the lock an `UPDATE` of non-key columns takes.
    /// Not `FOR UPDATE`: that one also blocks the `FOR KEY SHARE` lock which inserting a session
    /// or an event takes on its user (the foreign key check), and a refresh holding its session
    /// row while recording a replay event would then deadlock with a change waiting for that
    /// session row. SQLite: the transaction began `IMMEDIATE` and holds the write lock.
    pub(crate) async fn lock_user(
        &self,
        txn: &DatabaseTransaction,
        id: Uuid,
    ) -> Result<Option<users::Model>, StoreError> {
        let select = users::Entity::find_by_id(id);
        let select = match self.backend {
            Backend::Postgres => select.lock(LockType::NoKeyUpdate),
            Backend::Sqlite => select,
        };
        unique_row(select, txn).await.map_err(db_error("lock user"))
    }

    /// Whether user `id` exists, inside `txn`; it cannot be deleted before `txn` ends (PostgreSQL:
    /// `FOR KEY SHARE`, the lock a foreign key check takes; SQLite: the write lock). For changes
    /// that record an event for the user, whose row may have been deleted behind Tessera's back.
    pub(crate) async fn user_exists(&self, txn: &DatabaseTransaction, id: Uuid) -> Result<bool, StoreError> {
        let select = users::Entity::find_by_id(id).select_only().column(users::Column::Id);
        let select = match self.backend {
            Backend::Postgres => select.lock(LockType::KeyShare),
            Backend::Sqlite => select,
        };
        let found = select
            .into_tuple::<Uuid>()
            .all(txn)
            .await
            .map_err(db_error("find user"))?;
        Ok(!found.is_empty())
    }
}

/// Writes `changes` (plus `updated_at`) to the locked user `id` inside `txn`.
pub(crate) async fn update_locked_user(
    txn: &DatabaseTransaction,
    id: Uuid,
    changes: users::ActiveModel,
    context: &'static str,
) -> Result<(), StoreError> {
    let result = users::Entity::update_many()
        .set(changes)
        .filter(users::Column::Id.eq(id))
        .exec(txn)
        .await
        .map_err(db_error(context))?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Backend(format!("{context}: locked user row not updated")))
    }
}

#[async_trait]
impl UserRepository for SeaStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let (model, user) = new_user_model(user);
        // The unique indexes decide: no check-then-insert race.
        let writer = self.write_permit().await;
        let inserted = users::Entity::insert(model).exec_without_returning(&self.db).await;
        drop(writer);
        match inserted.map_err(user_insert_error) {
            Ok(_) => Ok(user),
            // Which index refused it: the address itself, or only its skeleton. (An insert that
            // hits both reports either, depending on the backend.)
            Err(StoreError::EmailTaken) => match self.find_user_by_email(&user.email).await? {
                Some(_) => Err(StoreError::EmailTaken),
                None => Err(StoreError::EmailConfusable),
            },
            Err(other) => Err(other),
        }
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        unique_row(users::Entity::find().filter(users::Column::Email.eq(email)), &self.db)
            .await
            .map_err(db_error("find user by email"))?
            .map(User::try_from)
            .transpose()
    }

    async fn find_user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        unique_row(users::Entity::find_by_id(id), &self.db)
            .await
            .map_err(db_error("find user"))?
            .map(User::try_from)
            .transpose()
    }

    async fn update_user_name(&self, id: Uuid, name: &str, at: OffsetDateTime) -> Result<Option<User>, StoreError> {
        let writer = self.write_permit().await;
        let updated = users::Entity::update_many()
            .col_expr(users::Column::Name, Expr::value(name))
            .col_expr(users::Column::UpdatedAt, Expr::value(to_db(at)))
            .filter(users::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(db_error("update user name"))?;
        drop(writer);
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        self.find_user(id).await
    }

    async fn update_password_hash(&self, id: Uuid, password_hash: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let _writer = self.write_permit().await;
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
            .col_expr(users::Column::UpdatedAt, Expr::value(to_db(at)))
            .filter(users::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(db_error("update password hash"))?;
        Ok(())
    }

    /// Keyset pagination on the primary key: `WHERE id > after ORDER BY id LIMIT limit`.
    async fn list_users(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<User>, StoreError> {
        let mut query = users::Entity::find();
        if let Some(after) = after {
            query = query.filter(users::Column::Id.gt(after));
        }
        query
            .order_by_asc(users::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error("list users"))?
            .into_iter()
            .map(User::try_from)
            .collect()
    }

    async fn update_user_role(&self, id: Uuid, role: Role, at: OffsetDateTime) -> Result<Option<User>, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        let Some(mut model) = self.lock_user(&txn, id).await? else {
            txn.rollback().await.map_err(db_error("end update role"))?;
            return Ok(None);
        };
        model.role = role.as_str().to_owned();
        model.updated_at = to_db(at);
        let changes = users::ActiveModel {
            role: Set(model.role.clone()),
            updated_at: Set(model.updated_at),
            ..Default::default()
        };
        update_locked_user(&txn, id, changes, "update user role").await?;
        txn.commit().await.map_err(db_error("commit update role"))?;
        User::try_from(model).map(Some)
    }

    /// Disabling revokes every unrevoked session each time it is called (normally none after the
    /// first), but records the `user_disabled` event only when the flag actually changes, so
    /// disabling twice leaves one event. Enabling clears the flag and writes no event. An
    /// unchanged flag writes nothing to the user row.
    async fn set_user_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        at: OffsetDateTime,
        meta: &RequestMeta,
    ) -> Result<Option<AccountChange>, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        let Some(mut model) = self.lock_user(&txn, id).await? else {
            txn.rollback().await.map_err(db_error("end set disabled"))?;
            return Ok(None);
        };
        let flipped = model.disabled != disabled;
        if flipped {
            model.disabled = disabled;
            model.updated_at = to_db(at);
            let changes = users::ActiveModel {
                disabled: Set(model.disabled),
                updated_at: Set(model.updated_at),
                ..Default::default()
            };
            update_locked_user(&txn, id, changes, "set user disabled").await?;
        }
        let mut revoked_sessions = Vec::new();
        if disabled {
            revoked_sessions =
                revoke_sessions_of_user(&txn, self.backend, id, None, RevocationReason::UserDisabled, at).await?;
            if flipped {
                insert_event(&txn, SecurityEvent::new(id, EventKind::UserDisabled, at, meta, None)).await?;
            }
        }
        txn.commit().await.map_err(db_error("commit set disabled"))?;
        Ok(Some(AccountChange {
            user: User::try_from(model)?,
            revoked_sessions,
        }))
    }

    /// An unknown user (an account deleted since its password was checked) writes nothing.
    async fn change_password(
        &self,
        id: Uuid,
        password_hash: &str,
        keep: Uuid,
        at: OffsetDateTime,
        meta: &RequestMeta,
        notice: SealedMail,
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let (writer, txn) = self.begin_write().await?;
        if self.lock_user(&txn, id).await?.is_none() {
            txn.rollback().await.map_err(db_error("end change password"))?;
            return Ok(None);
        }
        let changes = users::ActiveModel {
            password_hash: Set(password_hash.to_owned()),
            updated_at: Set(to_db(at)),
            ..Default::default()
        };
        update_locked_user(&txn, id, changes, "change password").await?;
        let revoked = revoke_sessions_of_user(
            &txn,
            self.backend,
            id,
            Some(keep),
            RevocationReason::PasswordChanged,
            at,
        )
        .await?;
        insert_event(
            &txn,
            SecurityEvent::new(id, EventKind::PasswordChanged, at, meta, Some(keep)),
        )
        .await?;
        kill_reset_tokens_in(&txn, id, at).await?;
        enqueue_in(&txn, &notice).await?;
        txn.commit().await.map_err(db_error("commit change password"))?;
        drop(writer);
        self.wake_mail_worker();
        Ok(Some(revoked))
    }
}
