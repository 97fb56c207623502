//! Cross-instance notices: PostgreSQL `LISTEN`/`NOTIFY` on the channel `tessera_events`.
//!
//! Instances sharing one PostgreSQL tell each other about revocations and key rotations so that
//! each can update its in-memory state at once (DESIGN.md, "Instant revocation without a database
//! read"). Notifications are best effort: one sent while a listener is disconnected is lost, so
//! the listening side runs a periodic catch-up poll, and runs one at once whenever its listener
//! reports the connection lost.
//!
//! On SQLite there is a single instance and the service updates its own state in-process:
//! [`SeaStore::notify`] does nothing and [`SeaStore::listen`] returns `None`.
//!
//! Payloads are short texts: `revoked:<session uuid>` and `keys`.

use async_trait::async_trait;
use sea_orm::sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sea_orm::{ConnectionTrait, DatabaseConnectionType, DbBackend, Statement};
use tessera_auth_core::ports::{RevocationPublisher, StoreError};
use tessera_auth_core::revocation::Revocation;
use uuid::Uuid;

use crate::error::db_error;
use crate::{ACQUIRE_TIMEOUT, SeaStore};

/// The PostgreSQL notification channel.
pub const NOTICE_CHANNEL: &str = "tessera_events";

/// `application_name` of every listener connection, to find it in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "tessera-listener";

const REVOKED_PREFIX: &str = "revoked:";
const KEYS_PAYLOAD: &str = "keys";

/// What one instance tells the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The session was revoked: refuse access tokens carrying its `sid`.
    SessionRevoked(Uuid),
    /// The signing keys changed (`tessera keys rotate`): reload them.
    KeysChanged,
}

impl Notice {
    fn payload(&self) -> String {
        match self {
            Notice::SessionRevoked(session_id) => format!("{REVOKED_PREFIX}{session_id}"),
            Notice::KeysChanged => KEYS_PAYLOAD.to_owned(),
        }
    }

    /// `None` for anything this version does not understand (a newer instance may send more).
    fn parse(payload: &str) -> Option<Notice> {
        if payload == KEYS_PAYLOAD {
            return Some(Notice::KeysChanged);
        }
        let session_id = payload.strip_prefix(REVOKED_PREFIX)?;
        Uuid::try_parse(session_id).ok().map(Notice::SessionRevoked)
    }
}

impl SeaStore {
    /// Tells every listening instance (including this one's own listener) about `notice`.
    ///
    /// PostgreSQL: `SELECT pg_notify('tessera_events', payload)` on a pool connection, outside
    /// any transaction, so call it after the change it announces has committed. SQLite: does
    /// nothing (a single instance; in-process updates suffice).
    pub async fn notify(&self, notice: &Notice) -> Result<(), StoreError> {
        if self.postgres_pool().is_none() {
            return Ok(());
        }
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [NOTICE_CHANNEL.into(), notice.payload().into()],
            ))
            .await
            .map_err(db_error("notify"))?;
        Ok(())
    }

    /// Starts listening for notices on a dedicated connection (outside the pool, with
    /// `application_name = 'tessera-listener'`). `None` on SQLite.
    ///
    /// Once `LISTEN` has returned, every notice sent afterwards is delivered until the
    /// connection is lost, which [`NoticeListener::recv`] reports as an error. Notices sent
    /// before this call, or while no listener was connected, are never delivered: after
    /// (re)listening, run the catch-up poll.
    pub async fn listen(&self) -> Result<Option<NoticeListener>, StoreError> {
        let Some(pool) = self.postgres_pool() else {
            return Ok(None);
        };
        let options = (*pool.connect_options())
            .clone()
            .application_name(LISTENER_APPLICATION_NAME);
        // A pool of one that never retires its connection by age or idleness: the listener
        // holds it for as long as it lives.
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|err| StoreError::Backend(format!("listen: connect: {err}")))?;
        let mut listener = PgListener::connect_with(&listener_pool)
            .await
            .map_err(|err| StoreError::Backend(format!("listen: {err}")))?;
        // A lost connection must surface (see `recv`), not be replaced behind the caller's back.
        listener.eager_reconnect(false);
        listener
            .listen(NOTICE_CHANNEL)
            .await
            .map_err(|err| StoreError::Backend(format!("listen: LISTEN: {err}")))?;
        Ok(Some(NoticeListener { listener, lost: false }))
    }

    /// The sqlx pool when the backend is PostgreSQL.
    fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.db.inner {
            // Cannot panic: the match has just established that this is a PostgreSQL pool.
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => Some(self.db.get_postgres_connection_pool()),
            _ => None,
        }
    }
}

