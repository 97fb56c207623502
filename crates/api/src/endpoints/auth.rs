//! POST /api/auth/{register,login,refresh,logout,logout-all,reauth}.

use poem::Request;
use poem::web::cookie::CookieJar;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tessera_auth_core::reauth::ReauthCredential;
use tessera_auth_core::service::{IssuedTokens, LoggedIn, LoginOutcome, MfaRequired, Registration};
use tessera_auth_core::session::TokenDelivery;

use super::ApiTags;
use super::body::OptionalJson;
use super::text::Text;
use super::views::{MfaMethodView, SessionView, TokenDeliveryView, UserView};
use crate::auth::{self, Authenticated, Credential};
use crate::client::Meta;
use crate::cookies::AuthCookie;
use crate::problem::documented::Declared;
use crate::problem::{ApiError, ProblemCode};
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

/// A credential to prove again for the current session. Exactly one field: `password` (every
/// user can use it), `totp_code` (users with TOTP) or `credential` (users with a passkey; the
/// `methods` of a `reauth_required` say which a user has).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ReauthRequest {
    /// The account's password.
    #[oai(validator(max_length = 256), write_only)]
    pub password: Option<Text>,
    /// A current code of the user's authenticator app (6 digits).
    #[oai(validator(max_length = 32), write_only)]
    pub totp_code: Option<Text>,
    /// The `PublicKeyCredential.toJSON()` of an assertion answering the options of POST
    /// /api/auth/reauth/passkey/options.
    #[oai(write_only)]
    pub credential: Option<serde_json::Value>,
}

/// A login whose password was right, of a user with a second factor: no session yet. Complete
/// it at POST /api/auth/mfa within `expires_at`, with one of `methods`. Browsers hold the
/// challenge in the `__Host-mfa` cookie; `token_delivery: body` logins get `mfa_token` instead.
#[derive(Debug, Object)]
pub struct MfaChallengeResponse {
    /// Always `true`.
    pub mfa_required: bool,
    /// What this user can complete the login with.
    pub methods: Vec<MfaMethodView>,
    pub expires_at: time::OffsetDateTime,
    /// Only with `token_delivery: body`: send it back as `mfa_token`.
    #[oai(skip_serializing_if_is_none)]
    pub mfa_token: Option<String>,
}

