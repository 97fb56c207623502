//! `LoginThrottleRepository` on the `login_throttle` table.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter};
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

    /// No row yet: an insert that does nothing on conflict. A row: an update conditional on the
    /// count read. Either way one statement, so of two attempts that read the same count only
    /// one is counted; the other reads again.
    async fn claim_login_attempt(
        &self,
        key: &[u8; 32],
        seen: Option<u32>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let _writer = self.write_permit().await;
        let written = match seen {
            None => {
                let row = login_throttle::ActiveModel {
                    key: Set(key.to_vec()),
                    failures: Set(1),
                    last_failure_at: Set(to_db(at)),
                };
                let inserted = login_throttle::Entity::insert(row)
                    .on_conflict(OnConflict::column(login_throttle::Column::Key).do_nothing().to_owned())
                    .exec_without_returning(&self.db)
                    .await;
                match inserted {
                    Ok(rows) => rows,
                    Err(DbErr::RecordNotInserted) => 0,
                    Err(err) => return Err(db_error("claim login attempt")(err)),
                }
            }
            Some(failures) => {
                let next = i32::try_from(failures.saturating_add(1)).unwrap_or(i32::MAX);
                let seen = i32::try_from(failures).unwrap_or(i32::MAX);
                login_throttle::Entity::update_many()
                    .col_expr(login_throttle::Column::Failures, Expr::value(next))
                    .col_expr(login_throttle::Column::LastFailureAt, Expr::value(to_db(at)))
                    .filter(login_throttle::Column::Key.eq(key.to_vec()))
                    .filter(login_throttle::Column::Failures.eq(seen))
                    .exec(&self.db)
                    .await
                    .map_err(db_error("claim login attempt"))?
                    .rows_affected
            }
        };
        Ok(written == 1)
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
