//! `sessions` (generated-style entity; see `m20261123_000002_create_sessions` and
//! `m20261202_000009_add_sessions_auth_time`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub generation: i64,
    #[sea_orm(column_type = "Binary(32)")]
    pub current_hash: Vec<u8>,
    #[sea_orm(column_type = "Binary(32)", nullable)]
    pub previous_hash: Option<Vec<u8>>,
    pub rotated_at: Option<TimeDateTimeWithTimeZone>,
    pub delivery: String,
    pub created_at: TimeDateTimeWithTimeZone,
    pub last_used_at: TimeDateTimeWithTimeZone,
    pub absolute_expires_at: TimeDateTimeWithTimeZone,
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
    pub revoked_reason: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub auth_time: TimeDateTimeWithTimeZone,
    /// `AmrSet::to_storage`: values in canonical order, space-separated (`"pwd otp mfa"`).
    #[sea_orm(column_type = "Text")]
    pub amr: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
