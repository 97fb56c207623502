//! `LoginThrottleRepository` on the `login_throttle` table.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, EntityTrait};
use tessera_auth_core::ports::{LoginThrottleRepository, StoreError};
use time::OffsetDateTime;

use crate::entity::login_throttle;
use crate::error::{corrupt, db_error};
use crate::time_value::{from_db, to_db};
use crate::{SeaStore, unique_row};

#[async_trait]
impl LoginThrottleRepository for SeaStore {
    async fn login_failures(&self, key: &[u8; 32]) -> Result<Option<(u32, OffsetDateTime)>, StoreError> {
        let row = unique_row(login_throttle::Entity::find_by_id(key.to_vec()), &self.db)
            .await
            .map_err(db_error("read login failures"))?;
        row.map(|row| {
            let failures =
                u32::try_from(row.failures).map_err(|_| corrupt("login_throttle", "failures", "negative count"))?;
            Ok((failures, from_db(row.last_failure_at)))
        })
        .transpose()
    }

    /// One upsert, so concurrent failures on several instances are all counted.
    async fn record_login_failure(&self, key: &[u8; 32], at: OffsetDateTime) -> Result<(), StoreError> {
        let row = login_throttle::ActiveModel {
            key: Set(key.to_vec()),
            failures: Set(1),
            last_failure_at: Set(to_db(at)),
        };
        let _writer = self.write_permit().await;
        login_throttle::Entity::insert(row)
            .on_conflict(
                OnConflict::column(login_throttle::Column::Key)
                    .value(
                        login_throttle::Column::Failures,
                        Expr::col((login_throttle::Entity, login_throttle::Column::Failures)).add(1),
                    )
                    .update_column(login_throttle::Column::LastFailureAt)
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error("record login failure"))?;
        Ok(())
    }

    async fn clear_login_failures(&self, key: &[u8; 32]) -> Result<(), StoreError> {
        let _writer = self.write_permit().await;
        login_throttle::Entity::delete_by_id(key.to_vec())
            .exec(&self.db)
            .await
            .map_err(db_error("clear login failures"))?;
        Ok(())
    }
}
