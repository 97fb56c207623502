//! RFC 9457 problem responses: the one place where every error becomes HTTP.
//!
//! Domain errors ([`AuthError`]) are mapped exhaustively; errors raised by poem or poem-openapi
//! (unknown route, wrong method, unparsable body, size limit...) are turned into the same shape by
//! [`catch_all`], so a client only ever sees `application/problem+json` with a stable `code`.

use std::fmt;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaResponses, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Enum, Object};
use tessera_auth_core::AuthError;
use tessera_auth_core::error::{CsrfFailure, Refused};
use tessera_auth_core::mfa::ceremony::CeremonyError;
use tessera_auth_core::mfa::passkey::{PasskeyError, PasskeysUnavailable};
use tessera_auth_core::mfa::policy::ReauthMethod;
use tessera_auth_core::ports::StoreError;

use crate::endpoints::views::ReauthMethodView;

pub mod documented;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Request bodies above this are refused with 413 [`ApiError::payload_too_large`] (DESIGN.md
/// "Passwords and abuse"); the request guard (`middleware`) enforces it on every request.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The stable, machine-readable error codes (DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ProblemCode {
    InvalidCredentials,
    Unauthenticated,
    TokenExpired,
    SessionRevoked,
    RefreshReused,
    CsrfFailed,
    Forbidden,
    ReauthRequired,
    RateLimited,
    ValidationFailed,
    EmailTaken,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestHeaderFieldsTooLarge,
    InternalError,
    StorageUnavailable,
    /// A mail token (reset, verification, confirmation link) that is malformed, unknown,
    /// expired, used or for another purpose: one code for all.
    TokenInvalid,
    /// `TESSERA_REQUIRE_VERIFIED_EMAIL`: the address must be verified before a session starts.
    EmailUnverified,
    /// A verification was asked for an address that is verified already.
    EmailAlreadyVerified,
    /// A second factor (TOTP or recovery code) that is wrong, malformed or used, or an MFA
    /// challenge that is unknown, expired or used up: one code for all.
    MfaFailed,
    /// A WebAuthn response that is malformed or answers no live ceremony (400: start again), or
    /// that does not verify (401).
    WebauthnFailed,
    /// This deployment cannot offer passkeys (its public origin is an IP address, or plain http
    /// off localhost); the SPA hides passkey features.
    PasskeysUnavailable,
    /// One factor where the user needs two: a passkey login without user verification.
    MfaRequired,
}

impl ProblemCode {
    /// What a response with this code looks like, built by the constructors the server answers
    /// with, so the spec's examples (and the status each code is documented under) cannot drift
    /// from the wire. One per status the code is sent with: `validation_failed` is 400 for input
    /// that does not parse (wrong type, unknown field, duplicate key) and 422 for well-formed input
    /// a rule refuses (a weak password).
    pub fn examples(self) -> Vec<ApiError> {
        match self {
            ProblemCode::InvalidCredentials => vec![AuthError::InvalidCredentials.into()],
            ProblemCode::Unauthenticated => vec![ApiError::unauthenticated()],
            ProblemCode::TokenExpired => vec![AuthError::TokenExpired.into()],
            ProblemCode::SessionRevoked => vec![AuthError::SessionRevoked.into()],
            ProblemCode::RefreshReused => vec![AuthError::RefreshReused.into()],
            ProblemCode::CsrfFailed => vec![AuthError::CsrfFailed(CsrfFailure::MissingHeader).into()],
            ProblemCode::Forbidden => vec![ApiError::forbidden()],
            ProblemCode::ReauthRequired => vec![
                AuthError::ReauthRequired {
                    methods: vec![ReauthMethod::Password],
                }
                .into(),
            ],
            ProblemCode::RateLimited => vec![ApiError::rate_limited(20)],
            ProblemCode::ValidationFailed => vec![
                ApiError::validation(
                    "parse request payload error: failed to parse \"RegisterRequest\": unknown field `nickname`.",
                ),
                AuthError::Validation {
                    field: "password",
                    message: "is too easy to guess".to_owned(),
                }
                .into(),
            ],
            ProblemCode::EmailTaken => vec![AuthError::EmailTaken.into()],
            ProblemCode::TokenInvalid => vec![AuthError::MailTokenInvalid.into()],
            ProblemCode::EmailUnverified => vec![AuthError::EmailUnverified.into()],
            ProblemCode::EmailAlreadyVerified => vec![AuthError::EmailAlreadyVerified.into()],
            ProblemCode::MfaFailed => vec![AuthError::MfaFailed.into()],
            ProblemCode::WebauthnFailed => vec![
                AuthError::Ceremony(CeremonyError::Unknown).into(),
                AuthError::Passkey(PasskeyError::Rejected("signature")).into(),
            ],
            ProblemCode::PasskeysUnavailable => vec![
                AuthError::Passkey(PasskeyError::Unavailable(PasskeysUnavailable::IpAddressHost(
                    "127.0.0.1".to_owned(),
                )))
                .into(),
            ],
            ProblemCode::MfaRequired => vec![AuthError::MfaRequired.into()],
            ProblemCode::NotFound => vec![ApiError::not_found()],
            ProblemCode::MethodNotAllowed => vec![ApiError::method_not_allowed()],
            ProblemCode::PayloadTooLarge => vec![ApiError::payload_too_large()],
            ProblemCode::RequestHeaderFieldsTooLarge => vec![ApiError::request_header_fields_too_large()],
            ProblemCode::InternalError => vec![ApiError::internal()],
            ProblemCode::StorageUnavailable => vec![ApiError::storage_unavailable()],
        }
    }