/// A dedicated PostgreSQL connection listening on `tessera_events`, from [`SeaStore::listen`].
///
/// It never reconnects by itself: sqlx's `PgListener` would silently reconnect and drop whatever
/// was sent in between, hiding exactly the gap a catch-up poll has to cover. Instead, once the
/// connection is lost, [`recv`](NoticeListener::recv) returns an error (and keeps doing so); the
/// caller runs its catch-up poll and calls [`SeaStore::listen`] again (with a back-off when that
/// fails too).
pub struct NoticeListener {
    listener: PgListener,
    lost: bool,
}

impl std::fmt::Debug for NoticeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeListener")
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

impl NoticeListener {
    /// Waits for the next notice. Payloads it does not understand are skipped.
    ///
    /// `Err` when the connection is lost (terminated backend, server restart, network failure);
    /// from then on every call returns `Err` at once: drop this listener and listen again.
    ///
    /// Cancel-safe (as sqlx's receive is): it can be raced against a timer or a shutdown
    /// signal in `tokio::select!` without losing a notice already received.
    pub async fn recv(&mut self) -> Result<Notice, StoreError> {
        if self.lost {
            return Err(StoreError::Backend(
                "notice listener: connection lost earlier; listen again".to_owned(),
            ));
        }
        loop {
            match self.listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some(notice) = Notice::parse(notification.payload()) {
                        return Ok(notice);
                    }
                }
                Ok(None) => {
                    self.lost = true;
                    return Err(StoreError::Backend("notice listener: connection lost".to_owned()));
                }
                Err(err) => {
                    self.lost = true;
                    return Err(StoreError::Backend(format!("notice listener: {err}")));
                }
            }
        }
    }
}

/// Fans revocations out to the other instances through [`SeaStore::notify`].
#[async_trait]
impl RevocationPublisher for SeaStore {
    /// A failed notification is logged, never raised: the revocation is already committed and
    /// every instance's catch-up poll (`sessions_revoked_since`) picks it up.
    ///
    /// `UserTokensBefore` publishes nothing: the service revokes account-wide changes session by
    /// session and publishes each `Session`, and the store keeps no per-user cut-off that a
    /// catch-up poll could read back, so a notice for it would be one that a missed notification
    /// could never heal.
    async fn publish(&self, revocation: &Revocation) {
        let notice = match *revocation {
            Revocation::Session { session_id, .. } => Notice::SessionRevoked(session_id),
            Revocation::UserTokensBefore { .. } => return,
        };
        if let Err(err) = self.notify(&notice).await {
            tracing::warn!(error = %err, ?notice, "cannot notify other instances; their catch-up poll will");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let session = Uuid::now_v7();
        for notice in [Notice::SessionRevoked(session), Notice::KeysChanged] {
            assert_eq!(Notice::parse(&notice.payload()), Some(notice));
        }
        assert_eq!(Notice::SessionRevoked(session).payload(), format!("revoked:{session}"));
        assert_eq!(Notice::KeysChanged.payload(), "keys");
    }

    #[test]
    fn unknown_payloads_are_none() {
        for payload in [
            "",
            "key",
            "keys ",
            "revoked:",
            "revoked:not-a-uuid",
            "users:123",
            "KEYS",
        ] {
            assert_eq!(Notice::parse(payload), None, "{payload:?}");
        }
    }
}
