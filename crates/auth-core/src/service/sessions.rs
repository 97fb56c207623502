//! A user's own sessions and security history: list and revoke sessions, log out everywhere,
//! change password (which ends every other session), read security events.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{AuthService, Guess, validation};
use crate::access::AccessClaims;
use crate::error::AuthError;
use crate::events::{EventKind, RequestMeta, SecurityEvent};
use crate::password;
use crate::session::{RevocationReason, SessionRecord};

/// Largest page any list endpoint returns.
pub const MAX_PAGE: u64 = 100;

/// One page of a keyset-paginated list: pass `next_cursor` back to get the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Uuid>,
}

impl<T> Page<T> {
    /// `rows` was fetched with `limit + 1`: the extra row only says that another page exists.
    pub(super) fn from_overfetch(mut rows: Vec<T>, limit: u64, cursor_of: impl Fn(&T) -> Uuid) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(cursor_of) } else { None };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

pub(super) fn clamp_limit(requested: Option<u64>, default: u64) -> u64 {
    requested.unwrap_or(default).clamp(1, MAX_PAGE)
}

/// A live session as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    pub record: SessionRecord,
    /// When it ends unless refreshed (earlier of idle and absolute expiry).
    pub expires_at: OffsetDateTime,
    /// The session the request was made with.
    pub current: bool,
}

impl AuthService {
    /// The caller's live sessions, most recently used first. `SessionRevoked` when the caller's
    /// own session is not among them: it has ended (its account deleted, or past its absolute
    /// lifetime while the access token lives on).
    pub async fn list_sessions(&self, caller: &AccessClaims) -> Result<Vec<ActiveSession>, AuthError> {
        let now = self.now();
        let sessions = self
            .store
            .list_active_sessions(caller.sub, now, self.policy.idle_ttl)
            .await?;
        if !sessions.iter().any(|session| session.id == caller.sid) {
            return Err(self.caller_gone(caller, now).await);
        }
        Ok(sessions
            .into_iter()
            .map(|record| ActiveSession {
                expires_at: record.expires_at(&self.policy),
                current: record.id == caller.sid,
                record,
            })
            .collect())
    }

    /// Revokes one of the caller's own live sessions. Another user's session, an unknown id and
    /// an already-ended session are all `NotFound`, so ids of other users cannot be probed. A
    /// caller whose account no longer exists: `SessionRevoked`.
    pub async fn revoke_own_session(
        &self,
        caller: &AccessClaims,
        session_id: Uuid,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let now = self.now();
        let owned = self
            .store
            .find_session(session_id)
            .await?
            .filter(|s| s.user_id == caller.sub);
        let revoked = match owned {
            Some(_) => {
                self.store
                    .revoke_session(
                        session_id,
                        RevocationReason::RevokedByUser,
                        now,
                        meta,
                        EventKind::SessionRevoked,
                    )
                    .await?
            }
            None => None,
        };
        if revoked.is_none() {
            // Only on this failure path: tell a deleted account from a wrong id.
            if self.store.find_user(caller.sub).await?.is_none() {
                return Err(self.caller_gone(caller, now).await);
            }
            return Err(AuthError::NotFound);
        }
        self.revoke_locally(session_id, now).await;
        Ok(())
    }

    /// Ends every session of the caller, the current one included. A caller whose account no
    /// longer exists has no session left to end: `SessionRevoked`.
    pub async fn logout_all(&self, caller: &AccessClaims, meta: &RequestMeta) -> Result<(), AuthError> {
        let now = self.now();
        let ended = self
            .end_user_sessions(caller.sub, RevocationReason::LogoutAll, now, meta, Some(caller.sid))
            .await?;
        if ended.is_none() {
            return Err(self.caller_gone(caller, now).await);
        }
        Ok(())
    }

    /// "Revoke every session of the user, then revoke locally", written once: the store revokes
    /// every live session of `user_id` and records one `all_sessions_revoked` (naming `current`,
    /// the caller's own session when the user acts), then each revoked session, and `current`,
    /// has its access tokens refused here and announced to the other instances. `None`: no such
    /// user (nothing written).
    pub(super) async fn end_user_sessions(
        &self,
        user_id: Uuid,
        reason: RevocationReason,
        now: OffsetDateTime,
        meta: &RequestMeta,
        current: Option<Uuid>,
    ) -> Result<Option<()>, AuthError> {
        let revoked = self
            .store
            .revoke_user_sessions(user_id, reason, now, meta, EventKind::AllSessionsRevoked, current)
            .await?;
        let Some(revoked) = revoked else {
            return Ok(None);
        };
        self.revoke_all_locally(revoked.into_iter().chain(current), now).await;
        Ok(Some(()))
    }

    /// The caller's session is over although its access token is still valid, typically because
    /// the account no longer exists (deleted behind Tessera's back). Refuses the session's access
    /// tokens from now on and returns the error to answer.
    pub(super) async fn caller_gone(&self, caller: &AccessClaims, now: OffsetDateTime) -> AuthError {
        self.revoke_locally(caller.sid, now).await;
        AuthError::SessionRevoked
    }

    /// Checks the current password (throttled, see `credentials`), applies the policy to the new
    /// one, stores it and ends every other session (the current one stays, so the user is not
    /// logged out of the tab they used).
    pub async fn change_password(
        &self,
        caller: &AccessClaims,
        current_password: &str,
        new_password: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let Some(user) = self.store.find_user(caller.sub).await? else {
            return Err(self.caller_gone(caller, self.now()).await);
        };
        if user.disabled {
            return Err(AuthError::SessionRevoked);
        }
        // Throttled like a login, and counted toward the same backoff: an access token must not
        // buy unlimited guesses at the password.
        let guess = self
            .verify_password_throttled(&user, current_password, meta, Some(caller.sid))
            .await?;
        if guess == Guess::Wrong {
            return Err(validation("current_password", "is not correct"));
        }
        let local_part = user.email.rsplit_once('@').map_or("", |(local, _)| local);
        password::check_policy(new_password, &[user.email.as_str(), local_part, user.name.as_str()])
            .map_err(|violation| validation("new_password", violation.to_string()))?;
        let hash = self
            .passwords
            .hash(new_password.to_owned())
            .await
            .map_err(super::password_fault)?;
        let now = self.now();
        let Some(revoked) = self
            .store
            .change_password(user.id, &hash, caller.sid, now, meta, self.password_notice(&user, now))
            .await?
        else {
            return Err(self.caller_gone(caller, now).await);
        };
        self.revoke_all_locally(revoked, now).await;
        Ok(())
    }

    /// The caller's security events, newest first.
    pub async fn list_events(
        &self,
        caller: &AccessClaims,
        before: Option<Uuid>,
        limit: Option<u64>,
    ) -> Result<Page<SecurityEvent>, AuthError> {
        let limit = clamp_limit(limit, 50);
        let rows = self.store.list_events(caller.sub, before, limit + 1).await?;
        Ok(Page::from_overfetch(rows, limit, |event| event.id))
    }
}
