//! `SessionRepository` on the `sessions` table, including the locked refresh transaction.
//!
//! Over 500 lines on purpose: the rotation queries (the conditional update, the locked transaction,
//! reuse detection and family revocation) are one concurrency argument and are reviewed together.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryResult, QuerySelect, Statement, Value,
};
use tessera_auth_core::access::Authentication;
use tessera_auth_core::events::{EventKind, RequestMeta, SecurityEvent};
use tessera_auth_core::mfa::policy::AmrSet;
use tessera_auth_core::ports::{LockedSession, RefreshOutcome, SessionRepository, StoreError};
use tessera_auth_core::refresh::{ExpectedRotation, RefreshDecision, RotationState};
use tessera_auth_core::session::{NewSession, RevocationReason, SessionRecord, TokenDelivery};
use tessera_auth_core::user::User;
use time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{sessions, users};
use crate::error::{corrupt, db_error};
use crate::events::insert_event;
use crate::time_value::{from_db, sqlite_second_prefix, to_db};
use crate::{Backend, SeaStore, unique_row};

// --- conversion (the one place `sessions` rows and domain sessions meet) ---

fn hash_from_db(bytes: Vec<u8>, column: &str) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| corrupt("sessions", column, "expected a 32-byte hash"))
}

fn generation_to_db(generation: u64) -> Result<i64, StoreError> {
    i64::try_from(generation).map_err(|_| StoreError::Corrupt("session generation exceeds BIGINT".to_owned()))
}

impl TryFrom<sessions::Model> for SessionRecord {
    type Error = StoreError;

    fn try_from(model: sessions::Model) -> Result<SessionRecord, StoreError> {
        let generation = u64::try_from(model.generation).map_err(|_| corrupt("sessions", "generation", "negative"))?;
        let rotation = RotationState {
            generation,
            current_hash: hash_from_db(model.current_hash, "current_hash")?,
            previous_hash: model
                .previous_hash
                .map(|hash| hash_from_db(hash, "previous_hash"))
                .transpose()?,
            rotated_at: model.rotated_at.map(from_db),
        };
        let delivery = TokenDelivery::parse(&model.delivery)
            .ok_or_else(|| corrupt("sessions", "delivery", "unknown token delivery"))?;
        let revoked_reason = model
            .revoked_reason
            .map(|reason| {
                RevocationReason::parse(&reason).ok_or_else(|| corrupt("sessions", "revoked_reason", "unknown reason"))
            })
            .transpose()?;
        let amr = AmrSet::from_storage(&model.amr)
            .filter(|amr| !amr.is_empty())
            .ok_or_else(|| corrupt("sessions", "amr", "unknown or no authentication method"))?;
        Ok(SessionRecord {
            id: model.id,
            user_id: model.user_id,
            rotation,
            delivery,
            created_at: from_db(model.created_at),
            last_used_at: from_db(model.last_used_at),
            absolute_expires_at: from_db(model.absolute_expires_at),
            revoked_at: model.revoked_at.map(from_db),
            revoked_reason,
            user_agent: model.user_agent,
            ip: model.ip,
            auth_time: from_db(model.auth_time),
            amr,
        })
    }
}

fn new_session_model(session: NewSession) -> Result<sessions::ActiveModel, StoreError> {
    let created_at = to_db(session.created_at);
    Ok(sessions::ActiveModel {
        id: Set(session.id),
        user_id: Set(session.user_id),
        generation: Set(generation_to_db(session.rotation.generation)?),
        current_hash: Set(session.rotation.current_hash.to_vec()),
        previous_hash: Set(session.rotation.previous_hash.map(|hash| hash.to_vec())),
        rotated_at: Set(session.rotation.rotated_at.map(to_db)),
        delivery: Set(session.delivery.as_str().to_owned()),
        created_at: Set(created_at),
        last_used_at: Set(created_at),
        absolute_expires_at: Set(to_db(session.absolute_expires_at)),
        revoked_at: Set(None),
        revoked_reason: Set(None),
        user_agent: Set(session.user_agent),
        ip: Set(session.ip),
        auth_time: Set(to_db(session.auth_time)),
        amr: Set(session.amr.to_storage()),
    })
}

