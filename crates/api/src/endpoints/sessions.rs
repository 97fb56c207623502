//! The caller's sessions and security events, logout everywhere and password change.

use poem::web::cookie::CookieJar;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use tessera_auth_core::events::{EventKind, SecurityEvent};
use tessera_auth_core::service::ActiveSession;
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::text::Text;
use crate::auth::Authenticated;
use crate::client::Meta;
use crate::problem::ApiError;
use crate::state::SharedState;

/// A live session (one login on one device).
#[derive(Debug, Object)]
#[oai(rename = "SessionInfo")]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    /// When the session ends unless refreshed.
    pub expires_at: OffsetDateTime,
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

impl From<ActiveSession> for SessionInfo {
    fn from(active: ActiveSession) -> SessionInfo {
        let record = active.record;
        SessionInfo {
            id: record.id,
            created_at: record.created_at,
            last_used_at: record.last_used_at,
            expires_at: active.expires_at,
            user_agent: record.user_agent,
            ip: record.ip,
            current: active.current,
        }
    }
}

#[derive(Debug, Object)]
pub struct SessionList {
    pub items: Vec<SessionInfo>,
    /// Always absent: every live session fits in one response.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<Uuid>,
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

#[derive(ApiResponse)]
pub enum ListSessionsResponse {
    #[oai(status = 200)]
    Ok(Json<SessionList>),
}

#[derive(ApiResponse)]
pub enum ListEventsResponse {
    #[oai(status = 200)]
    Ok(Json<SecurityEventList>),
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
pub enum SessionsEnded {
    /// Every session ended; the auth cookies are cleared.
    #[oai(status = 204)]
    LoggedOut(#[oai(header = "Clear-Site-Data")] String),
}

pub struct SessionsApi;

#[OpenApi(tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// The caller's live sessions, most recently used first; the current one is flagged.
    #[oai(path = "/api/sessions", method = "get", operation_id = "list_sessions")]
    async fn list_sessions(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
    ) -> Result<ListSessionsResponse, ApiError> {
        let sessions = state.service.list_sessions(&caller.claims).await?;
        let items = sessions.into_iter().map(SessionInfo::from).collect();
        Ok(ListSessionsResponse::Ok(Json(SessionList {
            items,
            next_cursor: None,
        })))
    }

    /// End one of the caller's sessions (another device). Ids of other users' sessions are 404.
    #[oai(path = "/api/sessions/:id", method = "delete", operation_id = "revoke_session")]
    async fn revoke_session(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        Meta(meta): Meta,
        id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        state.service.revoke_own_session(&caller.claims, id.0, &meta).await?;
        if id.0 == caller.claims.sid {
            state.cookies.clear_all(jar);
        }
        Ok(Done::Done)
    }

    /// Log out everywhere: end every session of the caller, this one included.
    #[oai(path = "/api/auth/logout-all", method = "post", operation_id = "logout_all")]
    async fn logout_all(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        Meta(meta): Meta,
    ) -> Result<SessionsEnded, ApiError> {
        state.service.logout_all(&caller.claims, &meta).await?;
        state.cookies.clear_all(jar);
        Ok(SessionsEnded::LoggedOut("\"cookies\"".to_owned()))
    }

    /// Change password. Every other session ends; this one stays.
    #[oai(path = "/api/me/password", method = "post", operation_id = "change_password")]
    async fn change_password(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        body: Json<ChangePasswordRequest>,
    ) -> Result<Done, ApiError> {
        state
            .service
            .change_password(
                &caller.claims,
                body.current_password.as_str(),
                body.new_password.as_str(),
                &meta,
            )
            .await?;
        Ok(Done::Done)
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
