//! User administration (role `admin` in the access token).

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tessera_auth_core::AuthError;
use tessera_auth_core::account::AccountDeletion;
use tessera_auth_core::ports::MailQueue;
use tessera_auth_core::service::UserChange;
use tessera_auth_core::user::{Role, User};
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::me::EventKindView;
use super::views::RoleView;
use crate::auth::Authenticated;
use crate::client::Meta;
use crate::problem::documented::Declared;
use crate::problem::{ApiError, ProblemCode};
use crate::state::SharedState;

/// A user as administrators see it.
#[derive(Debug, Object)]
#[oai(rename = "AdminUser")]
pub struct AdminUserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: RoleView,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

impl From<&User> for AdminUserView {
    fn from(user: &User) -> AdminUserView {
        AdminUserView {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.into(),
            disabled: user.disabled,
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct AdminUserList {
    pub items: Vec<AdminUserView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<Uuid>,
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AdminUserUpdate {
    // Changing the role ends the user's sessions, so their next tokens carry the new role.
    // (Not a doc comment: it would wrap the enum `$ref` in `allOf`.)
    pub role: MaybeUndefined<RoleView>,
    /// Disabling ends every session of the user at once.
    pub disabled: MaybeUndefined<bool>,
}

/// The mail queue (DESIGN.md "Mail"): how many messages wait, were given up or were sent.
#[derive(Debug, Object)]
#[oai(rename = "AdminMailQueue")]
pub struct AdminMailView {
    /// Waiting for delivery: new, being sent, or waiting for a retry after a failure.
    pub queued: u64,
    /// Given up (undeliverable, or still failing 24 hours after being queued).
    pub failed: u64,
    /// Sent within the last 7 days (older sent messages are deleted).
    pub sent: u64,
    /// When the oldest queued message was queued; absent when none is queued.
    #[oai(skip_serializing_if_is_none)]
    pub oldest_queued_at: Option<OffsetDateTime>,
    /// How long, in seconds, the oldest queued message has waited; absent when none is queued.
    #[oai(skip_serializing_if_is_none)]
    pub oldest_queued_age_seconds: Option<u64>,
}

/// The record a deleted account left (event `account_deleted`): which account, when, from where.
/// Nothing else about the account is kept.
#[derive(Debug, Object)]
#[oai(rename = "AccountDeletion")]
pub struct AccountDeletionView {
    /// The event's id.
    pub id: Uuid,
    // Always `account_deleted`. (Not a doc comment: it would wrap the enum `$ref` in `allOf`.)
    pub kind: EventKindView,
    /// The deleted account's id (as `GET /api/admin/users` showed it).
    pub account_id: Uuid,
    pub at: OffsetDateTime,
    /// Of the deletion request.
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    /// The account's session the deletion was requested with.
    #[oai(skip_serializing_if_is_none)]
    pub session_id: Option<Uuid>,
}

impl From<AccountDeletion> for AccountDeletionView {
    fn from(deletion: AccountDeletion) -> AccountDeletionView {
        AccountDeletionView {
            id: deletion.event_id,
            kind: EventKindView::AccountDeleted,
            account_id: deletion.account_id,
            at: deletion.at,
            ip: deletion.ip,
            user_agent: deletion.user_agent,
            session_id: deletion.session_id,
        }
    }
}

#[derive(Debug, Object)]
pub struct AccountDeletionList {
    pub items: Vec<AccountDeletionView>,
    /// Pass as `cursor` for older records; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<Uuid>,
}

#[derive(ApiResponse)]
pub enum ListAccountDeletionsResponse {
    /// A page of deleted accounts' records, newest first.
    #[oai(status = 200)]
    Ok(Json<AccountDeletionList>),
}

#[derive(ApiResponse)]
pub enum MailQueueResponse {
    /// The mail queue's counts.
    #[oai(status = 200)]
    Ok(Json<AdminMailView>),
}

#[derive(ApiResponse)]
pub enum ListUsersResponse {
    /// A page of users, in creation order.
    #[oai(status = 200)]
    Ok(Json<AdminUserList>),
}

#[derive(ApiResponse)]
pub enum AdminRevokeSessionsResponse {
    /// Every session of the user has ended.
    #[oai(status = 204)]
    Revoked,
}

#[derive(ApiResponse)]
pub enum UpdateUserResponse {
    /// The user after the change.
    #[oai(status = 200)]
    Ok(Json<AdminUserView>),
}

/// Absent means "leave as is"; `null` is not a value either field can take.
fn present<T: Copy>(field: &str, value: &MaybeUndefined<T>) -> Result<Option<T>, ApiError> {
    match value {
        MaybeUndefined::Value(value) => Ok(Some(*value)),
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(ApiError::validation(format!(
            "{field} must not be null; omit it to leave it unchanged"
        ))),
    }
}

fn role_of(view: RoleView) -> Role {
    match view {
        RoleView::User => Role::User,
        RoleView::Admin => Role::Admin,
    }
}

/// The problems these handlers return themselves, by operation id (input, authentication,
/// origin, rate-limit and header problems are added by rule: `problem::documented`).
pub const PROBLEMS: Declared = &[
    (
        "admin_list_users",
        &[ProblemCode::Forbidden, ProblemCode::StorageUnavailable],
    ),
    (
        "admin_update_user",
        &[
            ProblemCode::Forbidden,
            ProblemCode::ReauthRequired,
            ProblemCode::NotFound,
            ProblemCode::ValidationFailed,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "admin_list_account_deletions",
        &[ProblemCode::Forbidden, ProblemCode::StorageUnavailable],
    ),
    (
        "admin_mail_queue",
        &[ProblemCode::Forbidden, ProblemCode::StorageUnavailable],
    ),
    (
        "admin_revoke_sessions",
        &[
            ProblemCode::Forbidden,
            ProblemCode::NotFound,
            ProblemCode::StorageUnavailable,
        ],
    ),
];

pub struct AdminApi;

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminApi {
    /// All users, in creation order.
    #[oai(path = "/api/admin/users", method = "get", operation_id = "admin_list_users")]
    async fn list_users(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Uuid>>,
        /// Page size, 1 to 100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u64>>,
    ) -> Result<ListUsersResponse, ApiError> {
        caller.require_admin()?;
        let page = state
            .service
            .admin_list_users(&caller.claims, cursor.0, limit.0)
            .await?;
        Ok(ListUsersResponse::Ok(Json(AdminUserList {
            items: page.items.iter().map(AdminUserView::from).collect(),
            next_cursor: page.next_cursor,
        })))
    }

    /// Deleted accounts: the one `account_deleted` event each deletion keeps (account id, time,
    /// IP, user agent, session), newest first.
    #[oai(
        path = "/api/admin/account-deletions",
        method = "get",
        operation_id = "admin_list_account_deletions"
    )]
    async fn list_account_deletions(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Uuid>>,
        /// Page size, 1 to 100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u64>>,
    ) -> Result<ListAccountDeletionsResponse, ApiError> {
        caller.require_admin()?;
        let page = state
            .service
            .admin_list_account_deletions(&caller.claims, cursor.0, limit.0)
            .await?;
        Ok(ListAccountDeletionsResponse::Ok(Json(AccountDeletionList {
            items: page.items.into_iter().map(AccountDeletionView::from).collect(),
            next_cursor: page.next_cursor,
        })))
    }

    /// Change a user's role or disable/enable the account.
    ///
    /// A request that changes either needs the caller's recent proof of a credential (403
    /// `reauth_required` otherwise: re-authenticate at POST /api/auth/reauth, then retry).
    #[oai(path = "/api/admin/users/:id", method = "patch", operation_id = "admin_update_user")]
    async fn update_user(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        id: Path<Uuid>,
        body: Json<AdminUserUpdate>,
    ) -> Result<UpdateUserResponse, ApiError> {
        caller.require_admin()?;
        let change = UserChange {
            role: present("role", &body.role)?.map(role_of),
            disabled: present("disabled", &body.disabled)?,
        };
        let user = state
            .service
            .admin_update_user(&caller.claims, id.0, change, &meta)
            .await?;
        Ok(UpdateUserResponse::Ok(Json(AdminUserView::from(&user))))
    }

    /// The mail queue: queued, failed and sent counts, and how long the oldest queued message has
    /// waited. Mail health is also in the server log.
    #[oai(path = "/api/admin/mail", method = "get", operation_id = "admin_mail_queue")]
    async fn mail_queue(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
    ) -> Result<MailQueueResponse, ApiError> {
        caller.require_admin()?;
        let stats = state.store.mail_stats().await.map_err(AuthError::from)?;
        let now = state.clock.now();
        let age = stats
            .oldest_queued_at
            .map(|at| u64::try_from((now - at).whole_seconds()).unwrap_or(0));
        Ok(MailQueueResponse::Ok(Json(AdminMailView {
            queued: stats.queued,
            failed: stats.failed,
            sent: stats.sent,
            oldest_queued_at: stats.oldest_queued_at,
            oldest_queued_age_seconds: age,
        })))
    }

    /// End every session of a user.
    #[oai(
        path = "/api/admin/users/:id/revoke-sessions",
        method = "post",
        operation_id = "admin_revoke_sessions"
    )]
    async fn revoke_sessions(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        id: Path<Uuid>,
    ) -> Result<AdminRevokeSessionsResponse, ApiError> {
        caller.require_admin()?;
        state.service.admin_revoke_sessions(&caller.claims, id.0, &meta).await?;
        Ok(AdminRevokeSessionsResponse::Revoked)
    }
}
