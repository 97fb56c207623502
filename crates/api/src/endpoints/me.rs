//! The signed-in user: GET, PATCH and DELETE /api/me, the password, the security events and the
//! export.

use poem::web::cookie::CookieJar;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use tessera_auth_core::events::{EventKind, SecurityEvent};
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::export::{AccountExportView, export_file_name};
use super::text::Text;
use super::views::{RoleView, UserView, unix_to_datetime};
use crate::auth::{Authenticated, Credential};
use crate::client::Meta;
use crate::cookies::AuthCookie;
use crate::problem::documented::Declared;
use crate::problem::{ApiError, ProblemCode};
use crate::state::SharedState;

/// The caller's identity, read from the access token's claims alone.
#[derive(Debug, Object)]
pub struct MeResponse {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: RoleView,
    pub session_id: Uuid,
    /// When the access token expires.
    pub expires_at: OffsetDateTime,
    /// How the session's user last proved a credential (RFC 8176 values: `pwd`, `otp`, `hwk`,
    /// `swk`, `user`, `mfa`).
    pub amr: Vec<String>,
    /// When they did: the login, or the last re-authentication (POST /api/auth/reauth).
    pub auth_time: OffsetDateTime,
    /// Whether the address was verified when the access token was issued (a verification shows
    /// from the next refresh).
    pub email_verified: bool,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub name: Text,
}

