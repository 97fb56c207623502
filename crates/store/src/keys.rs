//! `KeyRepository` on the `signing_keys` table.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use tessera_auth_core::access::{SigningAlgorithm, StoredSigningKey};
use tessera_auth_core::ports::{KeyRepository, StoreError};

use crate::SeaStore;
use crate::entity::signing_keys;
use crate::error::{corrupt, db_error};
use crate::time_value::{from_db, to_db};

// --- conversion (the one place `signing_keys` rows and domain keys meet) ---

impl TryFrom<signing_keys::Model> for StoredSigningKey {
    type Error = StoreError;

    fn try_from(model: signing_keys::Model) -> Result<StoredSigningKey, StoreError> {
        let algorithm = SigningAlgorithm::parse(&model.algorithm)
            .ok_or_else(|| corrupt("signing_keys", "algorithm", "unknown algorithm"))?;
        Ok(StoredSigningKey {
            kid: model.kid,
            algorithm,
            public_key: model.public_key,
            sealed_private_key: model.sealed_private_key,
            created_at: from_db(model.created_at),
            retired_at: model.retired_at.map(from_db),
        })
    }
}

fn key_model(key: StoredSigningKey) -> signing_keys::ActiveModel {
    signing_keys::ActiveModel {
        kid: Set(key.kid),
        algorithm: Set(key.algorithm.as_str().to_owned()),
        public_key: Set(key.public_key),
        sealed_private_key: Set(key.sealed_private_key),
        created_at: Set(to_db(key.created_at)),
        retired_at: Set(key.retired_at.map(to_db)),
    }
}

// --- repository ---

#[async_trait]
impl KeyRepository for SeaStore {
    /// Oldest first (by `created_at`, then `kid`).
    async fn list_signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let mut keys = signing_keys::Entity::find()
            .all(&self.db)
            .await
            .map_err(db_error("list signing keys"))?
            .into_iter()
            .map(StoredSigningKey::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // Sorted here: SQLite compares stored times as text, exact only to the second.
        keys.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.kid.cmp(&b.kid)));
        Ok(keys)
    }

    async fn add_signing_key(&self, key: StoredSigningKey) -> Result<(), StoreError> {
        let kid = key.kid.clone();
        let retired_at = to_db(key.created_at);
        let (_writer, txn) = self.begin_write().await?;
        signing_keys::Entity::insert(key_model(key))
            .exec_without_returning(&txn)
            .await
            .map_err(db_error("insert signing key"))?;
        signing_keys::Entity::update_many()
            .col_expr(signing_keys::Column::RetiredAt, Expr::value(Some(retired_at)))
            .filter(signing_keys::Column::RetiredAt.is_null())
            .filter(signing_keys::Column::Kid.ne(kid))
            .exec(&txn)
            .await
            .map_err(db_error("retire signing keys"))?;
        txn.commit().await.map_err(db_error("commit signing key"))
    }
}