    /// The name sent as `code` (`email_taken`), as the spec's enum spells it.
    pub fn wire_name(self) -> String {
        match self.to_json() {
            Some(serde_json::Value::String(name)) => name,
            _ => format!("{self:?}"),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Problem")]
pub struct ProblemBody {
    /// A URI reference naming the problem type (`about:blank` when the status says it all).
    #[oai(rename = "type")]
    pub type_: String,
    /// Short human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    // Stable machine-readable code. (Not a doc comment: that would wrap the `$ref` in `allOf`,
    // which some client generators drop.)
    pub code: ProblemCode,
    /// On a `csrf_failed` for a request from another origin: the origin this server accepts
    /// (`TESSERA_PUBLIC_ORIGIN`), where the app should be opened instead.
    #[oai(skip_serializing_if_is_none)]
    pub public_origin: Option<String>,
    /// On a `reauth_required`: the methods the user can re-authenticate with at POST
    /// /api/auth/reauth (`password`; `totp` and `passkey` when enrolled).
    #[oai(skip_serializing_if_is_none)]
    pub methods: Option<Vec<ReauthMethodView>>,
}

/// An error response. Build with the constructors; `IntoResponse` renders it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ProblemCode,
    pub detail: Option<String>,
    /// `WWW-Authenticate` value for 401s.
    pub www_authenticate: Option<&'static str>,
    pub retry_after_secs: Option<u64>,
    /// `Allow` value for 405s.
    pub allow: Option<String>,
    /// See [`ProblemBody::public_origin`].
    pub public_origin: Option<String>,
    /// See [`ProblemBody::methods`]. Boxed: every handler returns this type in its `Err`, so it
    /// stays small.
    pub methods: Option<Box<MethodList>>,
    /// The session is over ([`AuthError::ends_session`]): [`catch_all`] clears a cookie
    /// session's auth cookies.
    pub ends_session: bool,
}

/// The methods a `reauth_required` problem names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodList(pub Vec<ReauthMethodView>);

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.status.as_u16(), self.code)
    }
}

impl std::error::Error for ApiError {}

const BEARER: &str = "Bearer";
/// `Retry-After` of a 503 `storage_unavailable`: long enough for a pool to reconnect or a
/// database to come back from a restart, short enough that a client does not give up.
pub const STORAGE_RETRY_AFTER_SECS: u64 = 2;
const BEARER_INVALID: &str = "Bearer error=\"invalid_token\"";