#[derive(Debug, Object)]
pub struct ProfileResponse {
    pub user: UserView,
    /// A re-issued access token carrying the new profile, for Bearer callers only (cookie
    /// callers get a new `__Host-access` cookie instead).
    #[oai(skip_serializing_if_is_none)]
    pub access_token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum EventKindView {
    AccountCreated,
    LoginSucceeded,
    LoginFailed,
    Logout,
    SessionRevoked,
    AllSessionsRevoked,
    RefreshReuseDetected,
    PasswordChanged,
    UserDisabled,
    Reauthenticated,
    PasswordResetRequested,
    PasswordReset,
    EmailVerified,
    EmailChanged,
    // Only in the administrators' list of deleted accounts.
    AccountDeleted,
    MfaEnabled,
    MfaDisabled,
    MfaFailed,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    PasskeyAdded,
    PasskeyRemoved,
}

impl From<EventKind> for EventKindView {
    fn from(kind: EventKind) -> EventKindView {
        match kind {
            EventKind::AccountCreated => EventKindView::AccountCreated,
            EventKind::LoginSucceeded => EventKindView::LoginSucceeded,
            EventKind::LoginFailed => EventKindView::LoginFailed,
            EventKind::Logout => EventKindView::Logout,
            EventKind::SessionRevoked => EventKindView::SessionRevoked,
            EventKind::AllSessionsRevoked => EventKindView::AllSessionsRevoked,
            EventKind::RefreshReuseDetected => EventKindView::RefreshReuseDetected,
            EventKind::PasswordChanged => EventKindView::PasswordChanged,
            EventKind::UserDisabled => EventKindView::UserDisabled,
            EventKind::Reauthenticated => EventKindView::Reauthenticated,
            EventKind::PasswordResetRequested => EventKindView::PasswordResetRequested,
            EventKind::PasswordReset => EventKindView::PasswordReset,
            EventKind::EmailVerified => EventKindView::EmailVerified,
            EventKind::EmailChanged => EventKindView::EmailChanged,
            EventKind::AccountDeleted => EventKindView::AccountDeleted,
            EventKind::MfaEnabled => EventKindView::MfaEnabled,
            EventKind::MfaDisabled => EventKindView::MfaDisabled,
            EventKind::MfaFailed => EventKindView::MfaFailed,
            EventKind::RecoveryCodeUsed => EventKindView::RecoveryCodeUsed,
            EventKind::RecoveryCodesRegenerated => EventKindView::RecoveryCodesRegenerated,
            EventKind::PasskeyAdded => EventKindView::PasskeyAdded,
            EventKind::PasskeyRemoved => EventKindView::PasskeyRemoved,
        }
    }
}

/// Something that happened to the account.
#[derive(Debug, Object)]
#[oai(rename = "SecurityEvent")]
pub struct SecurityEventView {
    pub id: Uuid,
    pub kind: EventKindView,
    pub at: OffsetDateTime,
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub session_id: Option<Uuid>,
}

impl From<SecurityEvent> for SecurityEventView {
    fn from(event: SecurityEvent) -> SecurityEventView {
        SecurityEventView {
            id: event.id,
            kind: event.kind.into(),
            at: event.at,
            ip: event.ip,
            user_agent: event.user_agent,
            session_id: event.session_id,
        }
    }
}

#[derive(Debug, Object)]
pub struct SecurityEventList {
    pub items: Vec<SecurityEventView>,
    /// Pass as `cursor` to get older events; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[oai(validator(max_length = 256), write_only)]
    pub current_password: Text,
    /// 12 to 256 characters; very common or guessable passwords are refused.
    #[oai(validator(max_length = 256), write_only)]
    pub new_password: Text,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    #[oai(validator(max_length = 254))]
    pub new_email: Text,
    #[oai(validator(max_length = 256), write_only)]
    pub current_password: Text,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    #[oai(validator(max_length = 256), write_only)]
    pub current_password: Text,
}

#[derive(ApiResponse)]
pub enum ResendVerificationResponse {
    /// A new verification link is on its way to the account's address.
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
pub enum ChangeEmailResponse {
    /// A confirmation link is on its way to the new address and a notice to the old one.
    /// Nothing changes until the link is used.
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
pub enum DeleteMeResponse {
    /// The account and everything that was the caller's are deleted; every session has ended
    /// and the auth cookies are cleared.
    #[oai(status = 204)]
    Deleted(#[oai(header = "Clear-Site-Data")] String),
}

#[derive(ApiResponse)]
pub enum ExportResponse {
    /// The caller's data, as a file to save.
    #[oai(status = 200)]
    Ok(
        Json<AccountExportView>,
        /// `attachment; filename="tessera-export-<date>.json"`.
        #[oai(header = "Content-Disposition")]
        String,
        /// `no-store`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum GetMeResponse {
    /// The caller.
    #[oai(status = 200)]
    Ok(Json<MeResponse>),
}

#[derive(ApiResponse)]
pub enum UpdateMeResponse {
    /// Updated; the access token is re-issued with the new name.
    #[oai(status = 200)]
    Ok(Json<ProfileResponse>),
}

#[derive(ApiResponse)]
pub enum ChangePasswordResponse {
    /// Changed. Every other session of the caller has ended; this one stays.
    #[oai(status = 204)]
    Changed,
}

#[derive(ApiResponse)]
pub enum ListEventsResponse {
    /// A page of the caller's security events, newest first.
    #[oai(status = 200)]
    Ok(Json<SecurityEventList>),
}

/// The problems these handlers return themselves, by operation id (input, authentication,
/// origin, rate-limit and header problems are added by rule: `problem::documented`).
pub const PROBLEMS: Declared = &[
    // From the token's claims alone: nothing beyond authentication.
    ("get_me", &[]),
    (
        "update_me",
        &[ProblemCode::ValidationFailed, ProblemCode::StorageUnavailable],
    ),
    (
        "change_password",
        &[
            ProblemCode::ReauthRequired,
            ProblemCode::ValidationFailed,
            ProblemCode::RateLimited,
            ProblemCode::StorageUnavailable,
        ],
    ),
    ("list_my_events", &[ProblemCode::StorageUnavailable]),
    (
        "delete_me",
        &[
            ProblemCode::ReauthRequired,
            ProblemCode::ValidationFailed,
            ProblemCode::RateLimited,
            ProblemCode::StorageUnavailable,
        ],
    ),
    ("export_me", &[ProblemCode::StorageUnavailable]),
    (
        "resend_verification",
        &[
            ProblemCode::RateLimited,
            ProblemCode::EmailAlreadyVerified,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "change_email",
        &[
            ProblemCode::ReauthRequired,
            ProblemCode::ValidationFailed,
            ProblemCode::EmailTaken,
            ProblemCode::RateLimited,
            ProblemCode::StorageUnavailable,
        ],
    ),
];

pub struct MeApi;

#[OpenApi(tag = "ApiTags::Me")]
impl MeApi {
    /// Who am I? Answered from the access token alone, with no database read.
    #[oai(path = "/api/me", method = "get", operation_id = "get_me")]
    async fn get_me(&self, caller: Authenticated) -> Result<GetMeResponse, ApiError> {
        let claims = caller.claims;
        let role = claims
            .role()
            .map(RoleView::from)
            .ok_or_else(ApiError::unauthenticated)?;
        Ok(GetMeResponse::Ok(Json(MeResponse {
            id: claims.sub,
            email: claims.email,
            name: claims.name,
            role,
            session_id: claims.sid,
            expires_at: unix_to_datetime(claims.exp),
            auth_time: unix_to_datetime(claims.auth_time),
            amr: claims.amr,
            email_verified: claims.email_verified,
        })))
    }

    /// Change the display name.
    #[oai(path = "/api/me", method = "patch", operation_id = "update_me")]
    async fn update_me(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        body: Json<UpdateProfileRequest>,
    ) -> Result<UpdateMeResponse, ApiError> {
        let reissued = state.service.update_name(&caller.claims, body.name.as_str()).await?;
        let access_token = match caller.via {
            Credential::Cookie => {
                let now = state.service.now();
                state.cookies.set(
                    jar,
                    AuthCookie::Access,
                    &reissued.access_token,
                    now,
                    reissued.access_expires_at,
                );
                None
            }
            Credential::Bearer => Some(reissued.access_token),
        };
        Ok(UpdateMeResponse::Ok(Json(ProfileResponse {
            user: UserView::from(&reissued.user),
            access_token,
        })))
    }

    /// Delete the account, after checking the current password. Everything that is the
    /// caller's goes (sessions, security events, passkeys, second factors); administrators keep
    /// one `account_deleted` record naming the account by id. Every session ends at once.
    #[oai(path = "/api/me", method = "delete", operation_id = "delete_me")]
    async fn delete_me(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        Meta(meta): Meta,
        body: Json<DeleteAccountRequest>,
    ) -> Result<DeleteMeResponse, ApiError> {
        state
            .service
            .delete_account(&caller.claims, body.current_password.as_str(), &meta)
            .await?;
        state.cookies.clear_all(jar);
        Ok(DeleteMeResponse::Deleted("\"cookies\"".to_owned()))
    }

    /// Download everything public about the account as JSON: the user, live sessions, every
    /// security event, passkeys and second factors. No password hash, secret or token.
    #[oai(path = "/api/me/export", method = "get", operation_id = "export_me")]
    async fn export_me(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
    ) -> Result<ExportResponse, ApiError> {
        let export = state.service.export_account(&caller.claims).await?;
        let disposition = format!("attachment; filename=\"{}\"", export_file_name(state.service.now()));
        Ok(ExportResponse::Ok(
            Json(AccountExportView::from(export)),
            disposition,
            "no-store".to_owned(),
        ))
    }

    /// Change password. Every other session ends; this one stays.
    ///
    /// Needs a recent proof of a credential: a session that last proved one longer ago than
    /// `TESSERA_REAUTH_MAX_AGE` gets 403 `reauth_required` (re-authenticate at POST
    /// /api/auth/reauth, then retry).
    #[oai(path = "/api/me/password", method = "post", operation_id = "change_password")]
    async fn change_password(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        body: Json<ChangePasswordRequest>,
    ) -> Result<ChangePasswordResponse, ApiError> {
        state
            .service
            .change_password(
                &caller.claims,
                body.current_password.as_str(),
                body.new_password.as_str(),
                &meta,
            )
            .await?;
        Ok(ChangePasswordResponse::Changed)
    }

    /// Send the verification mail again.
    ///
    /// At most one a minute (429 `rate_limited` with `Retry-After`); 409
    /// `email_already_verified` when the address is verified already.
    #[oai(
        path = "/api/me/email/verification",
        method = "post",
        operation_id = "resend_verification"
    )]
    async fn resend_verification(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
    ) -> Result<ResendVerificationResponse, ApiError> {
        state.service.resend_verification(&caller.claims).await?;
        Ok(ResendVerificationResponse::Accepted)
    }

