//! `MailTokenRepository` on the `mail_tokens` table, with the flows that consume tokens.
//!
//! Each flow is one write transaction that queues its mail with it ([`enqueue_in`]) and wakes
//! the mail worker after the commit. Consuming a token ([`consume_in`]) reads the row (PostgreSQL:
//! `FOR UPDATE`, so a concurrent consumer waits for this transaction; SQLite: the transaction
//! began `IMMEDIATE` and holds the write lock), checks it with the domain's rule
//! ([`MailTokenRecord::usable_for`], exact times in Rust), then marks it used with an update
//! conditional on `used_at IS NULL`: of two concurrent uses exactly one sees its row change. A
//! token of another purpose is never written.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, SqlErr};
use tessera_auth_core::events::{EventKind, RequestMeta, SecurityEvent};
use tessera_auth_core::mail::SealedMail;
use tessera_auth_core::mail_token::{MailTokenHash, MailTokenPurpose, MailTokenRecord, NewMailToken};
use tessera_auth_core::ports::{
    EmailConfirmation, MailTokenRepository, PasswordReset, StoreError, TokenIssue, UserRepository,
};
use tessera_auth_core::session::RevocationReason;
use tessera_auth_core::user::{NewUser, User, email_skeleton_hash};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{login_throttle, mail_tokens, users};
use crate::error::{corrupt, db_error, user_insert_error};
use crate::events::insert_event;
use crate::mail_queue::enqueue_in;
use crate::sessions::revoke_sessions_of_user;
use crate::time_value::{from_db, sqlite_second_prefix, to_db};
use crate::users::{new_user_model, update_locked_user};
use crate::{Backend, SeaStore, unique_row};

// --- conversion ---

fn record_of(model: mail_tokens::Model) -> Result<MailTokenRecord, StoreError> {
    let purpose =
        MailTokenPurpose::parse(&model.purpose).ok_or_else(|| corrupt("mail_tokens", "purpose", "unknown purpose"))?;
    let hash: [u8; 32] = model
        .token_hash
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("mail_tokens", "token_hash", "not 32 bytes"))?;
    Ok(MailTokenRecord {
        hash: MailTokenHash(hash),
        user_id: model.user_id,
        purpose,
        new_email: model.new_email,
        session_id: model.session_id,
        created_at: from_db(model.created_at),
        expires_at: from_db(model.expires_at),
        used_at: model.used_at.map(from_db),
    })
}

fn new_row(token: NewMailToken) -> mail_tokens::ActiveModel {
    mail_tokens::ActiveModel {
        token_hash: Set(token.hash.0.to_vec()),
        user_id: Set(token.user_id),
        purpose: Set(token.purpose.as_str().to_owned()),
        new_email: Set(token.new_email.map(|email| email.into_string())),
        session_id: Set(token.session_id),
        created_at: Set(to_db(token.created_at)),
        expires_at: Set(to_db(token.expires_at)),
        used_at: Set(None),
    }
}

async fn insert_token(txn: &DatabaseTransaction, token: NewMailToken) -> Result<(), StoreError> {
    mail_tokens::Entity::insert(new_row(token))
        .exec_without_returning(txn)
        .await
        .map_err(db_error("insert mail token"))?;
    Ok(())
}

/// Marks every outstanding token of `user_id` (of `purpose`, when given) used at `at`.
async fn kill_tokens_in(
    txn: &DatabaseTransaction,
    user_id: Uuid,
    purpose: Option<MailTokenPurpose>,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut update = mail_tokens::Entity::update_many()
        .col_expr(mail_tokens::Column::UsedAt, Expr::value(Some(to_db(at))))
        .filter(mail_tokens::Column::UserId.eq(user_id))
        .filter(mail_tokens::Column::UsedAt.is_null());
    if let Some(purpose) = purpose {
        update = update.filter(mail_tokens::Column::Purpose.eq(purpose.as_str()));
    }
    update.exec(txn).await.map_err(db_error("kill mail tokens"))?;
    Ok(())
}

/// Kills the outstanding reset tokens of `user_id` (a password change by any path does).
pub(crate) async fn kill_reset_tokens_in(
    txn: &DatabaseTransaction,
    user_id: Uuid,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    kill_tokens_in(txn, user_id, Some(MailTokenPurpose::ResetPassword), at).await
}

impl SeaStore {
    /// The token row `hash`, locked on PostgreSQL (SQLite: the write transaction's lock).
    async fn lock_token(
        &self,
        txn: &DatabaseTransaction,
        hash: &MailTokenHash,
    ) -> Result<Option<MailTokenRecord>, StoreError> {
        let select = mail_tokens::Entity::find_by_id(hash.0.to_vec());
        let select = match self.backend {
            Backend::Postgres => select.lock(LockType::Update),
            Backend::Sqlite => select,
        };
        unique_row(select, txn)
            .await
            .map_err(db_error("lock mail token"))?
            .map(record_of)
            .transpose()
    }

