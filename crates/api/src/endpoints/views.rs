//! Boundary types shared by several endpoints. Database entities never go on the wire; these are
//! built from domain values.

use poem_openapi::{Enum, Object};
use tessera_auth_core::mfa::policy::{MfaMethod, ReauthMethod};
use tessera_auth_core::service::{IssuedTokens, Reauthenticated};
use tessera_auth_core::user::{Role, User};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RoleView {
    User,
    Admin,
}

impl From<Role> for RoleView {
    fn from(role: Role) -> RoleView {
        match role {
            Role::User => RoleView::User,
            Role::Admin => RoleView::Admin,
        }
    }
}

/// A second factor that completes a login that answered 202.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "MfaMethod", rename_all = "snake_case")]
pub enum MfaMethodView {
    Totp,
    RecoveryCode,
    Passkey,
}

impl From<MfaMethod> for MfaMethodView {
    fn from(method: MfaMethod) -> MfaMethodView {
        match method {
            MfaMethod::Totp => MfaMethodView::Totp,
            MfaMethod::RecoveryCode => MfaMethodView::RecoveryCode,
            MfaMethod::Passkey => MfaMethodView::Passkey,
        }
    }
}

/// A credential POST /api/auth/reauth takes (`password`, `totp_code` or a passkey's
/// `credential`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ReauthMethod", rename_all = "snake_case")]
pub enum ReauthMethodView {
    Password,
    Totp,
    Passkey,
}

impl From<ReauthMethod> for ReauthMethodView {
    fn from(method: ReauthMethod) -> ReauthMethodView {
        match method {
            ReauthMethod::Password => ReauthMethodView::Password,
            ReauthMethod::Totp => ReauthMethodView::Totp,
            ReauthMethod::Passkey => ReauthMethodView::Passkey,
        }
    }
}

/// A user account.
#[derive(Debug, Clone, Object)]
#[oai(rename = "User")]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: RoleView,
    /// The address was proved by a mailed link.
    pub email_verified: bool,
    pub created_at: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(user: &User) -> UserView {
        UserView {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.into(),
            email_verified: user.email_verified,
            created_at: user.created_at,
        }
    }
}

/// The session (refresh-token family) these tokens belong to.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Session")]
pub struct SessionView {
    pub id: Uuid,
    /// When the access token expires; refresh before then.
    pub access_expires_at: OffsetDateTime,
    /// When the session ends unless refreshed.
    pub refresh_expires_at: OffsetDateTime,
}

impl From<&IssuedTokens> for SessionView {
    fn from(tokens: &IssuedTokens) -> SessionView {
        SessionView {
            id: tokens.session_id,
            access_expires_at: tokens.access_expires_at,
            refresh_expires_at: tokens.refresh_expires_at,
        }
    }
}

/// How tokens are handed out (field `token_delivery` of login and register; no doc comment on
/// those fields, so the spec keeps a plain `$ref` that every client generator understands).
/// `cookie` (the default) for browsers: tokens only ever travel in
/// HttpOnly cookies. `body` for clients outside a browser: tokens are returned in response bodies
/// and sent back as `Authorization: Bearer` and `{"refresh_token": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum)]
#[oai(rename_all = "lowercase")]
pub enum TokenDeliveryView {
    #[default]
    Cookie,
    Body,
}

impl From<TokenDeliveryView> for tessera_auth_core::session::TokenDelivery {
    fn from(view: TokenDeliveryView) -> Self {
        match view {
            TokenDeliveryView::Cookie => tessera_auth_core::session::TokenDelivery::Cookie,
            TokenDeliveryView::Body => tessera_auth_core::session::TokenDelivery::Body,
        }
    }
}

impl From<&Reauthenticated> for SessionView {
    fn from(reauthenticated: &Reauthenticated) -> SessionView {
        SessionView {
            id: reauthenticated.session_id,
            access_expires_at: reauthenticated.access_expires_at,
            refresh_expires_at: reauthenticated.refresh_expires_at,
        }
    }
}

pub fn unix_to_datetime(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