    /// Change the account's address: a confirmation link goes to the new address and a notice
    /// to the old one; nothing changes until the link is used.
    ///
    /// A wrong `current_password` is 422 `validation_failed` (counted toward the account's
    /// backoff); an address another account has is 409 `email_taken`; at most one request a
    /// minute (429).
    #[oai(path = "/api/me/email", method = "post", operation_id = "change_email")]
    async fn change_email(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        body: Json<ChangeEmailRequest>,
    ) -> Result<ChangeEmailResponse, ApiError> {
        state
            .service
            .request_email_change(
                &caller.claims,
                body.new_email.as_str(),
                body.current_password.as_str(),
                &meta,
            )
            .await?;
        Ok(ChangeEmailResponse::Accepted)
    }

    /// The caller's security events (logins, failed logins, revocations, refresh-token reuse,
    /// password changes), newest first.
    #[oai(path = "/api/me/events", method = "get", operation_id = "list_my_events")]
    async fn list_events(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Uuid>>,
        /// Page size, 1 to 100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u64>>,
    ) -> Result<ListEventsResponse, ApiError> {
        let page = state.service.list_events(&caller.claims, cursor.0, limit.0).await?;
        Ok(ListEventsResponse::Ok(Json(SecurityEventList {
            items: page.items.into_iter().map(SecurityEventView::from).collect(),
            next_cursor: page.next_cursor,
        })))
    }
}
