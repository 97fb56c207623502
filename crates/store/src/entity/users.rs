//! `users` (generated-style entity; see `m20261123_000001_create_users` and
//! `m20261202_000006_add_users_email_skeleton`).

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    /// SHA-256 of the address's TR39 skeleton (`m20261202_000006_add_users_email_skeleton`);
    /// NULL for a row from before it whose skeleton another account holds.
    #[sea_orm(unique, column_type = "VarBinary(StringLen::None)", nullable)]
    pub email_skeleton_hash: Option<Vec<u8>>,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    /// `m20261202_000010_create_mail_tokens`.
    pub email_verified: bool,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

/// Written by hand so the password hash never reaches a log line.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::sessions::Entity")]
    Sessions,
    #[sea_orm(has_many = "super::security_events::Entity")]
    SecurityEvents,
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sessions.def()
    }
}

impl Related<super::security_events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SecurityEvents.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
