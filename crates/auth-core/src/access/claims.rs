//! What an access token says: its claims, what the issuer needs to mint one, and why one was
//! refused.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::user::Role;

/// The claims of a Tessera access token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: Uuid,
    /// Session id.
    pub sid: Uuid,
    pub role: String,
    pub email: String,
    pub name: String,
    /// Whether `email` was verified when the token was issued (absent in tokens from before the
    /// claim: false).
    #[serde(default)]
    pub email_verified: bool,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

impl AccessClaims {
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }

    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// What the api needs to mint a token; the issuer fills iss/aud/iat/exp/jti.
#[derive(Debug, Clone)]
pub struct TokenSubject {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    #[error("access token is malformed")]
    Malformed,
    #[error("access token header is not acceptable")]
    BadHeader,
    #[error("access token names an unknown key")]
    UnknownKey,
    #[error("access token signature is invalid")]
    BadSignature,
    #[error("access token claims are not acceptable")]
    BadClaims,
    #[error("access token has expired")]
    Expired,
}
