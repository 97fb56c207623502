//! Who is making this request: the access-token extractor and the CSRF double-submit check.
//!
//! Order of precedence (DESIGN.md "Access tokens"): an `Authorization` header wins and never falls
//! back to the cookie, even when invalid; without one, the access cookie is used, and then unsafe
//! methods must also pass the CSRF check. Query-string tokens are never looked at.

use poem::http::{Method, header};
use poem::web::cookie::CookieJar;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use tessera_auth_core::access::AccessClaims;
use tessera_auth_core::csrf::PresentedCsrf;
use tessera_auth_core::error::Refused;
use tessera_auth_core::service::{PresentedLogout, PresentedRefresh};
use tessera_auth_core::session::TokenDelivery;
use tessera_auth_core::{AuthError, service};

use crate::cookies::AuthCookie;
use crate::problem::ApiError;
use crate::state::{AppState, SharedState};

pub const CSRF_HEADER: &str = "x-csrf-token";
pub const COOKIE_SCHEME: &str = "CookieAuth";
pub const BEARER_SCHEME: &str = "BearerAuth";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Bearer,
    Cookie,
}

/// A verified caller. Handlers receive claims, never raw tokens.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub claims: AccessClaims,
    pub via: Credential,
}

impl Authenticated {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        Ok(service::require_admin(&self.claims)?)
    }
}

pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// `Bearer <token>` (scheme case-insensitive). `Err` for any other shape.
fn bearer_token(value: &str) -> Result<&str, ApiError> {
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(ApiError::unauthenticated)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthenticated());
    }
    Ok(token)
}

/// The CSRF values `req` presented: the `X-CSRF-Token` header and the CSRF cookie (auth-core's
/// `check_csrf` judges them).
pub fn presented_csrf(state: &AppState, req: &Request, jar: &CookieJar) -> PresentedCsrf {
    PresentedCsrf {
        header: req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        cookie: state.cookies.get(jar, AuthCookie::Csrf),
    }
}

/// The access token of an `Authorization` header, if the request has one: `Bearer <token>` or an
/// error, never a fall-back to the cookie.
pub fn authorization_bearer(req: &Request) -> Option<Result<&str, ApiError>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .map_err(|_| ApiError::unauthenticated())
            .and_then(bearer_token),
    )
}

/// What a refresh request presented: the body's token, else the refresh cookie (with the CSRF
/// values, which auth-core checks for a cookie only).
pub fn presented_refresh(
    state: &AppState,
    req: &Request,
    jar: &CookieJar,
    body_token: Option<String>,
) -> PresentedRefresh {
    let (refresh_token, delivery) = match body_token {
        Some(token) => (Some(token), TokenDelivery::Body),
        None => (state.cookies.get(jar, AuthCookie::Refresh), TokenDelivery::Cookie),
    };
    PresentedRefresh {
        refresh_token,
        delivery,
        csrf: presented_csrf(state, req, jar),
    }
}

/// What a logout request presented, in precedence order: the body's refresh token, an
/// `Authorization` header, the refresh cookie, the access cookie.
pub fn presented_logout(
    state: &AppState,
    req: &Request,
    jar: &CookieJar,
    body_token: Option<String>,
) -> Result<PresentedLogout, ApiError> {
    if let Some(token) = body_token {
        return Ok(PresentedLogout::RefreshBody(token));
    }
    if let Some(token) = authorization_bearer(req) {
        return Ok(PresentedLogout::Bearer(token?.to_owned()));
    }
    let csrf = presented_csrf(state, req, jar);
    if let Some(refresh_token) = state.cookies.get(jar, AuthCookie::Refresh) {
        return Ok(PresentedLogout::RefreshCookie { refresh_token, csrf });
    }
    Ok(match state.cookies.get(jar, AuthCookie::Access) {
        Some(access_token) => PresentedLogout::AccessCookie { access_token, csrf },
        None => PresentedLogout::Nothing,
    })
}

fn state_of(req: &Request) -> Result<&SharedState, ApiError> {
    req.data::<SharedState>().ok_or_else(ApiError::internal)
}

/// Authenticates `req`, clearing the auth cookies when the failure means the session is over.
pub fn authenticate(req: &Request) -> Result<Authenticated, ApiError> {
    let state = state_of(req)?;
    let jar = req.cookie();
    if let Some(token) = authorization_bearer(req) {
        let claims = state.service.authenticate(token?)?;
        return Ok(Authenticated {
            claims,
            via: Credential::Bearer,
        });
    }
    let Some(token) = state.cookies.get(jar, AuthCookie::Access) else {
        // Browsers drop the access cookie when its Max-Age (the token's lifetime) runs out; with
        // the refresh cookie still there, the honest answer is "expired: refresh".
        if state.cookies.get(jar, AuthCookie::Refresh).is_some() {
            return Err(AuthError::TokenExpired.into());
        }
        return Err(ApiError::unauthenticated());
    };
    let claims = state.service.authenticate(&token).inspect_err(|err| {
        if err.ends_session(Refused::Access) {
            state.cookies.clear_all(jar);
        }
    })?;
    if is_unsafe(req.method()) {
        state.service.check_csrf(claims.sid, &presented_csrf(state, req, jar))?;
    }
    Ok(Authenticated {
        claims,
        via: Credential::Cookie,
    })
}

impl<'a> ApiExtractor<'a> for Authenticated {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            COOKIE_SCHEME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some(
                    "The `__Host-access` cookie set by login/register/refresh (browsers). Unsafe methods also need `X-CSRF-Token` equal to the `__Host-csrf` cookie.",
                ),
                name: Some("__Host-access"),
                key_in: Some("cookie"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
        registry.create_security_scheme(
            BEARER_SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "An access token in `Authorization: Bearer` (clients outside a browser; log in with `token_delivery: body`). Takes precedence over the cookie.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("JWT"),
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![COOKIE_SCHEME, BEARER_SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Authenticated> {
        Ok(authenticate(req)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc").unwrap(), "abc");
        assert_eq!(bearer_token("bearer   abc ").unwrap(), "abc");
        assert!(bearer_token("Basic abc").is_err());
        assert!(bearer_token("Bearer").is_err());
        assert!(bearer_token("Bearer ").is_err());
    }

    #[test]
    fn unsafe_methods() {
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_unsafe(&m));
        }
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!is_unsafe(&m));
        }
    }
}
