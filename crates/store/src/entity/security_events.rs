//! `security_events` (generated-style entity; see `m20261123_000004_create_security_events`
//! and `m20261202_000011_keep_account_deletion_events`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "security_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The live account the event belongs to; NULL only on a deleted account's record.
    pub user_id: Option<Uuid>,
    /// The deleted account an `account_deleted` record names (no foreign key: it outlives the
    /// account); NULL on every other event. Exactly one of the two is set.
    pub account_id: Option<Uuid>,
    pub kind: String,
    pub at: TimeDateTimeWithTimeZone,
    pub ip: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub user_agent: Option<String>,
    pub session_id: Option<Uuid>,
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