impl ApiError {
    pub fn new(status: StatusCode, code: ProblemCode, detail: impl Into<Option<String>>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            www_authenticate: None,
            retry_after_secs: None,
            allow: None,
            public_origin: None,
            methods: None,
            ends_session: false,
        }
    }

    pub fn validation(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ProblemCode::ValidationFailed, detail.into())
    }

    pub fn unauthenticated() -> ApiError {
        ApiError {
            www_authenticate: Some(BEARER),
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::Unauthenticated,
                "authentication required".to_owned(),
            )
        }
    }

    fn invalid_token(code: ProblemCode, detail: &str) -> ApiError {
        ApiError {
            www_authenticate: Some(BEARER_INVALID),
            ..ApiError::new(StatusCode::UNAUTHORIZED, code, detail.to_owned())
        }
    }

    pub fn csrf_failed(detail: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, ProblemCode::CsrfFailed, detail.to_owned())
    }

    /// An unsafe request whose `Origin` is neither the public origin nor an allowed one: most
    /// often the app opened under another name (`localhost` for `127.0.0.1`). The answer names
    /// the origin to use; neither is a secret (the client sent one, the other is where the app lives).
    pub fn foreign_origin(origin: &str, public_origin: &str) -> ApiError {
        ApiError {
            public_origin: Some(public_origin.to_owned()),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                ProblemCode::CsrfFailed,
                format!("request origin {origin} is not allowed: this server accepts requests from {public_origin}"),
            )
        }
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, ProblemCode::Forbidden, "not allowed".to_owned())
    }

    pub fn rate_limited(retry_after_secs: u64) -> ApiError {
        ApiError {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ProblemCode::RateLimited,
                "too many attempts; retry after the time in Retry-After".to_owned(),
            )
        }
    }

    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "no such resource".to_owned(),
        )
    }

    /// The storage failed (unreachable, full, read-only, locked...) and nothing was changed:
    /// the client keeps what it has and retries later.
    pub fn storage_unavailable() -> ApiError {
        ApiError {
            retry_after_secs: Some(STORAGE_RETRY_AFTER_SECS),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ProblemCode::StorageUnavailable,
                "the service cannot store data right now and changed nothing; retry after the time in Retry-After"
                    .to_owned(),
            )
        }
    }

    /// 413 `payload_too_large`: a body over [`MAX_BODY_BYTES`], whether the request guard
    /// counted it or poem refused it first.
    pub fn payload_too_large() -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::PayloadTooLarge,
            format!("request body is larger than {} KiB", MAX_BODY_BYTES / 1024),
        )
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ProblemCode::MethodNotAllowed,
            "this method is not allowed here".to_owned(),
        )
    }

    /// 431: the header section is over the limits of `middleware::header_limits`.
    pub fn request_header_fields_too_large() -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProblemCode::RequestHeaderFieldsTooLarge,
            "request headers are over 64 KiB or 100 fields; clearing this site's cookies may help".to_owned(),
        )
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ProblemCode::InternalError,
            "internal error".to_owned(),
        )
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            type_: "about:blank".to_owned(),
            title: self.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            public_origin: self.public_origin.clone(),
            methods: self.methods.as_ref().map(|list| list.0.clone()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> ApiError {
        let ends_session = err.ends_session(Refused::Access);
        ApiError {
            ends_session,
            ..problem_of(err)
        }
    }
}

