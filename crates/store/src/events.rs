//! `EventRepository` on the `security_events` table.

use async_trait::async_trait;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tessera_auth_core::events::{EventKind, SecurityEvent};
use tessera_auth_core::ports::{EventRepository, StoreError};
use uuid::Uuid;

use crate::SeaStore;
use crate::entity::security_events;
use crate::error::{corrupt, db_error};
use crate::time_value::{from_db, to_db};

// --- conversion (the one place `security_events` rows and domain events meet) ---

pub(crate) fn event_model(event: SecurityEvent) -> security_events::ActiveModel {
    security_events::ActiveModel {
        id: Set(event.id),
        user_id: Set(Some(event.user_id)),
        account_id: Set(None),
        kind: Set(event.kind.as_str().to_owned()),
        at: Set(to_db(event.at)),
        ip: Set(event.ip),
        user_agent: Set(event.user_agent),
        session_id: Set(event.session_id),
    }
}

/// For readers of the table (e.g. the api's event list).
impl TryFrom<security_events::Model> for SecurityEvent {
    type Error = StoreError;

    fn try_from(model: security_events::Model) -> Result<SecurityEvent, StoreError> {
        let kind =
            EventKind::parse(&model.kind).ok_or_else(|| corrupt("security_events", "kind", "unknown event kind"))?;
        let user_id = model.user_id.ok_or_else(|| {
            corrupt(
                "security_events",
                "user_id",
                "a deleted account's record read as an event",
            )
        })?;
        Ok(SecurityEvent {
            id: model.id,
            user_id,
            kind,
            at: from_db(model.at),
            ip: model.ip,
            user_agent: model.user_agent,
            session_id: model.session_id,
        })
    }
}

/// Inserts one event on `conn` (the pool, or the transaction of the change it records).
pub(crate) async fn insert_event<C: ConnectionTrait>(conn: &C, event: SecurityEvent) -> Result<(), StoreError> {
    security_events::Entity::insert(event_model(event))
        .exec_without_returning(conn)
        .await
        .map_err(db_error("insert security event"))?;
    Ok(())
}

// --- repository ---

#[async_trait]
impl EventRepository for SeaStore {
    async fn record_event(&self, event: SecurityEvent) -> Result<(), StoreError> {
        let _writer = self.write_permit().await;
        insert_event(&self.db, event).await
    }

    /// Keyset pagination on the primary key: `WHERE user_id = ? AND id < before ORDER BY id DESC
    /// LIMIT limit`.
    async fn list_events(
        &self,
        user_id: Uuid,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<SecurityEvent>, StoreError> {
        let mut query = security_events::Entity::find().filter(security_events::Column::UserId.eq(user_id));
        if let Some(before) = before {
            query = query.filter(security_events::Column::Id.lt(before));
        }
        query
            .order_by_desc(security_events::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error("list security events"))?
            .into_iter()
            .map(SecurityEvent::try_from)
            .collect()
    }
}