/// The columns a rotation writes, and the record as it reads back afterwards.
fn rotation_update(
    session: &mut SessionRecord,
    state: &RotationState,
    now: OffsetDateTime,
    meta: &RequestMeta,
) -> Result<sessions::ActiveModel, StoreError> {
    session.rotation = RotationState {
        generation: state.generation,
        current_hash: state.current_hash,
        previous_hash: state.previous_hash,
        rotated_at: state.rotated_at.map(to_db),
    };
    session.last_used_at = to_db(now);
    if let Some(ip) = &meta.ip {
        session.ip = Some(ip.clone());
    }
    if let Some(user_agent) = &meta.user_agent {
        session.user_agent = Some(user_agent.clone());
    }
    Ok(sessions::ActiveModel {
        id: NotSet,
        user_id: NotSet,
        generation: Set(generation_to_db(session.rotation.generation)?),
        current_hash: Set(session.rotation.current_hash.to_vec()),
        previous_hash: Set(session.rotation.previous_hash.map(|hash| hash.to_vec())),
        rotated_at: Set(session.rotation.rotated_at),
        delivery: NotSet,
        created_at: NotSet,
        last_used_at: Set(session.last_used_at),
        absolute_expires_at: NotSet,
        revoked_at: NotSet,
        revoked_reason: NotSet,
        user_agent: if meta.user_agent.is_some() {
            Set(session.user_agent.clone())
        } else {
            NotSet
        },
        ip: if meta.ip.is_some() {
            Set(session.ip.clone())
        } else {
            NotSet
        },
        auth_time: NotSet,
        amr: NotSet,
    })
}

// --- the one-statement rotation ---

const SESSION_PREFIX: &str = "s_";
const USER_PREFIX: &str = "u_";

/// `table.column AS prefixcolumn, …` for every column of the entity (`table` omitted: SQLite's
/// `RETURNING` names the updated table's columns bare).
fn prefixed_columns<C: sea_orm::IdenStatic + sea_orm::Iterable>(table: Option<&str>, prefix: &str) -> String {
    C::iter()
        .map(|column| {
            let name = column.as_str();
            match table {
                Some(table) => format!("{table}.{name} AS {prefix}{name}"),
                None => format!("{name} AS {prefix}{name}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The conditional update of `rotate_if_current`: it changes the row only when
/// `ExpectedRotation::applies_to` holds for it, and returns the row (PostgreSQL: with its owner).
///
/// Times: PostgreSQL compares `timestamptz` values exactly. SQLite compares the stored text, so
/// the bounds are whole seconds rounded towards declining (a row within a second of expiry takes
/// the locked path, where `decide` judges it exactly).
fn rotation_statement(
    backend: Backend,
    expected: &ExpectedRotation,
    meta: &RequestMeta,
) -> Result<Statement, StoreError> {
    let one_second = Duration::seconds(1);
    let (after, active_bound, idle_bound): (&str, Value, Value) = match backend {
        Backend::Postgres => (">", to_db(expected.now).into(), to_db(expected.idle_since).into()),
        Backend::Sqlite => (
            ">=",
            sqlite_second_prefix(expected.now.saturating_add(one_second)).into(),
            sqlite_second_prefix(expected.idle_since.saturating_add(one_second)).into(),
        ),
    };
    let state = &expected.state;
    let values: Vec<Value> = vec![
        generation_to_db(state.generation)?.into(),
        state.current_hash.to_vec().into(),
        state.previous_hash.map(|hash| hash.to_vec()).into(),
        state.rotated_at.map(to_db).into(),
        to_db(expected.now).into(),
        meta.ip.clone().into(),
        meta.user_agent.clone().into(),
        expected.session_id.into(),
        generation_to_db(expected.generation)?.into(),
        expected.current_hash.to_vec().into(),
        active_bound,
        idle_bound,
    ];
    let p = |n: usize| match backend {
        Backend::Postgres => format!("${n}"),
        Backend::Sqlite => "?".to_owned(),
    };
    let update = format!(
        "UPDATE sessions SET generation = {}, current_hash = {}, previous_hash = {}, rotated_at = {}, \
         last_used_at = {}, ip = COALESCE({}, ip), user_agent = COALESCE({}, user_agent) \
         WHERE id = {} AND generation = {} AND current_hash = {} AND revoked_at IS NULL \
         AND absolute_expires_at {after} {} AND last_used_at {after} {} \
         AND EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id AND NOT users.disabled)",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8),
        p(9),
        p(10),
        p(11),
        p(12),
    );
    let sql = match backend {
        Backend::Postgres => format!(
            "WITH rotated AS ({update} RETURNING *) SELECT {}, {} FROM rotated JOIN users ON users.id = rotated.user_id",
            prefixed_columns::<sessions::Column>(Some("rotated"), SESSION_PREFIX),
            prefixed_columns::<users::Column>(Some("users"), USER_PREFIX),
        ),
        Backend::Sqlite => format!(
            "{update} RETURNING {}",
            prefixed_columns::<sessions::Column>(None, SESSION_PREFIX)
        ),
    };
    let db_backend = match backend {
        Backend::Postgres => DbBackend::Postgres,
        Backend::Sqlite => DbBackend::Sqlite,
    };
    Ok(Statement::from_sql_and_values(db_backend, sql, values))
}

/// The only row of a statement that returns at most one (a primary-key update).
fn single_row(rows: Vec<QueryResult>) -> Result<Option<QueryResult>, StoreError> {
    let mut rows = rows.into_iter();
    let row = rows.next();
    if rows.next().is_some() {
        return Err(StoreError::Backend(
            "rotate session: more than one row returned for one id".to_owned(),
        ));
    }
    Ok(row)
}

// --- repository ---

impl SeaStore {
    /// Loads the session row for update inside `txn`. PostgreSQL: `SELECT … FOR UPDATE`, so
    /// concurrent refreshes of one session queue on the row. SQLite: the transaction began
    /// `IMMEDIATE` and already holds the database's write lock.
    async fn lock_session(&self, txn: &DatabaseTransaction, id: Uuid) -> Result<Option<sessions::Model>, StoreError> {
        let select = sessions::Entity::find_by_id(id);
        let select = match self.backend {
            Backend::Postgres => select.lock_exclusive(),
            Backend::Sqlite => select,
        };
        unique_row(select, txn).await.map_err(db_error("lock session"))
    }
}

/// The session's owner; `None` when the user row is gone but the session row is not (deleted
/// behind Tessera's back with foreign keys off, as the `sqlite3` shell has them by default).
async fn load_owner<C: ConnectionTrait>(conn: &C, user_id: Uuid) -> Result<Option<User>, StoreError> {
    unique_row(users::Entity::find_by_id(user_id), conn)
        .await
        .map_err(db_error("load session owner"))?
        .map(User::try_from)
        .transpose()
}

async fn update_session<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    changes: sessions::ActiveModel,
    context: &'static str,
) -> Result<(), StoreError> {
    let result = sessions::Entity::update_many()
        .set(changes)
        .filter(sessions::Column::Id.eq(id))
        .exec(conn)
        .await
        .map_err(db_error(context))?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "{context}: locked session row not updated"
        )))
    }
}

