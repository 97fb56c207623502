//! Tessera's database schema as ordered sea-orm migrations.
//!
//! Rules for this crate:
//! - one file per change, named `mYYYYMMDD_NNNNNN_verb_noun.rs`, appended to [`Migrator`]'s list
//!   and never edited once released (later changes are new migrations);
//! - migrations never import the store's entities: each names the tables and columns it touches
//!   with its own identifiers, so it keeps describing the schema as it was when written;
//! - every constraint and index is named (`uq-<table>-<column>`, `fk-<table>-<column>`,
//!   `idx-<table>-<columns>`), so later migrations can drop or replace it by name;
//! - the same migrations run on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_users;
mod m20261123_000002_create_sessions;
mod m20261123_000003_create_signing_keys;
mod m20261123_000004_create_security_events;
mod m20261123_000005_create_login_throttle;
mod m20261202_000006_add_users_email_skeleton;
mod m20261202_000007_create_mail_queue;
mod m20261202_000008_create_second_factors;
mod m20261202_000010_create_mail_tokens;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(m20261123_000002_create_sessions::Migration),
            Box::new(m20261123_000003_create_signing_keys::Migration),
            Box::new(m20261123_000004_create_security_events::Migration),
            Box::new(m20261123_000005_create_login_throttle::Migration),
            Box::new(m20261202_000006_add_users_email_skeleton::Migration),
            Box::new(m20261202_000007_create_mail_queue::Migration),
            Box::new(m20261202_000008_create_second_factors::Migration),
            Box::new(m20261202_000010_create_mail_tokens::Migration),
        ]
    }
}
