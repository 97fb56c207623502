//! `CeremonyRepository` on the `ceremonies` table (and the sweep of `mfa_challenges`, whose rows
//! expire the same way).

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use tessera_auth_core::mfa::ceremony::{Ceremony, CeremonyKey, CeremonyKind};
use tessera_auth_core::ports::{CeremonyRepository, StoreError};
use time::OffsetDateTime;

use crate::entity::{ceremonies, mfa_challenges};
use crate::error::{corrupt, db_error};
use crate::time_value::{from_db, sqlite_second_prefix, to_db};
use crate::{Backend, SeaStore};

// --- conversion (the one place `Ceremony` and `ceremonies` rows meet) ---

fn ceremony_model(ceremony: Ceremony) -> ceremonies::ActiveModel {
    ceremonies::ActiveModel {
        key: Set(ceremony.key.0.to_vec()),
        kind: Set(ceremony.kind.as_str().to_owned()),
        user_id: Set(ceremony.user_id),
        state: Set(ceremony.state),
        created_at: Set(to_db(ceremony.created_at)),
        expires_at: Set(to_db(ceremony.expires_at)),
    }
}

impl TryFrom<ceremonies::Model> for Ceremony {
    type Error = StoreError;

    fn try_from(model: ceremonies::Model) -> Result<Ceremony, StoreError> {
        let key =
            <[u8; 32]>::try_from(model.key.as_slice()).map_err(|_| corrupt("ceremonies", "key", "not 32 bytes"))?;
        let kind = CeremonyKind::parse(&model.kind).ok_or_else(|| corrupt("ceremonies", "kind", "unknown kind"))?;
        Ok(Ceremony {
            key: CeremonyKey(key),
            kind,
            user_id: model.user_id,
            state: model.state,
            created_at: from_db(model.created_at),
            expires_at: from_db(model.expires_at),
        })
    }
}

#[async_trait]
impl CeremonyRepository for SeaStore {
    /// An upsert: a TOTP enrolment started twice keeps one pending row, the newest.
    async fn put_ceremony(&self, ceremony: Ceremony) -> Result<(), StoreError> {
        let row = ceremony_model(ceremony);
        let _writer = self.write_permit().await;
        ceremonies::Entity::insert(row)
            .on_conflict(
                OnConflict::column(ceremonies::Column::Key)
                    .update_columns([
                        ceremonies::Column::Kind,
                        ceremonies::Column::UserId,
                        ceremonies::Column::State,
                        ceremonies::Column::CreatedAt,
                        ceremonies::Column::ExpiresAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error("store a ceremony"))?;
        Ok(())
    }

    /// `DELETE … RETURNING` (PostgreSQL; SQLite since 3.35): the row goes to whichever request
    /// deletes it, so a ceremony is finished at most once however many race for it.
    async fn take_ceremony(&self, key: &CeremonyKey) -> Result<Option<Ceremony>, StoreError> {
        let _writer = self.write_permit().await;
        let mut taken = ceremonies::Entity::delete_many()
            .filter(ceremonies::Column::Key.eq(key.0.to_vec()))
            .exec_with_returning(&self.db)
            .await
            .map_err(db_error("take a ceremony"))?;
        // The key is the primary key: at most one row.
        taken.pop().map(Ceremony::try_from).transpose()
    }

    async fn sweep_expired_ceremonies(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let _writer = self.write_permit().await;
        // SQLite compares the stored text, exact only to the second: sweep what expired before
        // the current second began, and leave the rest to the next sweep.
        let (ceremony_filter, challenge_filter) = match self.backend {
            Backend::Postgres => (
                ceremonies::Column::ExpiresAt.lt(to_db(now)),
                mfa_challenges::Column::ExpiresAt.lt(to_db(now)),
            ),
            Backend::Sqlite => (
                Expr::col(ceremonies::Column::ExpiresAt).lt(sqlite_second_prefix(now)),
                Expr::col(mfa_challenges::Column::ExpiresAt).lt(sqlite_second_prefix(now)),
            ),
        };
        let ceremonies = ceremonies::Entity::delete_many()
            .filter(ceremony_filter)
            .exec(&self.db)
            .await
            .map_err(db_error("sweep expired ceremonies"))?
            .rows_affected;
        let challenges = mfa_challenges::Entity::delete_many()
            .filter(challenge_filter)
            .exec(&self.db)
            .await
            .map_err(db_error("sweep expired MFA challenges"))?
            .rows_affected;
        Ok(ceremonies.saturating_add(challenges))
    }
}
