//! What an access token says: its claims, what the issuer needs to mint one, and why one was
//! refused.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::mfa::policy::AmrSet;
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
    /// When the user last proved a credential in this session (Unix seconds): the login, or the
    /// last re-authentication. Copied from the session by every refresh.
    pub auth_time: i64,
    /// How they proved it: RFC 8176 values in canonical order (`AmrSet::to_claim`).
    pub amr: Vec<String>,
}

impl AccessClaims {
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }

    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `auth_time` as an instant (the epoch for a value out of range, which verification refuses).
    pub fn authenticated_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.auth_time).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The `amr` claim as a set; `None` when it is not exactly what this server mints (unknown
    /// values, repeats, another order, or empty), which verification refuses.
    pub fn amr_set(&self) -> Option<AmrSet> {
        let set = AmrSet::parse(self.amr.iter().map(String::as_str))?;
        (!set.is_empty() && set.to_claim() == self.amr).then_some(set)
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
    /// The session's `auth_time` and `amr`.
    pub authentication: Authentication,
}

/// When and how the user of a session last proved a credential (the session row's `auth_time`
/// and `amr`, the token's claims of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authentication {
    pub auth_time: OffsetDateTime,
    pub amr: AmrSet,
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