fn problem_of(err: AuthError) -> ApiError {
    match err {
        AuthError::InvalidCredentials => ApiError {
            www_authenticate: Some(BEARER),
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::InvalidCredentials,
                "invalid email or password".to_owned(),
            )
        },
        AuthError::EmailTaken => ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::EmailTaken,
            "this email address is already registered".to_owned(),
        ),
        AuthError::Validation { field, message } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::ValidationFailed,
            format!("{field}: {message}"),
        ),
        AuthError::Unauthenticated => ApiError::unauthenticated(),
        AuthError::InvalidToken => ApiError::invalid_token(ProblemCode::Unauthenticated, "the token is not valid"),
        AuthError::TokenExpired => {
            ApiError::invalid_token(ProblemCode::TokenExpired, "the access token has expired; refresh it")
        }
        AuthError::SessionRevoked => {
            ApiError::invalid_token(ProblemCode::SessionRevoked, "the session has ended; log in again")
        }
        AuthError::RefreshReused => ApiError::invalid_token(
            ProblemCode::RefreshReused,
            "this refresh token was already used; the session has been revoked",
        ),
        AuthError::CsrfFailed(failure) => ApiError::csrf_failed(failure.detail()),
        AuthError::Forbidden => ApiError::forbidden(),
        AuthError::ReauthRequired { methods } => ApiError {
            methods: Some(Box::new(MethodList(
                methods.iter().copied().map(ReauthMethodView::from).collect(),
            ))),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                ProblemCode::ReauthRequired,
                "this operation needs a recent proof of your credentials: re-authenticate at POST /api/auth/reauth and retry".to_owned(),
            )
        },
        AuthError::RateLimited { retry_after_secs } => ApiError::rate_limited(retry_after_secs),
        AuthError::NotFound => ApiError::not_found(),
        AuthError::MailTokenInvalid => ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::TokenInvalid,
            "this link is not valid: it is unknown, expired, already used or for something else".to_owned(),
        ),
        AuthError::EmailUnverified => ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::EmailUnverified,
            "the email address is not verified yet: follow the link in the verification mail".to_owned(),
        ),
        AuthError::EmailAlreadyVerified => ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::EmailAlreadyVerified,
            "the email address is already verified".to_owned(),
        ),
        AuthError::MfaFailed => ApiError {
            www_authenticate: Some(BEARER),
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::MfaFailed,
                "the second factor was not accepted (wrong, used, or the login's challenge is over: log in again)"
                    .to_owned(),
            )
        },
        AuthError::Passkey(error) => passkey_problem(error),
        AuthError::Ceremony(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::WebauthnFailed,
            "this WebAuthn ceremony is unknown, already finished, expired or someone else's: start again".to_owned(),
        ),
        AuthError::PasskeyCounterRegressed { passkey_id } => {
            // A possible clone of a device-bound key: worth an operator's look. The id names the
            // row; no credential material is logged.
            tracing::warn!(%passkey_id, "passkey signature counter did not increase; assertion refused");
            webauthn_refused("the passkey's signature counter did not increase")
        }
        AuthError::MfaRequired => ApiError {
            www_authenticate: Some(BEARER),
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::MfaRequired,
                "this account needs two factors: use a passkey that verifies you (PIN or biometrics), or log in with the password and a second factor".to_owned(),
            )
        },
        AuthError::Store(err @ StoreError::Unavailable(_)) => {
            tracing::error!(error = %err, "storage unavailable; the request changed nothing");
            ApiError::storage_unavailable()
        }
        AuthError::Store(err) => {
            tracing::error!(error = %err, "storage failure");
            ApiError::internal()
        }
        AuthError::Internal(message) => {
            tracing::error!(error = %message, "internal failure");
            ApiError::internal()
        }
    }
}

/// 401 `webauthn_failed`: the response was well formed and does not verify.
fn webauthn_refused(detail: &str) -> ApiError {
    ApiError {
        www_authenticate: Some(BEARER),
        ..ApiError::new(StatusCode::UNAUTHORIZED, ProblemCode::WebauthnFailed, detail.to_owned())
    }
}

