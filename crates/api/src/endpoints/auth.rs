//! POST /api/auth/{register,login,refresh,logout}.

use poem::Request;
use poem::http::header;
use poem::web::cookie::CookieJar;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tessera_auth_core::AuthError;
use tessera_auth_core::service::{LoggedIn, Registration};
use tessera_auth_core::session::TokenDelivery;
use uuid::Uuid;

use super::ApiTags;
use super::body::OptionalJson;
use super::text::Text;
use super::views::{SessionView, TokenDeliveryView, UserView};
use crate::auth::{self, check_csrf};
use crate::client::Meta;
use crate::cookies::AuthCookie;
use crate::problem::ApiError;
use crate::state::{AppState, SharedState};

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RegisterRequest {
    #[oai(validator(max_length = 254))]
    pub email: Text,
    /// 12 to 256 characters; very common or guessable passwords are refused.
    #[oai(validator(max_length = 256), write_only)]
    pub password: Text,
    #[oai(validator(max_length = 100))]
    pub name: Text,
    pub token_delivery: Option<TokenDeliveryView>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LoginRequest {
    #[oai(validator(max_length = 254))]
    pub email: Text,
    #[oai(validator(max_length = 256), write_only)]
    pub password: Text,
    pub token_delivery: Option<TokenDeliveryView>,
}

/// For clients outside a browser; browsers send nothing and rely on the refresh cookie.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RefreshTokenRequest {
    #[oai(validator(max_length = 200), write_only)]
    pub refresh_token: Text,
}

/// A new session: the user and, for `token_delivery: body` only, the tokens.
#[derive(Debug, Object)]
pub struct AuthResponse {
    pub user: UserView,
    pub session: SessionView,
    /// Only with `token_delivery: body`.
    #[oai(skip_serializing_if_is_none)]
    pub access_token: Option<String>,
    /// Only with `token_delivery: body`. Rotates on every refresh.
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    /// `Bearer`, with `token_delivery: body`.
    #[oai(skip_serializing_if_is_none)]
    pub token_type: Option<String>,
}

/// A rotated session.
#[derive(Debug, Object)]
pub struct RefreshResponse {
    pub session: SessionView,
    #[oai(skip_serializing_if_is_none)]
    pub access_token: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub token_type: Option<String>,
}

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// Account created and logged in. Browsers receive the `__Host-access`, `__Host-refresh`
    /// and `__Host-csrf` cookies.
    #[oai(status = 201)]
    Created(Json<AuthResponse>),
}

#[derive(ApiResponse)]
pub enum LoginResponse {
    /// Logged in. Browsers receive the `__Host-access`, `__Host-refresh` and `__Host-csrf` cookies.
    #[oai(status = 200)]
    Ok(Json<AuthResponse>),
}

#[derive(ApiResponse)]
pub enum LogoutAllResponse {
    /// Every session of the caller has ended, this one included; the auth cookies are cleared.
    #[oai(status = 204)]
    LoggedOut(#[oai(header = "Clear-Site-Data")] String),
}

#[derive(ApiResponse)]
pub enum RefreshResult {
    /// Rotated: a new access token and a new refresh token (cookies, or body for `body` sessions).
    #[oai(status = 200)]
    Ok(Json<RefreshResponse>),
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// Logged out; the auth cookies are cleared.
    #[oai(status = 204)]
    LoggedOut(#[oai(header = "Clear-Site-Data")] String),
}

/// Sets the three cookies for a cookie session; a body session gets no cookies.
///
/// A CSRF cookie that is already valid for this session is kept (only its lifetime extended):
/// replacing it on every refresh would make another tab's in-flight request, whose header carries
/// the previous value, fail the double-submit comparison.
fn set_session_cookies(state: &AppState, jar: &CookieJar, logged_in: &LoggedIn) {
    let tokens = &logged_in.tokens;
    if tokens.delivery != TokenDelivery::Cookie {
        return;
    }
    let now = state.service.now();
    let cookies = &state.cookies;
    let csrf = cookies
        .get(jar, AuthCookie::Csrf)
        .filter(|existing| state.service.verify_csrf_token(tokens.session_id, existing))
        .unwrap_or_else(|| tokens.csrf_token.clone());
    cookies.set(
        jar,
        AuthCookie::Access,
        &tokens.access_token,
        now,
        tokens.access_expires_at,
    );
    cookies.set(
        jar,
        AuthCookie::Refresh,
        &tokens.refresh_token,
        now,
        tokens.refresh_expires_at,
    );
    cookies.set(jar, AuthCookie::Csrf, &csrf, now, tokens.refresh_expires_at);
}

fn auth_response(logged_in: &LoggedIn) -> AuthResponse {
    let tokens = &logged_in.tokens;
    let in_body = tokens.delivery == TokenDelivery::Body;
    AuthResponse {
        user: UserView::from(&logged_in.user),
        session: SessionView::from(tokens),
        access_token: in_body.then(|| tokens.access_token.clone()),
        refresh_token: in_body.then(|| tokens.refresh_token.clone()),
        token_type: in_body.then(|| "Bearer".to_owned()),
    }
}

pub struct AuthApi;

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account and log in.
    #[oai(path = "/api/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        Meta(meta): Meta,
        body: Json<RegisterRequest>,
    ) -> Result<RegisterResponse, ApiError> {
        let Json(body) = body;
        let input = Registration {
            email: body.email.into_string(),
            name: body.name.into_string(),
            password: body.password.into_string(),
        };
        let logged_in = state
            .service
            .register(input, body.token_delivery.unwrap_or_default().into(), &meta)
            .await?;
        set_session_cookies(&state, jar, &logged_in);
        Ok(RegisterResponse::Created(Json(auth_response(&logged_in))))
    }

