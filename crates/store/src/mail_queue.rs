//! `MailQueue` on the `mail_queue` table.
//!
//! Mail is queued in the transaction of the change that causes it: a store method of a flow calls
//! [`enqueue_in`] on its own transaction, then [`SeaStore::wake_mail_worker`] once it has
//! committed. [`MailQueue::enqueue_mail`] does both for mail that accompanies no other change.
//!
//! Claims: PostgreSQL picks the row with `FOR UPDATE SKIP LOCKED`, so workers on several instances
//! each take a different message without waiting for each other; SQLite claims inside an
//! `IMMEDIATE` transaction (this process's writer queue, then the database's write lock), which
//! excludes every other writer. Either way the claim pushes `next_attempt_at` one lease ahead and
//! sets a fresh `claim` id, and marking a message requires that id: a worker whose lease ran out
//! (it hung, or died) cannot mark a message another worker has claimed since.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use tessera_auth_core::mail::{ClaimedMail, MailClaim, MailKind, MailQueueStats, SealedMail};
use tessera_auth_core::ports::{MailQueue, StoreError};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::entity::mail_queue;
use crate::error::{corrupt, db_error};
use crate::time_value::{from_db, sqlite_second_prefix, to_db};
use crate::{Backend, SeaStore};

const QUEUED: &str = "queued";
const SENT: &str = "sent";
const FAILED: &str = "failed";
/// Longest error text kept on a row (SMTP replies can be long; the log has the rest).
const ERROR_MAX_CHARS: usize = 500;
/// SQLite: candidates read per claim before the exact due check in Rust.
const SQLITE_CANDIDATES: u64 = 16;

fn new_row(mail: &SealedMail) -> mail_queue::ActiveModel {
    let created_at = to_db(mail.created_at);
    mail_queue::ActiveModel {
        id: Set(mail.id),
        kind: Set(mail.kind.as_str().to_owned()),
        user_id: Set(mail.user_id),
        payload: Set(Some(mail.sealed.clone())),
        status: Set(QUEUED.to_owned()),
        attempts: Set(0),
        created_at: Set(created_at),
        next_attempt_at: Set(created_at),
        claim: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
        last_error: Set(None),
    }
}

/// Queues `mail` on `conn`: the transaction of the state change that causes it (or the pool).
/// After the transaction commits, call [`SeaStore::wake_mail_worker`].
pub(crate) async fn enqueue_in<C: ConnectionTrait>(conn: &C, mail: &SealedMail) -> Result<(), StoreError> {
    mail_queue::Entity::insert(new_row(mail))
        .exec_without_returning(conn)
        .await
        .map_err(db_error("queue mail"))?;
    Ok(())
}

fn claimed(model: mail_queue::Model, claim: Uuid) -> Result<ClaimedMail, StoreError> {
    let kind = MailKind::parse(&model.kind).ok_or_else(|| corrupt("mail_queue", "kind", "unknown mail kind"))?;
    let attempts =
        u32::try_from(model.attempts).map_err(|_| corrupt("mail_queue", "attempts", "negative attempt count"))?;
    let sealed = model
        .payload
        .ok_or_else(|| corrupt("mail_queue", "payload", "queued message without a payload"))?;
    Ok(ClaimedMail {
        claim: MailClaim { id: model.id, claim },
        kind,
        user_id: model.user_id,
        created_at: from_db(model.created_at),
        attempts,
        sealed,
    })
}

fn truncate(error: &str) -> String {
    error.chars().take(ERROR_MAX_CHARS).collect()
}

impl SeaStore {
    /// Wakes this process's mail worker (after a transaction that queued mail has committed).
    pub fn wake_mail_worker(&self) {
        self.mail_wakeup.notify_one();
    }

