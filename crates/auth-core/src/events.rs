//! Security events: the audit trail a user sees at GET /api/me/events.

use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Registration: the account was created and its first session started.
    AccountCreated,
    LoginSucceeded,
    LoginFailed,
    Logout,
    SessionRevoked,
    AllSessionsRevoked,
    RefreshReuseDetected,
    PasswordChanged,
    UserDisabled,
    /// The session proved a credential again (POST /api/auth/reauth).
    Reauthenticated,
    /// A reset link was mailed (recorded only when the account exists; the answer does not say).
    PasswordResetRequested,
    /// The password was set through a reset link.
    PasswordReset,
    EmailVerified,
    EmailChanged,
    /// The account was deleted by its owner. The one event kept after the account is gone, for
    /// administrators only (no user's list can show it: its account no longer exists).
    AccountDeleted,
    /// TOTP was confirmed (with a first set of recovery codes).
    MfaEnabled,
    /// TOTP was disabled by the user, or every second factor removed by an administrator.
    MfaDisabled,
    /// A wrong second factor at POST /api/auth/mfa or /api/auth/reauth.
    MfaFailed,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    /// A passkey was registered to the account.
    PasskeyAdded,
    /// A passkey was deleted from the account.
    PasskeyRemoved,
}

impl EventKind {
    pub const ALL: [EventKind; 22] = [
        EventKind::AccountCreated,
        EventKind::LoginSucceeded,
        EventKind::LoginFailed,
        EventKind::Logout,
        EventKind::SessionRevoked,
        EventKind::AllSessionsRevoked,
        EventKind::RefreshReuseDetected,
        EventKind::PasswordChanged,
        EventKind::UserDisabled,
        EventKind::Reauthenticated,
        EventKind::PasswordResetRequested,
        EventKind::PasswordReset,
        EventKind::EmailVerified,
        EventKind::EmailChanged,
        EventKind::AccountDeleted,
        EventKind::MfaEnabled,
        EventKind::MfaDisabled,
        EventKind::MfaFailed,
        EventKind::RecoveryCodeUsed,
        EventKind::RecoveryCodesRegenerated,
        EventKind::PasskeyAdded,
        EventKind::PasskeyRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AccountCreated => "account_created",
            EventKind::LoginSucceeded => "login_succeeded",
            EventKind::LoginFailed => "login_failed",
            EventKind::Logout => "logout",
            EventKind::SessionRevoked => "session_revoked",
            EventKind::AllSessionsRevoked => "all_sessions_revoked",
            EventKind::RefreshReuseDetected => "refresh_reuse_detected",
            EventKind::PasswordChanged => "password_changed",
            EventKind::UserDisabled => "user_disabled",
            EventKind::Reauthenticated => "reauthenticated",
            EventKind::PasswordResetRequested => "password_reset_requested",
            EventKind::PasswordReset => "password_reset",
            EventKind::EmailVerified => "email_verified",
            EventKind::EmailChanged => "email_changed",
            EventKind::AccountDeleted => "account_deleted",
            EventKind::MfaEnabled => "mfa_enabled",
            EventKind::MfaDisabled => "mfa_disabled",
            EventKind::MfaFailed => "mfa_failed",
            EventKind::RecoveryCodeUsed => "recovery_code_used",
            EventKind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            EventKind::PasskeyAdded => "passkey_added",
            EventKind::PasskeyRemoved => "passkey_removed",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Where a request came from, as far as the server can tell. Recorded on sessions and events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: EventKind,
    pub at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<Uuid>,
}

impl SecurityEvent {
    pub fn new(
        user_id: Uuid,
        kind: EventKind,
        at: OffsetDateTime,
        meta: &RequestMeta,
        session_id: Option<Uuid>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            user_id,
            kind,
            at,
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            session_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