    /// Consumes token `hash` inside `txn` if it is usable for `purpose` at `at` (and names
    /// `user_id`, when given); `None` (nothing written) otherwise, or when a concurrent use won.
    async fn consume_in(
        &self,
        txn: &DatabaseTransaction,
        hash: &MailTokenHash,
        purpose: MailTokenPurpose,
        user_id: Option<Uuid>,
        at: OffsetDateTime,
    ) -> Result<Option<MailTokenRecord>, StoreError> {
        let Some(record) = self.lock_token(txn, hash).await? else {
            return Ok(None);
        };
        if !record.usable_for(purpose, at) || user_id.is_some_and(|id| id != record.user_id) {
            return Ok(None);
        }
        let result = mail_tokens::Entity::update_many()
            .col_expr(mail_tokens::Column::UsedAt, Expr::value(Some(to_db(at))))
            .filter(mail_tokens::Column::TokenHash.eq(hash.0.to_vec()))
            .filter(mail_tokens::Column::UsedAt.is_null())
            .exec(txn)
            .await
            .map_err(db_error("consume mail token"))?;
        Ok((result.rows_affected == 1).then_some(record))
    }

    /// When the newest token of `purpose` for `user_id` issued after `not_since` was issued.
    async fn issued_after(
        &self,
        txn: &DatabaseTransaction,
        user_id: Uuid,
        purpose: MailTokenPurpose,
        not_since: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let query = mail_tokens::Entity::find()
            .select_only()
            .column(mail_tokens::Column::CreatedAt)
            .filter(mail_tokens::Column::UserId.eq(user_id))
            .filter(mail_tokens::Column::Purpose.eq(purpose.as_str()));
        // SQLite compares stored times as text, exact to the second: a coarse bound, then exact.
        let query = match self.backend {
            Backend::Postgres => query.filter(mail_tokens::Column::CreatedAt.gt(to_db(not_since))),
            Backend::Sqlite => {
                query.filter(Expr::col(mail_tokens::Column::CreatedAt).gte(sqlite_second_prefix(not_since)))
            }
        };
        let times = query
            .into_tuple::<OffsetDateTime>()
            .all(txn)
            .await
            .map_err(db_error("read recent mail tokens"))?;
        Ok(times.into_iter().map(from_db).filter(|at| *at > not_since).max())
    }
}

#[async_trait]
impl MailTokenRepository for SeaStore {
    async fn find_mail_token(&self, hash: &MailTokenHash) -> Result<Option<MailTokenRecord>, StoreError> {
        unique_row(mail_tokens::Entity::find_by_id(hash.0.to_vec()), &self.db)
            .await
            .map_err(db_error("find mail token"))?
            .map(record_of)
            .transpose()
    }

    async fn create_user_with_verification(
        &self,
        user: NewUser,
        token: NewMailToken,
        mail: SealedMail,
    ) -> Result<User, StoreError> {
        let (model, user) = new_user_model(user);
        let (writer, txn) = self.begin_write().await?;
        let inserted = users::Entity::insert(model).exec_without_returning(&txn).await;
        if let Err(err) = inserted {
            txn.rollback().await.map_err(db_error("end create user"))?;
            drop(writer);
            return match user_insert_error(err) {
                // Which index refused it, as `create_user` tells.
                StoreError::EmailTaken => match self.find_user_by_email(&user.email).await? {
                    Some(_) => Err(StoreError::EmailTaken),
                    None => Err(StoreError::EmailConfusable),
                },
                other => Err(other),
            };
        }
        insert_token(&txn, token).await?;
        enqueue_in(&txn, &mail).await?;
        txn.commit().await.map_err(db_error("commit create user"))?;
        drop(writer);
        self.wake_mail_worker();
        Ok(user)
    }

    async fn issue_mail_token(
        &self,
        token: NewMailToken,
        mail: Vec<SealedMail>,
        event: Option<SecurityEvent>,
        not_since: OffsetDateTime,
    ) -> Result<TokenIssue, StoreError> {
        let (writer, txn) = self.begin_write().await?;
        // Locked, so two requests for one account take turns and the second sees the first.
        if self.lock_user(&txn, token.user_id).await?.is_none() {
            txn.rollback().await.map_err(db_error("end issue mail token"))?;
            return Ok(TokenIssue::NoUser);
        }
        if let Some(last_issued_at) = self.issued_after(&txn, token.user_id, token.purpose, not_since).await? {
            txn.rollback().await.map_err(db_error("end issue mail token"))?;
            return Ok(TokenIssue::TooSoon { last_issued_at });
        }
        insert_token(&txn, token).await?;
        for mail in &mail {
            enqueue_in(&txn, mail).await?;
        }
        if let Some(event) = event {
            insert_event(&txn, event).await?;
        }
        txn.commit().await.map_err(db_error("commit issue mail token"))?;
        drop(writer);
        self.wake_mail_worker();
        Ok(TokenIssue::Issued)
    }

