//! Refresh and logout as a request presents them: the credentials in (a refresh token from the
//! body or the cookie, the CSRF header and cookie, an access token), one call, the outcome out.
//! Each token is parsed once and the CSRF double-submit check runs once; which failures end the
//! session (so a browser's cookies go) is [`AuthError::ends_session`].

use uuid::Uuid;

use super::{AuthService, IssuedTokens};
use crate::csrf::{self, PresentedCsrf};
use crate::error::{AuthError, Refused};
use crate::events::RequestMeta;
use crate::session::TokenDelivery;

/// What a refresh request presented.
#[derive(Debug, Clone)]
pub struct PresentedRefresh {
    /// The refresh token, `None` when the request carried none.
    pub refresh_token: Option<String>,
    /// How the token was presented: `Body` (`{"refresh_token"}`, clients outside a browser, no
    /// CSRF check since a browser never sends it on its own) or `Cookie` (the double-submit
    /// check applies).
    pub delivery: TokenDelivery,
    pub csrf: PresentedCsrf,
}

impl PresentedRefresh {
    /// Whether `error`, answered to this request, ends the session the client holds: only a
    /// browser's cookies can be cleared.
    pub fn ends_cookie_session(&self, error: &AuthError) -> bool {
        self.delivery == TokenDelivery::Cookie && error.ends_session(Refused::Refresh)
    }
}

/// A rotated session.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// `tokens.csrf_token` is what the session's CSRF cookie holds from now on: the presented
    /// cookie when it is valid for the session (see `csrf_kept`), a fresh token otherwise.
    pub tokens: IssuedTokens,
    /// The presented CSRF cookie stays (only its lifetime is extended): replacing it on every
    /// refresh would make another tab's in-flight request, whose header carries the previous
    /// value, fail the double-submit comparison.
    pub csrf_kept: bool,
}

/// What a logout request presented, most authoritative first; the api passes the first one the
/// request carries.
#[derive(Debug, Clone)]
pub enum PresentedLogout {
    /// `{"refresh_token"}` in the body.
    RefreshBody(String),
    /// An `Authorization: Bearer` access token.
    Bearer(String),
    /// The refresh cookie.
    RefreshCookie { refresh_token: String, csrf: PresentedCsrf },
    /// The access cookie alone.
    AccessCookie { access_token: String, csrf: PresentedCsrf },
    /// No credential at all.
    Nothing,
}

/// What a logout did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoggedOut {
    /// This session was revoked (or had already ended: logout is idempotent).
    Session(Uuid),
    /// Only cookies of a session that is already over were presented; clearing them is all
    /// there is to do.
    StaleCookies,
}

impl AuthService {
    /// The refresh flow: `Unauthenticated` without a token; for a cookie, the CSRF check
    /// (`CsrfFailed`) after the token's tag is verified; then the rotation of
    /// [`AuthService::refresh`] and its errors.
    pub async fn refresh_presented(
        &self,
        presented: &PresentedRefresh,
        meta: &RequestMeta,
    ) -> Result<Refreshed, AuthError> {
        let raw = presented.refresh_token.as_deref().ok_or(AuthError::Unauthenticated)?;
        let token = self.parse_refresh_token(raw)?;
        let csrf_kept = match presented.delivery {
            TokenDelivery::Cookie => {
                self.check_csrf(token.session_id, &presented.csrf)?;
                true
            }
            TokenDelivery::Body => presented
                .csrf
                .cookie
                .as_deref()
                .is_some_and(|cookie| self.verify_csrf_token(token.session_id, cookie)),
        };
        let mut tokens = self.rotate(&token, meta).await?.tokens;
        if csrf_kept && let Some(cookie) = &presented.csrf.cookie {
            tokens.csrf_token.clone_from(cookie);
        }
        Ok(Refreshed { tokens, csrf_kept })
    }

    /// The logout flow: finds the session from the first credential presented (a refresh cookie
    /// or an access cookie also needs the CSRF check), revokes it like [`AuthService::logout`].
    /// Cookies of an already-ended session are no error: `StaleCookies`.
    pub async fn logout_presented(
        &self,
        presented: &PresentedLogout,
        meta: &RequestMeta,
    ) -> Result<LoggedOut, AuthError> {
        let session_id = match presented {
            PresentedLogout::RefreshBody(refresh_token) => self.parse_refresh_token(refresh_token)?.session_id,
            PresentedLogout::Bearer(access_token) => self.authenticate(access_token)?.sid,
            PresentedLogout::RefreshCookie { refresh_token, csrf } => match self.parse_refresh_token(refresh_token) {
                Ok(token) => {
                    self.check_csrf(token.session_id, csrf)?;
                    token.session_id
                }
                Err(_) => return Ok(LoggedOut::StaleCookies),
            },
            PresentedLogout::AccessCookie { access_token, csrf } => match self.authenticate(access_token) {
                Ok(claims) => {
                    self.check_csrf(claims.sid, csrf)?;
                    claims.sid
                }
                Err(error) if error.ends_session(Refused::Access) => return Ok(LoggedOut::StaleCookies),
                Err(error) => return Err(error),
            },
            PresentedLogout::Nothing => return Err(AuthError::Unauthenticated),
        };
        self.logout(session_id, meta).await?;
        Ok(LoggedOut::Session(session_id))
    }

    /// The double-submit CSRF check for a cookie-carrying request of `session_id` (see
    /// [`csrf::check_double_submit`]).
    pub fn check_csrf(&self, session_id: Uuid, presented: &PresentedCsrf) -> Result<(), AuthError> {
        csrf::check_double_submit(&self.csrf_key, session_id, presented).map_err(AuthError::CsrfFailed)
    }
}
