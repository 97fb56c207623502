//! The body of GET /api/me/export: the caller's public data, in the shapes the other endpoints
//! use (user, sessions, security events, passkeys, second factors). Nothing secret is in it: no
//! password hash, TOTP secret, recovery code, token or hash of one, credential or sealed bytes.

use poem_openapi::Object;
use tessera_auth_core::account::{MfaStatus, PasskeySummary};
use tessera_auth_core::service::AccountExport;
use time::OffsetDateTime;
use uuid::Uuid;

use super::me::SecurityEventView;
use super::sessions::SessionInfo;
use super::views::UserView;

/// A registered passkey (no credential id or public key).
#[derive(Debug, Object)]
#[oai(rename = "PasskeySummary")]
pub struct PasskeySummaryView {
    pub id: Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
    #[oai(skip_serializing_if_is_none)]
    pub last_used_at: Option<OffsetDateTime>,
    /// The authenticator may sync this credential to other devices.
    pub backup_eligible: bool,
    /// The credential is synced (backed up) now.
    pub backup_state: bool,
}

impl From<PasskeySummary> for PasskeySummaryView {
    fn from(passkey: PasskeySummary) -> PasskeySummaryView {
        PasskeySummaryView {
            id: passkey.id,
            name: passkey.name,
            created_at: passkey.created_at,
            last_used_at: passkey.last_used_at,
            backup_eligible: passkey.backup_eligible,
            backup_state: passkey.backup_state,
        }
    }
}

/// Which second factors the account has.
#[derive(Debug, Object)]
#[oai(rename = "MfaStatus")]
pub struct MfaStatusView {
    pub totp: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
    pub passkeys: u32,
}

impl From<MfaStatus> for MfaStatusView {
    fn from(status: MfaStatus) -> MfaStatusView {
        MfaStatusView {
            totp: status.totp,
            recovery_codes_left: status.recovery_codes_left,
            passkeys: status.passkeys,
        }
    }
}

/// Everything Tessera holds about the caller that can be shown.
#[derive(Debug, Object)]
#[oai(rename = "AccountExport")]
pub struct AccountExportView {
    pub user: UserView,
    /// Live sessions, most recently used first (as GET /api/sessions lists them).
    pub sessions: Vec<SessionInfo>,
    /// Every security event of the account, newest first.
    pub events: Vec<SecurityEventView>,
    pub passkeys: Vec<PasskeySummaryView>,
    pub mfa: MfaStatusView,
}

impl From<AccountExport> for AccountExportView {
    fn from(export: AccountExport) -> AccountExportView {
        AccountExportView {
            user: UserView::from(&export.user),
            sessions: export.sessions.into_iter().map(SessionInfo::from).collect(),
            events: export.events.into_iter().map(SecurityEventView::from).collect(),
            passkeys: export.passkeys.into_iter().map(PasskeySummaryView::from).collect(),
            mfa: export.mfa.into(),
        }
    }
}

/// `tessera-export-<date>.json`, the date (UTC) of the export.
pub fn export_file_name(at: OffsetDateTime) -> String {
    let date = at.to_offset(time::UtcOffset::UTC).date();
    format!(
        "tessera-export-{:04}-{:02}-{:02}.json",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_file_is_named_by_the_utc_date() {
        assert_eq!(
            export_file_name(datetime!(2026-12-02 23:30 -02:00)),
            "tessera-export-2026-12-03.json"
        );
        assert_eq!(
            export_file_name(datetime!(2031-01-09 00:00 UTC)),
            "tessera-export-2031-01-09.json"
        );
    }
}
