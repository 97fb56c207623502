//! Sessions: one per login, each a refresh-token family.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::rotation::RotationState;

/// How the session's tokens travel. Fixed at login: a cookie session never sees a token in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenDelivery {
    Cookie,
    Body,
}

impl TokenDelivery {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenDelivery::Cookie => "cookie",
            TokenDelivery::Body => "body",
        }
    }

    pub fn parse(text: &str) -> Option<TokenDelivery> {
        match text {
            "cookie" => Some(TokenDelivery::Cookie),
            "body" => Some(TokenDelivery::Body),
            _ => None,
        }
    }
}

/// Why a session ended. Stored with `revoked_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    Logout,
    LogoutAll,
    RevokedByUser,
    PasswordChanged,
    RefreshReused,
    AdminRevoked,
    UserDisabled,
    /// The password was reset through a mailed link: every session ends.
    PasswordReset,
    /// The address was changed: every session but the one that asked ends.
    EmailChanged,
}

impl RevocationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Logout => "logout",
            RevocationReason::LogoutAll => "logout_all",
            RevocationReason::RevokedByUser => "revoked_by_user",
            RevocationReason::PasswordChanged => "password_changed",
            RevocationReason::RefreshReused => "refresh_reused",
            RevocationReason::AdminRevoked => "admin_revoked",
            RevocationReason::UserDisabled => "user_disabled",
            RevocationReason::PasswordReset => "password_reset",
            RevocationReason::EmailChanged => "email_changed",
        }
    }

    pub fn parse(text: &str) -> Option<RevocationReason> {
        [
            RevocationReason::Logout,
            RevocationReason::LogoutAll,
            RevocationReason::RevokedByUser,
            RevocationReason::PasswordChanged,
            RevocationReason::RefreshReused,
            RevocationReason::AdminRevoked,
            RevocationReason::UserDisabled,
            RevocationReason::PasswordReset,
            RevocationReason::EmailChanged,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == text)
    }
}

/// Lifetimes of sessions and the grace window for concurrent refreshes.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub access_ttl: Duration,
    pub idle_ttl: Duration,
    pub absolute_ttl: Duration,
    pub grace: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(10),
            idle_ttl: Duration::days(14),
            absolute_ttl: Duration::days(30),
            grace: Duration::seconds(10),
        }
    }
}

/// A session row as the domain needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub rotation: RotationState,
    pub delivery: TokenDelivery,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub absolute_expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_reason: Option<RevocationReason>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl SessionRecord {
    /// When the session ends if nobody refreshes it: the earlier of idle and absolute expiry.
    pub fn expires_at(&self, policy: &SessionPolicy) -> OffsetDateTime {
        self.last_used_at
            .saturating_add(policy.idle_ttl)
            .min(self.absolute_expires_at)
    }

    pub fn is_active(&self, policy: &SessionPolicy, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at(policy)
    }
}

/// What `SessionRepository::create_session` stores.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub rotation: RotationState,
    pub delivery: TokenDelivery,
    pub created_at: OffsetDateTime,
    pub absolute_expires_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}
