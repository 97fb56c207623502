//! The domain's error type. The api maps every variant to a problem response in one place.

use crate::ports::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown email, wrong password or disabled account: deliberately indistinguishable.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("email address already registered")]
    EmailTaken,
    /// Input that parsed but breaks a rule. `field` names the JSON field.
    #[error("{field}: {message}")]
    Validation { field: &'static str, message: String },
    /// No credential was presented.
    #[error("authentication required")]
    Unauthenticated,
    /// A credential was presented but is not valid (malformed, forged, unknown key...).
    #[error("invalid token")]
    InvalidToken,
    /// The access token expired: refresh and retry.
    #[error("access token expired")]
    TokenExpired,
    /// The session was revoked or ended.
    #[error("session has been revoked")]
    SessionRevoked,
    /// A stale refresh token was replayed; the session has been revoked.
    #[error("refresh token reuse detected; session revoked")]
    RefreshReused,
    #[error("forbidden")]
    Forbidden,
    /// Too many attempts; try again after this many seconds.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing or key failures: a server fault, never the client's.
    #[error("internal error: {0}")]
    Internal(String),
}