#[async_trait]
impl SessionRepository for SeaStore {
    async fn create_session(&self, session: NewSession, login_event: SecurityEvent) -> Result<(), StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        self.insert_session_in(txn, session, login_event).await
    }

    async fn find_session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        unique_row(sessions::Entity::find_by_id(id), &self.db)
            .await
            .map_err(db_error("find session"))?
            .map(SessionRecord::try_from)
            .transpose()
    }

    /// The returned `locked` is the session as stored when the transaction commits: after a
    /// `Rotate` it carries the new rotation state and `last_used_at = now`, after a `Replay` the
    /// revocation; otherwise it is the row as loaded.
    async fn refresh_session(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        meta: &RequestMeta,
        decide: &(dyn for<'a> Fn(&'a LockedSession) -> RefreshDecision + Send + Sync),
    ) -> Result<RefreshOutcome, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        let Some(model) = self.lock_session(&txn, id).await? else {
            txn.rollback().await.map_err(db_error("end refresh"))?;
            return Ok(RefreshOutcome::NoSession);
        };
        let session = SessionRecord::try_from(model)?;
        let Some(user) = load_owner(&txn, session.user_id).await? else {
            // A session without a user is no session: nothing to refresh, nothing written.
            txn.rollback().await.map_err(db_error("end refresh"))?;
            return Ok(RefreshOutcome::NoSession);
        };
        let mut locked = LockedSession { session, user };

        let decision = decide(&locked);
        match &decision {
            RefreshDecision::Rotate { state, .. } => {
                let changes = rotation_update(&mut locked.session, state, now, meta)?;
                update_session(&txn, id, changes, "rotate session").await?;
            }
            RefreshDecision::Replay => {
                revoke_locked(&txn, &mut locked.session, RevocationReason::RefreshReused, now).await?;
                let event = SecurityEvent::new(locked.user.id, EventKind::RefreshReuseDetected, now, meta, Some(id));
                // The owner row is the one just loaded in this transaction.
                insert_event(&txn, event).await?;
            }
            RefreshDecision::Reissue { .. } | RefreshDecision::Reject(_) => {}
        }
        txn.commit().await.map_err(db_error("commit refresh"))?;
        Ok(RefreshOutcome::Decided { decision, locked })
    }

    /// PostgreSQL: one statement (a data-modifying CTE: the conditional `UPDATE … RETURNING`
    /// joined to the owner), in its own implicit transaction; the row lock is held only for that
    /// statement, and a concurrent writer's change is re-checked against the conditions before it
    /// applies (READ COMMITTED re-evaluates the `WHERE` on the newest row version).
    /// SQLite: the conditional `UPDATE … RETURNING` under the write lock, then the owner (a WAL
    /// read). The owner's `disabled` is part of the update's condition either way.
    ///
    /// The statement commits by itself (autocommit), so its commit can fail after its row has
    /// been returned: on a full disk, a read-only or an I/O-failing file the rotation is rolled
    /// back when SQLite ends the statement. Every result row is therefore read, so that the
    /// statement runs to its end and the commit's outcome comes back as the statement's; reading
    /// only the first row (sqlx's `fetch_one`) leaves the statement to be reset later, and the
    /// reset's error, the failed commit, is dropped: the refresh then answered 200 with tokens
    /// that were never stored. (PostgreSQL's driver reads up to `ReadyForQuery`, after the
    /// implicit commit, either way; it gets the same single code path.)
    async fn rotate_if_current(
        &self,
        expected: &ExpectedRotation,
        meta: &RequestMeta,
    ) -> Result<Option<LockedSession>, StoreError> {
        let statement = rotation_statement(self.backend, expected, meta)?;
        match self.backend {
            Backend::Postgres => {
                let rows = self
                    .db
                    .query_all_raw(statement)
                    .await
                    .map_err(db_error("rotate session"))?;
                let Some(row) = single_row(rows)? else {
                    return Ok(None);
                };
                let session = sessions::Model::from_query_result(&row, SESSION_PREFIX)
                    .map_err(db_error("read rotated session"))?;
                let user =
                    users::Model::from_query_result(&row, USER_PREFIX).map_err(db_error("read session owner"))?;
                Ok(Some(LockedSession {
                    session: SessionRecord::try_from(session)?,
                    user: User::try_from(user)?,
                }))
            }
            Backend::Sqlite => {
                let rows = {
                    let _writer = self.write_permit().await;
                    self.db
                        .query_all_raw(statement)
                        .await
                        .map_err(db_error("rotate session"))?
                };
                let Some(row) = single_row(rows)? else {
                    return Ok(None);
                };
                let session = sessions::Model::from_query_result(&row, SESSION_PREFIX)
                    .map_err(db_error("read rotated session"))?;
                let session = SessionRecord::try_from(session)?;
                // The update saw the owner; one deleted since (foreign keys off) ends the session:
                // the locked path finds no owner and answers as for no session. (The rotation
                // stays written, unlike the port's usual `None`: no refresh of it can succeed.)
                let Some(user) = load_owner(&self.db, session.user_id).await? else {
                    return Ok(None);
                };
                Ok(Some(LockedSession { session, user }))
            }
        }
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        reason: RevocationReason,
        at: OffsetDateTime,
        meta: &RequestMeta,
        event_kind: EventKind,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let revoked_at = to_db(at);
        let (_writer, txn) = self.begin_write().await?;
        // Conditional: of two concurrent revocations exactly one sees `revoked_at IS NULL`
        // (PostgreSQL re-checks the condition after waiting for the row lock).
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(Some(revoked_at)))
            .col_expr(sessions::Column::RevokedReason, Expr::value(Some(reason.as_str())))
            .filter(sessions::Column::Id.eq(id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_error("revoke session"))?;
        if result.rows_affected == 0 {
            txn.rollback().await.map_err(db_error("end revoke"))?;
            return Ok(None);
        }
        let session = unique_row(sessions::Entity::find_by_id(id), &txn)
            .await
            .map_err(db_error("reload revoked session"))?
            .ok_or_else(|| StoreError::Backend("revoke session: row vanished".to_owned()))
            .and_then(SessionRecord::try_from)?;
        if !self.user_exists(&txn, session.user_id).await? {
            // The session outlived its user (deleted with foreign keys off): it is over already.
            txn.rollback().await.map_err(db_error("end revoke"))?;
            return Ok(None);
        }
        let event = SecurityEvent::new(session.user_id, event_kind, at, meta, Some(id));
        insert_event(&txn, event).await?;
        txn.commit().await.map_err(db_error("commit revoke"))?;
        Ok(Some(session))
    }

    async fn reauthenticate_session(
        &self,
        id: Uuid,
        user_id: Uuid,
        authentication: Authentication,
        event: SecurityEvent,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        // Conditional, like a revocation: a session revoked concurrently stays revoked and
        // gains no new proof.
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::AuthTime, Expr::value(to_db(authentication.auth_time)))
            .col_expr(sessions::Column::Amr, Expr::value(authentication.amr.to_storage()))
            .filter(sessions::Column::Id.eq(id))
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_error("reauthenticate session"))?;
        if result.rows_affected == 0 || !self.user_exists(&txn, user_id).await? {
            txn.rollback().await.map_err(db_error("end reauthenticate"))?;
            return Ok(None);
        }
        let session = unique_row(sessions::Entity::find_by_id(id), &txn)
            .await
            .map_err(db_error("reload reauthenticated session"))?
            .ok_or_else(|| StoreError::Backend("reauthenticate session: row vanished".to_owned()))
            .and_then(SessionRecord::try_from)?;
        insert_event(&txn, event).await?;
        txn.commit().await.map_err(db_error("commit reauthenticate"))?;
        Ok(Some(session))
    }

    async fn sessions_revoked_since(&self, since: OffsetDateTime) -> Result<Vec<(Uuid, OffsetDateTime)>, StoreError> {
        let query = sessions::Entity::find().filter(sessions::Column::RevokedAt.is_not_null());
        // A coarse bound in SQL (SQLite compares the stored text, exact to the second; PostgreSQL
        // binds microseconds), refined exactly below.
        let query = match self.backend {
            Backend::Postgres => query.filter(sessions::Column::RevokedAt.gte(since)),
            Backend::Sqlite => query.filter(Expr::col(sessions::Column::RevokedAt).gte(sqlite_second_prefix(since))),
        };
        let rows = query
            .select_only()
            .column(sessions::Column::Id)
            .column(sessions::Column::RevokedAt)
            .into_tuple::<(Uuid, Option<OffsetDateTime>)>()
            .all(&self.db)
            .await
            .map_err(db_error("list revoked sessions"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, revoked_at)| Some((id, from_db(revoked_at?))))
            .filter(|(_, revoked_at)| *revoked_at >= since)
            .collect())
    }

    async fn list_active_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        idle_ttl: Duration,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let idle_since = now.saturating_sub(idle_ttl);
        // Sessions whose user row is gone (deleted with foreign keys off) are not active: a
        // refresh of one finds no session.
        let owner = sea_orm::sea_query::Query::select()
            .expr(Expr::val(1))
            .from(users::Entity)
            .and_where(Expr::col((users::Entity, users::Column::Id)).eq(user_id))
            .to_owned();
        let query = sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(Expr::exists(owner));
        // Coarse bounds in SQL that keep every active session (SQLite: exact to the second, as
        // text; PostgreSQL: microseconds), refined exactly below.
        let query = match self.backend {
            Backend::Postgres => query
                .filter(sessions::Column::AbsoluteExpiresAt.gte(now))
                .filter(sessions::Column::LastUsedAt.gte(idle_since)),
            Backend::Sqlite => query
                .filter(Expr::col(sessions::Column::AbsoluteExpiresAt).gte(sqlite_second_prefix(now)))
                .filter(Expr::col(sessions::Column::LastUsedAt).gte(sqlite_second_prefix(idle_since))),
        };
        let mut active = query
            .all(&self.db)
            .await
            .map_err(db_error("list active sessions"))?
            .into_iter()
            .map(SessionRecord::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        active.retain(|session| {
            // The port's definition: idle `last_used_at + idle_ttl > now`, absolute
            // `absolute_expires_at > now`.
            session.last_used_at.saturating_add(idle_ttl) > now && session.absolute_expires_at > now
        });
        // Sorted here: SQLite orders stored times as text, exact only to the second.
        active.sort_by(|a, b| b.last_used_at.cmp(&a.last_used_at).then_with(|| b.id.cmp(&a.id)));
        Ok(active)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        reason: RevocationReason,
        at: OffsetDateTime,
        meta: &RequestMeta,
        event_kind: EventKind,
        event_session: Option<Uuid>,
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let (_writer, txn) = self.begin_write().await?;
        if !self.user_exists(&txn, user_id).await? {
            txn.rollback().await.map_err(db_error("end revoke user sessions"))?;
            return Ok(None);
        }
        let revoked = revoke_sessions_of_user(&txn, self.backend, user_id, None, reason, at).await?;
        let event = SecurityEvent::new(user_id, event_kind, at, meta, event_session);
        insert_event(&txn, event).await?;
        txn.commit().await.map_err(db_error("commit revoke user sessions"))?;
        Ok(Some(revoked))
    }
}

