//! The domain's error type. The api maps every variant to a problem response in one place.

use crate::mfa::ceremony::CeremonyError;
use crate::mfa::passkey::PasskeyError;
use crate::mfa::policy::ReauthMethod;
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
    /// The double-submit check of a cookie-authenticated unsafe request failed.
    #[error("CSRF check failed: {0}")]
    CsrfFailed(CsrfFailure),
    #[error("forbidden")]
    Forbidden,
    /// A sensitive operation, and the session's last proof of a credential is older than the
    /// re-authentication age: prove one again (POST /api/auth/reauth) with one of `methods`.
    #[error("re-authentication required")]
    ReauthRequired { methods: Vec<ReauthMethod> },
    /// Too many attempts; try again after this many seconds.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("not found")]
    NotFound,
    /// A mail token (reset, verification, confirmation) that is malformed, unknown, expired,
    /// used or for another purpose: one answer for all.
    #[error("the link is not valid (unknown, expired, already used or for something else)")]
    MailTokenInvalid,
    /// `TESSERA_REQUIRE_VERIFIED_EMAIL`: the password was right, but the address is not verified.
    #[error("the email address is not verified")]
    EmailUnverified,
    /// A verification was asked for an address that is verified already.
    #[error("the email address is already verified")]
    EmailAlreadyVerified,
    /// A wrong, malformed or replayed second factor, or an MFA challenge that is unknown, expired
    /// or used up: one answer for all (401 `mfa_failed`).
    #[error("the second factor was not accepted")]
    MfaFailed,
    /// A WebAuthn failure: `passkeys_unavailable` (409) or `webauthn_failed` (400 for a
    /// malformed credential, 401 for one that does not verify), see `docs/second-factors.md`.
    #[error(transparent)]
    Passkey(#[from] PasskeyError),
    /// The ceremony a WebAuthn response answers is unknown, finished, expired or someone
    /// else's: 400 `webauthn_failed` (start again).
    #[error(transparent)]
    Ceremony(#[from] CeremonyError),
    /// A device-bound passkey's signature counter did not increase: a possible clone. Refused
    /// (401 `webauthn_failed`) and logged with the passkey's id.
    #[error("the signature counter of passkey {passkey_id} did not increase")]
    PasskeyCounterRegressed { passkey_id: uuid::Uuid },
    /// One factor where the user needs two: a passkey login without user verification.
    #[error("a second factor is required")]
    MfaRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing or key failures: a server fault, never the client's.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a double-submit CSRF check failed (the detail a client sees; never a token value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfFailure {
    MissingHeader,
    MissingCookie,
    /// The header differs from the cookie, or the token was not issued for this session.
    Mismatch,
}

impl CsrfFailure {
    pub fn detail(self) -> &'static str {
        match self {
            CsrfFailure::MissingHeader => "missing X-CSRF-Token header",
            CsrfFailure::MissingCookie => "missing CSRF cookie",
            CsrfFailure::Mismatch => "X-CSRF-Token does not match this session",
        }
    }
}

impl std::fmt::Display for CsrfFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.detail())
    }
}

/// Which credential a request presented when it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// An access token (Bearer or cookie), or a request whose credential is not known.
    Access,
    /// A refresh token.
    Refresh,
}

impl AuthError {
    /// Whether this failure means the client's session is over, so a browser's auth cookies are
    /// cleared: the session ended (revoked, expired, a replayed refresh token), or the refused
    /// credential is a refresh token this server does not accept (nothing can ever renew it). An
    /// access token that merely fails verification ends nothing: the refresh token may still work.
    pub fn ends_session(&self, refused: Refused) -> bool {
        match self {
            AuthError::SessionRevoked | AuthError::RefreshReused => true,
            AuthError::InvalidToken => refused == Refused::Refresh,
            AuthError::InvalidCredentials
            | AuthError::EmailTaken
            | AuthError::Validation { .. }
            | AuthError::Unauthenticated
            | AuthError::TokenExpired
            | AuthError::CsrfFailed(_)
            | AuthError::Forbidden
            | AuthError::ReauthRequired { .. }
            | AuthError::RateLimited { .. }
            | AuthError::NotFound
            | AuthError::MailTokenInvalid
            | AuthError::EmailUnverified
            | AuthError::EmailAlreadyVerified
            | AuthError::MfaFailed
            | AuthError::Passkey(_)
            | AuthError::Ceremony(_)
            | AuthError::PasskeyCounterRegressed { .. }
            | AuthError::MfaRequired
            | AuthError::Store(_)
            | AuthError::Internal(_) => false,
        }
    }
}
