//! Leaving Tessera and taking one's data along (DESIGN.md part 2, DELETE /api/me and GET
//! /api/me/export): the record an account's deletion leaves behind, and the public views of
//! second factors that an export contains.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::events::RequestMeta;

/// The `account_deleted` event: the one record of an account kept after it is deleted, for
/// administrators. It names the account by id only (no address, no name), with when, from where
/// (IP, user agent) and by which of the account's sessions it was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDeletion {
    /// The event's id (UUIDv7: id order is time order).
    pub event_id: Uuid,
    /// The deleted account's id.
    pub account_id: Uuid,
    pub at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session the deletion was requested with.
    pub session_id: Option<Uuid>,
}

impl AccountDeletion {
    pub fn new(account_id: Uuid, at: OffsetDateTime, meta: &RequestMeta, session_id: Option<Uuid>) -> AccountDeletion {
        AccountDeletion {
            event_id: Uuid::now_v7(),
            account_id,
            at,
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            session_id,
        }
    }
}

/// A registered passkey as its owner sees it: no credential id, public key or counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySummary {
    pub id: Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    /// The authenticator may sync the credential (a synced passkey).
    pub backup_eligible: bool,
    /// The credential is backed up (synced) now.
    pub backup_state: bool,
}

/// Which second factors an account has (the shape of GET /api/me/mfa).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
    pub passkeys: u32,
}