/// The session after a re-authentication: same id and refresh token, a new access token.
#[derive(Debug, Object)]
pub struct ReauthResponse {
    pub session: SessionView,
    /// The re-issued access token, for Bearer callers only (cookie callers get a new
    /// `__Host-access` cookie instead).
    #[oai(skip_serializing_if_is_none)]
    pub access_token: Option<String>,
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
    /// The password was right and the user has a second factor: complete the login at POST
    /// /api/auth/mfa. Browsers receive the `__Host-mfa` cookie (5 minutes), no session cookie.
    #[oai(status = 202)]
    MfaRequired(Json<MfaChallengeResponse>),
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
pub enum ReauthResult {
    /// Re-authenticated: the session's `auth_time` is now and the access token is re-issued
    /// (cookie callers: a new `__Host-access` cookie; Bearer callers: `access_token`).
    #[oai(status = 200)]
    Ok(Json<ReauthResponse>),
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// Logged out; the auth cookies are cleared.
    #[oai(status = 204)]
    LoggedOut(#[oai(header = "Clear-Site-Data")] String),
}

/// Sets the three cookies for a cookie session; a body session gets no cookies. The CSRF cookie
/// gets `tokens.csrf_token` (after a refresh, the kept cookie: see `Refreshed`).
pub(crate) fn set_session_cookies(state: &AppState, jar: &CookieJar, tokens: &IssuedTokens) {
    if tokens.delivery != TokenDelivery::Cookie {
        return;
    }
    let now = state.service.now();
    let cookies = &state.cookies;
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
    cookies.set(
        jar,
        AuthCookie::Csrf,
        &tokens.csrf_token,
        now,
        tokens.refresh_expires_at,
    );
}

/// The 202 of a login that needs a second factor: the challenge in the `__Host-mfa` cookie, or
/// in the body for `token_delivery: body`.
fn mfa_challenge_response(state: &AppState, jar: &CookieJar, required: MfaRequired) -> MfaChallengeResponse {
    let in_body = required.delivery == TokenDelivery::Body;
    if !in_body {
        let now = state.service.now();
        state
            .cookies
            .set(jar, AuthCookie::Mfa, required.token.as_str(), now, required.expires_at);
    }
    MfaChallengeResponse {
        mfa_required: true,
        methods: required.methods.iter().copied().map(MfaMethodView::from).collect(),
        expires_at: required.expires_at,
        mfa_token: in_body.then(|| required.token.into_string()),
    }
}

fn refresh_response(tokens: &IssuedTokens) -> RefreshResponse {
    let in_body = tokens.delivery == TokenDelivery::Body;
    RefreshResponse {
        session: SessionView::from(tokens),
        access_token: in_body.then(|| tokens.access_token.clone()),
        refresh_token: in_body.then(|| tokens.refresh_token.clone()),
        token_type: in_body.then(|| "Bearer".to_owned()),
    }
}

pub(crate) fn auth_response(logged_in: &LoggedIn) -> AuthResponse {
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

/// The problems these handlers return themselves, by operation id (input, authentication,
/// origin, rate-limit and header problems are added by rule: `problem::documented`).
pub const PROBLEMS: Declared = &[
    (
        "register",
        &[
            ProblemCode::ValidationFailed,
            ProblemCode::EmailTaken,
            ProblemCode::EmailUnverified,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "login",
        &[
            ProblemCode::InvalidCredentials,
            ProblemCode::EmailUnverified,
            ProblemCode::RateLimited,
            ProblemCode::StorageUnavailable,
        ],
    ),
    ("logout_all", &[ProblemCode::StorageUnavailable]),
    (
        "reauthenticate",
        &[
            ProblemCode::InvalidCredentials,
            ProblemCode::MfaFailed,
            ProblemCode::WebauthnFailed,
            ProblemCode::PasskeysUnavailable,
            ProblemCode::ValidationFailed,
            ProblemCode::RateLimited,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "refresh",
        &[
            ProblemCode::Unauthenticated,
            ProblemCode::SessionRevoked,
            ProblemCode::RefreshReused,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "logout",
        &[
            ProblemCode::Unauthenticated,
            ProblemCode::TokenExpired,
            ProblemCode::SessionRevoked,
            ProblemCode::StorageUnavailable,
        ],
    ),
];

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
        set_session_cookies(&state, jar, &logged_in.tokens);
        Ok(RegisterResponse::Created(Json(auth_response(&logged_in))))
    }

    /// Log in with email and password.
    ///
    /// Unknown email, wrong password and disabled account all answer the same 401
    /// `invalid_credentials`, in the same time. A right password of a user with a second factor
    /// answers 202 and no session: complete the login at POST /api/auth/mfa.
    #[oai(path = "/api/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        Meta(meta): Meta,
        body: Json<LoginRequest>,
    ) -> Result<LoginResponse, ApiError> {
        let outcome = state
            .service
            .login(
                body.email.as_str(),
                body.password.as_str(),
                body.token_delivery.unwrap_or_default().into(),
                &meta,
            )
            .await?;
        match outcome {
            LoginOutcome::LoggedIn(logged_in) => {
                set_session_cookies(&state, jar, &logged_in.tokens);
                Ok(LoginResponse::Ok(Json(auth_response(&logged_in))))
            }
            LoginOutcome::MfaRequired(required) => Ok(LoginResponse::MfaRequired(Json(mfa_challenge_response(
                &state, jar, required,
            )))),
        }
    }

    /// Log out everywhere: end every session of the caller, this one included.
    #[oai(path = "/api/auth/logout-all", method = "post", operation_id = "logout_all")]
    async fn logout_all(
        &self,
        caller: Authenticated,
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
        let presented = auth::presented_refresh(&state, req, jar, body.0.map(|b| b.refresh_token.into_string()));
        let refreshed = state
            .service
            .refresh_presented(&presented, &meta)
            .await
            .map_err(|err| {
                if presented.ends_cookie_session(&err) {
                    state.cookies.clear_all(jar);
                }
                ApiError::from(err)
            })?;
        set_session_cookies(&state, jar, &refreshed.tokens);
        Ok(RefreshResult::Ok(Json(refresh_response(&refreshed.tokens))))
    }

    /// Prove a credential again for the current session (step-up), without a new session.
    ///
    /// Operations that need a recent proof (a password change, an administrator's change of a
    /// role or disabled flag) answer 403 `reauth_required` with the `methods` to use here. A
    /// wrong password is 401 `invalid_credentials` and counts toward the account's login
    /// backoff, like a failed login; a wrong TOTP code, or a passkey assertion that does not
    /// verify, is 401 `mfa_failed` and counts the same (a malformed assertion, or one answering
    /// no live ceremony, is 400 `webauthn_failed`: start again). The session's `amr` becomes the
    /// credential's: `pwd`, `otp`, or `hwk`/`swk` (plus `user` when the passkey verified the
    /// user). Access tokens issued before keep their old `auth_time`.
    #[oai(path = "/api/auth/reauth", method = "post", operation_id = "reauthenticate")]
    async fn reauthenticate(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        Meta(meta): Meta,
        body: Json<ReauthRequest>,
    ) -> Result<ReauthResult, ApiError> {
        let credential = match (&body.password, &body.totp_code, &body.credential) {
            (Some(password), None, None) => ReauthCredential::Password(password.as_str()),
            (None, Some(code), None) => ReauthCredential::Totp(code.as_str()),
            (None, None, Some(assertion)) => ReauthCredential::Passkey(assertion),
            _ => return Err(super::mfa::one_credential("password, totp_code or credential")),
        };
        let reauthenticated = state.service.reauthenticate(&caller.claims, credential, &meta).await?;
        let access_token = match caller.via {
            Credential::Cookie => {
                let now = state.service.now();
                state.cookies.set(
                    jar,
                    AuthCookie::Access,
                    &reauthenticated.access_token,
                    now,
                    reauthenticated.access_expires_at,
                );
                None
            }
            Credential::Bearer => Some(reauthenticated.access_token.clone()),
        };
        Ok(ReauthResult::Ok(Json(ReauthResponse {
            session: SessionView::from(&reauthenticated),
            access_token,
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
        let presented = auth::presented_logout(&state, req, jar, body.0.map(|b| b.refresh_token.into_string()))?;
        state.service.logout_presented(&presented, &meta).await?;
        state.cookies.clear_all(jar);
        Ok(LogoutResponse::LoggedOut("\"cookies\"".to_owned()))
    }
}
