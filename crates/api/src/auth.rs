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
use subtle::ConstantTimeEq;
use tessera_auth_core::AuthError;
use tessera_auth_core::access::AccessClaims;
use tessera_auth_core::user::Role;
use uuid::Uuid;

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
        match self.claims.role() {
            Some(Role::Admin) => Ok(()),
            _ => Err(ApiError::forbidden()),
        }
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

/// Double-submit check bound to the session: the header must equal the cookie, and the token
/// must be an HMAC over this session id (so a token planted from a sibling origin is useless).
pub fn check_csrf(state: &AppState, req: &Request, jar: &CookieJar, session_id: Uuid) -> Result<(), ApiError> {
    let header = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::csrf_failed("missing X-CSRF-Token header"))?;
    let cookie = state
        .cookies
        .get(jar, AuthCookie::Csrf)
        .ok_or_else(|| ApiError::csrf_failed("missing CSRF cookie"))?;
    if !bool::from(header.as_bytes().ct_eq(cookie.as_bytes())) || !state.service.verify_csrf_token(session_id, header) {
        return Err(ApiError::csrf_failed("X-CSRF-Token does not match this session"));
    }
    Ok(())
}

fn state_of(req: &Request) -> Result<&SharedState, ApiError> {
    req.data::<SharedState>().ok_or_else(ApiError::internal)
}

/// Authenticates `req`, clearing the auth cookies when the failure means the session is over.
pub fn authenticate(req: &Request) -> Result<Authenticated, ApiError> {
    let state = state_of(req)?;
    let jar = req.cookie();
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| ApiError::unauthenticated())?;
        let claims = state.service.authenticate(bearer_token(value)?)?;
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
    let claims = match state.service.authenticate(&token) {
        Ok(claims) => claims,
        Err(err) => {
            let err = ApiError::from(err);
            if err.ends_session() {
                state.cookies.clear_all(jar);
            }
            return Err(err);
        }
    };
    if is_unsafe(req.method()) {
        check_csrf(state, req, jar, claims.sid)?;
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
