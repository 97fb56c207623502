//! sea-orm entities: plain, generated-style models of the tables that `tessera-migrations`
//! creates (the migrations, not these, are the schema). No behaviour lives here; conversion to
//! and from the domain types is in the sibling repository modules, one place per table.
//!
//! Entities never derive `Serialize`: they hold password hashes, token hashes and sealed keys,
//! and never go on the wire.
//!
//! Timestamps are UTC, truncated to microseconds (PostgreSQL's precision) on write. On SQLite
//! they are stored as RFC 3339 text with a variable number of fractional digits, so SQL
//! comparisons and `ORDER BY` on them are only exact to the second there: compare precisely in
//! Rust, or order by the time-ordered (v7) ids.

pub mod ceremonies;
pub mod login_throttle;
pub mod mail_queue;
pub mod mail_tokens;
pub mod mfa_challenges;
pub mod passkeys;
pub mod recovery_codes;
pub mod security_events;
pub mod sessions;
pub mod signing_keys;
pub mod totp_secrets;
pub mod users;

pub mod prelude {
    pub use super::ceremonies::Entity as Ceremonies;
    pub use super::login_throttle::Entity as LoginThrottle;
    pub use super::mail_queue::Entity as MailQueue;
    pub use super::mail_tokens::Entity as MailTokens;
    pub use super::mfa_challenges::Entity as MfaChallenges;
    pub use super::passkeys::Entity as Passkeys;
    pub use super::recovery_codes::Entity as RecoveryCodes;
    pub use super::security_events::Entity as SecurityEvents;
    pub use super::sessions::Entity as Sessions;
    pub use super::signing_keys::Entity as SigningKeys;
    pub use super::totp_secrets::Entity as TotpSecrets;
    pub use super::users::Entity as Users;
}