/// The relying party's errors (`docs/second-factors.md`, "Errors"). Their messages are fixed
/// strings that name no credential material.
fn passkey_problem(error: PasskeyError) -> ApiError {
    match error {
        PasskeyError::Unavailable(reason) => ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::PasskeysUnavailable,
            format!("passkeys are not available on this server: {reason}"),
        ),
        PasskeyError::Malformed(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, ProblemCode::WebauthnFailed, error.to_string())
        }
        PasskeyError::CounterRegressed => {
            // As `AuthError::PasskeyCounterRegressed`, where the relying party itself saw it (an
            // assertion by one of a known user's passkeys): worth an operator's look.
            tracing::warn!("passkey signature counter did not increase; assertion refused");
            webauthn_refused(&error.to_string())
        }
        PasskeyError::Rejected(_) | PasskeyError::UserNotVerified | PasskeyError::UnknownCredential => {
            webauthn_refused(&error.to_string())
        }
        PasskeyError::Internal(message) => {
            tracing::error!(error = %message, "WebAuthn state failure");
            ApiError::internal()
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::FORBIDDEN {
            // Why, for the operator: details name the rule that refused (and a refused origin),
            // never a token, cookie or password.
            tracing::warn!(code = ?self.code, detail = self.detail.as_deref().unwrap_or(""), "request refused");
        }
        let body = self.body().to_json_string();
        let mut response = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)
            .header(header::CACHE_CONTROL, "no-store")
            .body(body);
        if let Some(value) = self.www_authenticate {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        if let Some(allow) = self.allow.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<ApiError> for poem::Error {
    fn from(err: ApiError) -> poem::Error {
        let status = err.status;
        poem::Error::new(err, status)
    }
}

impl ApiResponse for ApiError {
    const BAD_REQUEST_HANDLER: bool = true;

    /// Nothing here: which problems an operation answers with depends on the operation, so
    /// [`documented::document_problems`] writes them into the spec from its declaration and the
    /// rules (one table for every operation would say GET /api/me can answer 409).
    fn meta() -> MetaResponses {
        MetaResponses { responses: vec![] }
    }

    fn register(registry: &mut Registry) {
        ProblemBody::register(registry);
    }

    fn from_parse_request_error(err: poem::Error) -> ApiError {
        from_poem_error(&err)
    }
}

/// Recovers our own error from a `poem::Error`, or classifies poem's.
pub fn from_poem_error(err: &poem::Error) -> ApiError {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone();
    }
    if err.is::<poem::error::CorsError>() {
        return ApiError::csrf_failed("cross-origin request refused");
    }
    let status = err.status();
    match status {
        StatusCode::NOT_FOUND => ApiError::not_found(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::method_not_allowed(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::ValidationFailed,
            "request body must be application/json".to_owned(),
        ),
        status if status.is_server_error() => {
            tracing::error!(error = %err, "unhandled server error");
            ApiError::internal()
        }
        // Parse and validation failures from poem-openapi. Their message names the field and the
        // rule, never a secret value (bodies are not echoed).
        _ => ApiError::validation(err.to_string()),
    }
}

/// Middleware: any `Err` from inner endpoints becomes a problem response (so outer middleware,
/// like the cookie jar, still runs) and a bare 404/405 from the router gets a problem body.
///
/// A cookie-authenticated request whose answer says the session is over (`session_revoked`,
/// `refresh_reused`, from wherever it was found out) also gets the auth cookies cleared.
pub async fn catch_all<E: poem::Endpoint>(next: E, req: poem::Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let allowed = req.data::<AllowedMethods>().cloned();
    let cookie_session = cookie_session(&req);
    match next.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) => {
            let mut problem = from_poem_error(&err);
            if problem.status == StatusCode::METHOD_NOT_ALLOWED {
                problem.allow = allowed.and_then(|table| table.for_path(&path));
            }
            if problem.ends_session
                && let Some((cookies, jar)) = cookie_session
            {
                cookies.clear_all(&jar);
            }
            Ok(problem.into_response())
        }
    }
}

/// The cookie factory and jar of a request that carries auth cookies and no `Authorization`
/// header (a Bearer request's failure says nothing about the cookies' session).
fn cookie_session(req: &poem::Request) -> Option<(crate::cookies::CookieFactory, poem::web::cookie::CookieJar)> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return None;
    }
    let cookies = req.data::<crate::cookies::CookieFactory>()?.clone();
    let jar = req.cookie().clone();
    let carries = [crate::cookies::AuthCookie::Access, crate::cookies::AuthCookie::Refresh]
        .into_iter()
        .any(|cookie| cookies.get(&jar, cookie).is_some());
    carries.then_some((cookies, jar))
}

/// The methods each path answers, for the `Allow` header of a 405 (RFC 9110 requires one). The
/// router builds it from the operations it serves ([`AllowedMethods::from_spec`]) and hands it to
/// [`catch_all`] as request data.
#[derive(Debug, Clone, Default)]
pub struct AllowedMethods {
    /// Each path template's segments, with its `Allow` value.
    routes: std::sync::Arc<Vec<(Vec<String>, String)>>,
}

impl AllowedMethods {
    /// From an OpenAPI document: each path's operations, and `HEAD` wherever there is a `GET`.
    pub fn from_spec(spec_json: &str) -> AllowedMethods {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let Some(paths) = spec.get("paths").and_then(serde_json::Value::as_object) else {
            return AllowedMethods::default();
        };
        let routes = paths
            .iter()
            .map(|(template, item)| {
                let segments = template.split('/').map(str::to_owned).collect();
                let mut methods: Vec<String> = item
                    .as_object()
                    .into_iter()
                    .flat_map(|ops| ops.keys())
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".to_owned());
                }
                (segments, methods.join(", "))
            })
            .collect();
        AllowedMethods {
            routes: std::sync::Arc::new(routes),
        }
    }

    /// The `Allow` value for `path`, if some operation serves it.
    pub fn for_path(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        self.routes.iter().find_map(|(template, allow)| {
            let matches = template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()));
            matches.then(|| allow.clone())
        })
    }
}

#[cfg(test)]
mod tests;