    /// What [`wake_mail_worker`](Self::wake_mail_worker) notifies: the mail worker waits on it.
    pub fn mail_wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.mail_wakeup.clone()
    }

    async fn claim_postgres(&self, now: OffsetDateTime, lease: Duration) -> Result<Option<ClaimedMail>, StoreError> {
        let claim = Uuid::new_v4();
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = $1, claim = $2 \
             WHERE id = (SELECT id FROM mail_queue WHERE status = 'queued' AND next_attempt_at <= $3 \
             ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING *",
            [to_db(now + lease).into(), claim.into(), to_db(now).into()],
        );
        let row = mail_queue::Entity::find()
            .from_raw_sql(statement)
            .all(&self.db)
            .await
            .map_err(db_error("claim mail"))?
            .into_iter()
            .next();
        row.map(|model| claimed(model, claim)).transpose()
    }

    async fn claim_sqlite(&self, now: OffsetDateTime, lease: Duration) -> Result<Option<ClaimedMail>, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        // Stored times compare as text, exact to the second: read the candidates due by the end
        // of this second, then check exactly.
        let candidates = mail_queue::Entity::find()
            .filter(mail_queue::Column::Status.eq(QUEUED))
            .filter(Expr::col(mail_queue::Column::NextAttemptAt).lt(sqlite_second_prefix(now + Duration::seconds(1))))
            .order_by_asc(mail_queue::Column::NextAttemptAt)
            .order_by_asc(mail_queue::Column::Id)
            .limit(SQLITE_CANDIDATES)
            .all(&txn)
            .await
            .map_err(db_error("find due mail"))?;
        let Some(mut model) = candidates
            .into_iter()
            .find(|model| from_db(model.next_attempt_at) <= now)
        else {
            txn.rollback().await.map_err(db_error("end claim mail"))?;
            return Ok(None);
        };
        let claim = Uuid::new_v4();
        model.attempts = model.attempts.saturating_add(1);
        model.next_attempt_at = to_db(now + lease);
        model.claim = Some(claim);
        let changes = mail_queue::ActiveModel {
            attempts: Set(model.attempts),
            next_attempt_at: Set(model.next_attempt_at),
            claim: Set(model.claim),
            ..Default::default()
        };
        let result = mail_queue::Entity::update_many()
            .set(changes)
            .filter(mail_queue::Column::Id.eq(model.id))
            .exec(&txn)
            .await
            .map_err(db_error("claim mail"))?;
        if result.rows_affected != 1 {
            return Err(StoreError::Backend("claim mail: row not updated".to_owned()));
        }
        txn.commit().await.map_err(db_error("commit claim mail"))?;
        claimed(model, claim).map(Some)
    }

    /// Applies `changes` to the claimed row if the claim still holds.
    async fn update_claimed(
        &self,
        claim: MailClaim,
        changes: mail_queue::ActiveModel,
        context: &'static str,
    ) -> Result<bool, StoreError> {
        let _writer = self.write_permit().await;
        let result = mail_queue::Entity::update_many()
            .set(changes)
            .filter(mail_queue::Column::Id.eq(claim.id))
            .filter(mail_queue::Column::Claim.eq(claim.claim))
            .filter(mail_queue::Column::Status.eq(QUEUED))
            .exec(&self.db)
            .await
            .map_err(db_error(context))?;
        Ok(result.rows_affected == 1)
    }
}

#[async_trait]
impl MailQueue for SeaStore {
    async fn enqueue_mail(&self, mail: SealedMail) -> Result<(), StoreError> {
        {
            let _writer = self.write_permit().await;
            enqueue_in(&self.db, &mail).await?;
        }
        self.wake_mail_worker();
        Ok(())
    }

    async fn claim_mail(&self, now: OffsetDateTime, lease: Duration) -> Result<Option<ClaimedMail>, StoreError> {
        match self.backend {
            Backend::Postgres => self.claim_postgres(now, lease).await,
            Backend::Sqlite => self.claim_sqlite(now, lease).await,
        }
    }

    async fn mark_mail_sent(&self, claim: MailClaim, at: OffsetDateTime) -> Result<bool, StoreError> {
        let changes = mail_queue::ActiveModel {
            status: Set(SENT.to_owned()),
            payload: Set(None),
            claim: Set(None),
            sent_at: Set(Some(to_db(at))),
            last_error: Set(None),
            ..Default::default()
        };
        self.update_claimed(claim, changes, "mark mail sent").await
    }

    async fn retry_mail(&self, claim: MailClaim, retry_at: OffsetDateTime, error: &str) -> Result<bool, StoreError> {
        let changes = mail_queue::ActiveModel {
            next_attempt_at: Set(to_db(retry_at)),
            claim: Set(None),
            last_error: Set(Some(truncate(error))),
            ..Default::default()
        };
        self.update_claimed(claim, changes, "record mail retry").await
    }

    async fn fail_mail(&self, claim: MailClaim, at: OffsetDateTime, error: &str) -> Result<bool, StoreError> {
        let changes = mail_queue::ActiveModel {
            status: Set(FAILED.to_owned()),
            payload: Set(None),
            claim: Set(None),
            failed_at: Set(Some(to_db(at))),
            last_error: Set(Some(truncate(error))),
            ..Default::default()
        };
        self.update_claimed(claim, changes, "mark mail failed").await
    }

    async fn mail_stats(&self) -> Result<MailQueueStats, StoreError> {
        let counts: Vec<(String, i64)> = mail_queue::Entity::find()
            .select_only()
            .column(mail_queue::Column::Status)
            .column_as(Expr::col(mail_queue::Column::Id).count(), "n")
            .group_by(mail_queue::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error("count mail"))?;
        let mut stats = MailQueueStats::default();
        for (status, n) in counts {
            let n = u64::try_from(n).unwrap_or(0);
            match status.as_str() {
                QUEUED => stats.queued = n,
                SENT => stats.sent = n,
                FAILED => stats.failed = n,
                _ => return Err(corrupt("mail_queue", "status", "unknown status")),
            }
        }
        if stats.queued > 0 {
            // Ids are UUIDv7, in queueing order (stored times only sort to the second on SQLite).
            let oldest = mail_queue::Entity::find()
                .filter(mail_queue::Column::Status.eq(QUEUED))
                .order_by_asc(mail_queue::Column::Id)
                .limit(1)
                .all(&self.db)
                .await
                .map_err(db_error("oldest queued mail"))?;
            stats.oldest_queued_at = oldest.into_iter().next().map(|model| from_db(model.created_at));
        }
        Ok(stats)
    }

    async fn prune_sent_mail(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let _writer = self.write_permit().await;
        let result = mail_queue::Entity::delete_many()
            .filter(mail_queue::Column::Status.eq(SENT))
            .filter(mail_queue::Column::SentAt.lt(to_db(before)))
            .exec(&self.db)
            .await
            .map_err(db_error("prune sent mail"))?;
        Ok(result.rows_affected)
    }
}