    /// Log in with email and password.
    ///
    /// Unknown email, wrong password and disabled account all answer the same 401
    /// `invalid_credentials`, in the same time.
    #[oai(path = "/api/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        Meta(meta): Meta,
        body: Json<LoginRequest>,
    ) -> Result<LoginResponse, ApiError> {
        let logged_in = state
            .service
            .login(
                body.email.as_str(),
                body.password.as_str(),
                body.token_delivery.unwrap_or_default().into(),
                &meta,
            )
            .await?;
        set_session_cookies(&state, jar, &logged_in);
        Ok(LoginResponse::Ok(Json(auth_response(&logged_in))))
    }

    /// Log out everywhere: end every session of the caller, this one included.
    #[oai(path = "/api/auth/logout-all", method = "post", operation_id = "logout_all")]
    async fn logout_all(
        &self,
        caller: crate::auth::Authenticated,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        Meta(meta): Meta,
    ) -> Result<LogoutAllResponse, ApiError> {
        state.service.logout_all(&caller.claims, &meta).await?;
        state.cookies.clear_all(jar);
        Ok(LogoutAllResponse::LoggedOut("\"cookies\"".to_owned()))
    }

    /// Rotate the refresh token and get a new access token.
    ///
    /// Browsers send the refresh cookie and `X-CSRF-Token`; other clients send
    /// `{"refresh_token": ...}`. Concurrent refreshes with the same token (several tabs) all get
    /// the same new refresh token. Presenting an already-rotated token after the grace window is
    /// treated as theft: 401 `refresh_reused` and the whole session is revoked.
    #[oai(path = "/api/auth/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: poem::web::Data<&SharedState>,
        req: &Request,
        jar: &CookieJar,
        Meta(meta): Meta,
        #[oai(name = "X-CSRF-Token")] _csrf: Header<Option<String>>,
        body: OptionalJson<RefreshTokenRequest>,
    ) -> Result<RefreshResult, ApiError> {
        let (token, from_cookie) = match body.0 {
            Some(body) => (body.refresh_token.into_string(), false),
            None => (
                state
                    .cookies
                    .get(jar, AuthCookie::Refresh)
                    .ok_or_else(ApiError::unauthenticated)?,
                true,
            ),
        };
        let outcome = async {
            if from_cookie {
                let session_id = state.service.refresh_token_session(&token)?;
                check_csrf(&state, req, jar, session_id)?;
            }
            Ok::<_, ApiError>(state.service.refresh(&token, &meta).await?)
        }
        .await;
        let logged_in = match outcome {
            Ok(logged_in) => logged_in,
            Err(err) => {
                if from_cookie && err.status == poem::http::StatusCode::UNAUTHORIZED {
                    state.cookies.clear_all(jar);
                }
                return Err(err);
            }
        };
        set_session_cookies(&state, jar, &logged_in);
        let response = auth_response(&logged_in);
        Ok(RefreshResult::Ok(Json(RefreshResponse {
            session: response.session,
            access_token: response.access_token,
            refresh_token: response.refresh_token,
            token_type: response.token_type,
        })))
    }

    /// End the current session.
    ///
    /// Identifies the session from `{"refresh_token": ...}`, a Bearer token, or the cookies
    /// (with `X-CSRF-Token`). Clears the cookies and sends `Clear-Site-Data`.
    #[oai(path = "/api/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: poem::web::Data<&SharedState>,
        req: &Request,
        jar: &CookieJar,
        Meta(meta): Meta,
        #[oai(name = "X-CSRF-Token")] _csrf: Header<Option<String>>,
        body: OptionalJson<RefreshTokenRequest>,
    ) -> Result<LogoutResponse, ApiError> {
        let session_id = logout_session(&state, req, jar, body.0)?;
        if let Some(session_id) = session_id {
            state.service.logout(session_id, &meta).await?;
        }
        state.cookies.clear_all(jar);
        Ok(LogoutResponse::LoggedOut("\"cookies\"".to_owned()))
    }
}

/// Which session a logout ends. `Ok(None)`: only stale cookies were presented; clearing them is
/// all there is to do.
fn logout_session(
    state: &AppState,
    req: &Request,
    jar: &CookieJar,
    body: Option<RefreshTokenRequest>,
) -> Result<Option<Uuid>, ApiError> {
    if let Some(body) = body {
        return Ok(Some(state.service.refresh_token_session(body.refresh_token.as_str())?));
    }
    if req.headers().contains_key(header::AUTHORIZATION) {
        return Ok(Some(auth::authenticate(req)?.claims.sid));
    }
    if let Some(token) = state.cookies.get(jar, AuthCookie::Refresh) {
        return match state.service.refresh_token_session(&token) {
            Ok(session_id) => {
                check_csrf(state, req, jar, session_id)?;
                Ok(Some(session_id))
            }
            Err(AuthError::InvalidToken) => Ok(None),
            Err(err) => Err(err.into()),
        };
    }
    if state.cookies.get(jar, AuthCookie::Access).is_some() {
        return match auth::authenticate(req) {
            Ok(caller) => Ok(Some(caller.claims.sid)),
            Err(err) if err.ends_session() => Ok(None),
            Err(err) => Err(err),
        };
    }
    Err(ApiError::unauthenticated())
}