/// Revokes, inside `txn`, every unrevoked session of `user_id` except `keep`, and returns the ids
/// it revoked (sorted). The update is conditional on `revoked_at IS NULL`, so a session revoked
/// concurrently (say, a replay detected by a refresh) keeps its first revocation and is not
/// reported again.
///
/// - PostgreSQL: one `UPDATE … RETURNING id`: the rows it reports are exactly the rows it changed
///   (a row locked by a concurrent refresh is waited for and its condition re-checked).
/// - SQLite: the ids are selected first, then the same conditional update runs; `txn` began
///   `IMMEDIATE`, so no other writer can come between the two statements.
pub(crate) async fn revoke_sessions_of_user(
    txn: &DatabaseTransaction,
    backend: Backend,
    user_id: Uuid,
    keep: Option<Uuid>,
    reason: RevocationReason,
    at: OffsetDateTime,
) -> Result<Vec<Uuid>, StoreError> {
    let mut condition = sea_orm::Condition::all()
        .add(sessions::Column::UserId.eq(user_id))
        .add(sessions::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        condition = condition.add(sessions::Column::Id.ne(keep));
    }
    let update = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(Some(to_db(at))))
        .col_expr(sessions::Column::RevokedReason, Expr::value(Some(reason.as_str())))
        .filter(condition.clone());
    let mut revoked = match backend {
        Backend::Postgres => update
            .exec_with_returning(txn)
            .await
            .map_err(db_error("revoke user sessions"))?
            .into_iter()
            .map(|model| model.id)
            .collect::<Vec<_>>(),
        Backend::Sqlite => {
            let ids = sessions::Entity::find()
                .filter(condition)
                .select_only()
                .column(sessions::Column::Id)
                .into_tuple::<Uuid>()
                .all(txn)
                .await
                .map_err(db_error("find user sessions to revoke"))?;
            let result = update.exec(txn).await.map_err(db_error("revoke user sessions"))?;
            if result.rows_affected != ids.len() as u64 {
                return Err(StoreError::Backend(format!(
                    "revoke user sessions: expected to revoke {} sessions, revoked {}",
                    ids.len(),
                    result.rows_affected
                )));
            }
            ids
        }
    };
    revoked.sort_unstable();
    Ok(revoked)
}

