//! User administration. Every method checks the caller's role with [`require_admin`].

use time::OffsetDateTime;
use uuid::Uuid;

use super::sessions::{Page, clamp_limit};
use super::{AuthService, validation};
use crate::access::AccessClaims;
use crate::account::AccountDeletion;
use crate::error::AuthError;
use crate::events::RequestMeta;
use crate::session::RevocationReason;
use crate::user::{Role, User};

/// What an administrator may change about a user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// The admin-role rule, written once: the api checks it before calling anything admin-only, and
/// every admin method here checks it again, so the rule holds whatever the caller.
pub fn require_admin(caller: &AccessClaims) -> Result<(), AuthError> {
    match caller.role() {
        Some(Role::Admin) => Ok(()),
        Some(Role::User) | None => Err(AuthError::Forbidden),
    }
}

impl AuthService {
    /// All users in creation order.
    pub async fn admin_list_users(
        &self,
        caller: &AccessClaims,
        after: Option<Uuid>,
        limit: Option<u64>,
    ) -> Result<Page<User>, AuthError> {
        require_admin(caller)?;
        let limit = clamp_limit(limit, 50);
        let rows = self.store.list_users(after, limit + 1).await?;
        Ok(Page::from_overfetch(rows, limit, |user| user.id))
    }

    /// The records of deleted accounts (`account_deleted`), newest first.
    pub async fn admin_list_account_deletions(
        &self,
        caller: &AccessClaims,
        before: Option<Uuid>,
        limit: Option<u64>,
    ) -> Result<Page<AccountDeletion>, AuthError> {
        require_admin(caller)?;
        let limit = clamp_limit(limit, 50);
        let rows = self.store.list_account_deletions(before, limit + 1).await?;
        Ok(Page::from_overfetch(rows, limit, |deletion| deletion.event_id))
    }

    /// Changes role and/or disabled state.
    ///
    /// - Disabling ends every session of the user at once (and records `user_disabled`).
    /// - A role change also ends the user's sessions: the role travels in access tokens, and a
    ///   demotion must not wait for them to expire. The user logs in again with the new role.
    /// - Administrators cannot disable or demote themselves, so the last one cannot lock everyone out.
    /// - A change of either (not a request that leaves both as they are) needs the caller's
    ///   recent proof of a credential (`ReauthRequired`, see `reauth`).
    pub async fn admin_update_user(
        &self,
        caller: &AccessClaims,
        user_id: Uuid,
        change: UserChange,
        meta: &RequestMeta,
    ) -> Result<User, AuthError> {
        require_admin(caller)?;
        if user_id == caller.sub && (change.disabled == Some(true) || change.role == Some(Role::User)) {
            return Err(validation("id", "administrators cannot disable or demote themselves"));
        }
        let mut user = self.store.find_user(user_id).await?.ok_or(AuthError::NotFound)?;
        let role_changes = change.role.is_some_and(|role| role != user.role);
        let disabled_changes = change.disabled.is_some_and(|disabled| disabled != user.disabled);
        if role_changes || disabled_changes {
            let admin = self.store.find_user(caller.sub).await?;
            let Some(admin) = admin else {
                return Err(self.caller_gone(caller, self.now()).await);
            };
            self.require_recent_auth(caller, &admin).await?;
        }
        let now = self.now();
        if let Some(role) = change.role.filter(|role| *role != user.role) {
            user = self
                .store
                .update_user_role(user_id, role, now)
                .await?
                .ok_or(AuthError::NotFound)?;
            self.admin_end_sessions(user_id, now, meta).await?;
        }
        if let Some(disabled) = change.disabled.filter(|disabled| *disabled != user.disabled) {
            let changed = self
                .store
                .set_user_disabled(user_id, disabled, now, meta)
                .await?
                .ok_or(AuthError::NotFound)?;
            self.revoke_all_locally(changed.revoked_sessions, now).await;
            user = changed.user;
        }
        Ok(user)
    }

    /// Ends every session of a user.
    pub async fn admin_revoke_sessions(
        &self,
        caller: &AccessClaims,
        user_id: Uuid,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        require_admin(caller)?;
        self.admin_end_sessions(user_id, self.now(), meta).await
    }

    /// Ends every session of `user_id` as an administrator's act (`NotFound` for no such user).
    async fn admin_end_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        self.end_user_sessions(user_id, RevocationReason::AdminRevoked, now, meta, None)
            .await?
            .ok_or(AuthError::NotFound)
    }
}