    async fn reset_password(&self, reset: PasswordReset) -> Result<bool, StoreError> {
        let (writer, txn) = self.begin_write().await?;
        if self.lock_user(&txn, reset.user_id).await?.is_none() {
            txn.rollback().await.map_err(db_error("end reset password"))?;
            return Ok(false);
        }
        let purpose = MailTokenPurpose::ResetPassword;
        if self
            .consume_in(&txn, &reset.token, purpose, Some(reset.user_id), reset.at)
            .await?
            .is_none()
        {
            txn.rollback().await.map_err(db_error("end reset password"))?;
            return Ok(false);
        }
        let changes = users::ActiveModel {
            password_hash: Set(reset.password_hash),
            updated_at: Set(to_db(reset.at)),
            ..Default::default()
        };
        update_locked_user(&txn, reset.user_id, changes, "reset password").await?;
        kill_reset_tokens_in(&txn, reset.user_id, reset.at).await?;
        login_throttle::Entity::delete_by_id(reset.throttle_key.to_vec())
            .exec(&txn)
            .await
            .map_err(db_error("clear login backoff"))?;
        insert_event(
            &txn,
            SecurityEvent::new(reset.user_id, EventKind::PasswordReset, reset.at, &reset.meta, None),
        )
        .await?;
        enqueue_in(&txn, &reset.notice).await?;
        txn.commit().await.map_err(db_error("commit reset password"))?;
        drop(writer);
        self.wake_mail_worker();
        Ok(true)
    }

    async fn verify_email(
        &self,
        token: &MailTokenHash,
        at: OffsetDateTime,
        meta: &RequestMeta,
    ) -> Result<Option<Uuid>, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        let Some(record) = self
            .consume_in(&txn, token, MailTokenPurpose::VerifyEmail, None, at)
            .await?
        else {
            txn.rollback().await.map_err(db_error("end verify email"))?;
            return Ok(None);
        };
        let changes = users::ActiveModel {
            email_verified: Set(true),
            updated_at: Set(to_db(at)),
            ..Default::default()
        };
        // The token row's foreign key holds the user: it exists.
        update_locked_user(&txn, record.user_id, changes, "verify email").await?;
        insert_event(
            &txn,
            SecurityEvent::new(record.user_id, EventKind::EmailVerified, at, meta, None),
        )
        .await?;
        txn.commit().await.map_err(db_error("commit verify email"))?;
        Ok(Some(record.user_id))
    }

    async fn confirm_email(
        &self,
        token: &MailTokenHash,
        at: OffsetDateTime,
        meta: &RequestMeta,
    ) -> Result<EmailConfirmation, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        let Some(record) = self
            .consume_in(&txn, token, MailTokenPurpose::ConfirmEmail, None, at)
            .await?
        else {
            txn.rollback().await.map_err(db_error("end confirm email"))?;
            return Ok(EmailConfirmation::Invalid);
        };
        let Some(new_email) = record.new_email.clone() else {
            return Err(corrupt(
                "mail_tokens",
                "new_email",
                "confirm_email token without an address",
            ));
        };
        let changes = users::ActiveModel {
            email: Set(new_email.clone()),
            email_skeleton_hash: Set(Some(email_skeleton_hash(&new_email).to_vec())),
            email_verified: Set(true),
            updated_at: Set(to_db(at)),
            ..Default::default()
        };
        let updated = users::Entity::update_many()
            .set(changes)
            .filter(users::Column::Id.eq(record.user_id))
            .exec(&txn)
            .await;
        match updated {
            Ok(result) if result.rows_affected == 1 => {}
            Ok(_) => return Err(StoreError::Backend("confirm email: user row not updated".into())),
            // Another account took the address (or a look-alike) since the request: the
            // rollback also un-consumes the token.
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                txn.rollback().await.map_err(db_error("end confirm email"))?;
                return Ok(EmailConfirmation::Taken);
            }
            Err(err) => return Err(db_error("confirm email")(err)),
        }
        kill_tokens_in(&txn, record.user_id, None, at).await?;
        let revoked = revoke_sessions_of_user(
            &txn,
            self.backend,
            record.user_id,
            record.session_id,
            RevocationReason::EmailChanged,
            at,
        )
        .await?;
        insert_event(
            &txn,
            SecurityEvent::new(record.user_id, EventKind::EmailChanged, at, meta, record.session_id),
        )
        .await?;
        txn.commit().await.map_err(db_error("commit confirm email"))?;
        Ok(EmailConfirmation::Confirmed {
            user_id: record.user_id,
            revoked,
            kept: record.session_id,
        })
    }
}