/// Marks a locked, active session revoked and updates `session` to match.
async fn revoke_locked(
    txn: &DatabaseTransaction,
    session: &mut SessionRecord,
    reason: RevocationReason,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    session.revoked_at = Some(to_db(now));
    session.revoked_reason = Some(reason);
    let changes = sessions::ActiveModel {
        revoked_at: Set(session.revoked_at),
        revoked_reason: Set(Some(reason.as_str().to_owned())),
        ..Default::default()
    };
    update_session(txn, session.id, changes, "revoke replayed session").await
}

impl SeaStore {
    /// The rest of [`create_session`](SessionRepository::create_session) inside `txn` (a write
    /// transaction the caller began, and may have written in already): inserts the session and
    /// its event and commits, or rolls back with `AccountDisabled`.
    pub(crate) async fn insert_session_in(
        &self,
        txn: sea_orm::DatabaseTransaction,
        session: NewSession,
        login_event: SecurityEvent,
    ) -> Result<(), StoreError> {
        let user_id = session.user_id;
        let model = new_session_model(session)?;
        // The owner's row is share-locked (PostgreSQL; SQLite's write transaction already excludes
        // writers): a disable committing first is seen here and refused, and one committing after
        // finds this session and revokes it. Either way no session outlives a disable.
        let mut owner = users::Entity::find_by_id(user_id);
        if self.backend == Backend::Postgres {
            owner = owner.lock(sea_orm::sea_query::LockType::Share);
        }
        let owner = unique_row(owner, &txn).await.map_err(db_error("lock session owner"))?;
        if owner.is_none_or(|owner| owner.disabled) {
            txn.rollback().await.map_err(db_error("end session insert"))?;
            return Err(StoreError::AccountDisabled);
        }
        sessions::Entity::insert(model)
            .exec_without_returning(&txn)
            .await
            .map_err(db_error("insert session"))?;
        insert_event(&txn, login_event).await?;
        txn.commit().await.map_err(db_error("commit session"))
    }
}
