//! The caller's sessions (devices): list them, end one.

use poem::web::cookie::CookieJar;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tessera_auth_core::service::ActiveSession;
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use crate::auth::Authenticated;
use crate::client::Meta;
use crate::problem::documented::Declared;
use crate::problem::{ApiError, ProblemCode};
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

#[derive(ApiResponse)]
pub enum ListSessionsResponse {
    /// The caller's live sessions.
    #[oai(status = 200)]
    Ok(Json<SessionList>),
}

#[derive(ApiResponse)]
pub enum RevokeSessionResponse {
    /// The session has ended. When it was the caller's own, the auth cookies are cleared.
    #[oai(status = 204)]
    Revoked,
}

/// The problems these handlers return themselves, by operation id (input, authentication,
/// origin, rate-limit and header problems are added by rule: `problem::documented`).
pub const PROBLEMS: Declared = &[
    ("list_sessions", &[ProblemCode::StorageUnavailable]),
    (
        "revoke_session",
        &[ProblemCode::NotFound, ProblemCode::StorageUnavailable],
    ),
];

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
    ) -> Result<RevokeSessionResponse, ApiError> {
        state.service.revoke_own_session(&caller.claims, id.0, &meta).await?;
        if id.0 == caller.claims.sid {
            state.cookies.clear_all(jar);
        }
        Ok(RevokeSessionResponse::Revoked)
    }
}
