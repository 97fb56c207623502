//! Leaving with one's data: deleting the account (DELETE /api/me) and exporting it (GET
//! /api/me/export).

use time::OffsetDateTime;
use uuid::Uuid;

use super::sessions::ActiveSession;
use super::{AuthService, Guess, validation};
use crate::access::AccessClaims;
use crate::account::{AccountDeletion, MfaStatus, PasskeySummary};
use crate::error::AuthError;
use crate::events::{RequestMeta, SecurityEvent};
use crate::revocation::Revocation;
use crate::throttle;
use crate::user::User;

/// Everything GET /api/me/export returns. `user` is the domain user; the api writes only its
/// public fields (never the password hash).
#[derive(Debug, Clone)]
pub struct AccountExport {
    pub user: User,
    /// The live sessions, as GET /api/sessions lists them.
    pub sessions: Vec<ActiveSession>,
    /// Every security event of the account, newest first.
    pub events: Vec<SecurityEvent>,
    pub passkeys: Vec<PasskeySummary>,
    pub mfa: MfaStatus,
}

/// Events read per query while an export collects them all.
const EXPORT_EVENTS_PAGE: u64 = 500;

impl AuthService {
    /// Deletes the caller's account after checking `current_password`.
    ///
    /// The password check is the one every credential check shares (`credentials`): the
    /// client's allowance, the account's backoff, a wrong password counted and recorded
    /// (`login_failed`) and answered `Validation` naming `current_password`, as the password
    /// change answers it. Then, in one store transaction, the account and everything that is
    /// theirs go, leaving one `account_deleted` record for administrators; then every session's
    /// access tokens are refused here and on every other instance.
    pub async fn delete_account(
        &self,
        caller: &AccessClaims,
        current_password: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let Some(user) = self.store.find_user(caller.sub).await? else {
            return Err(self.caller_gone(caller, self.now()).await);
        };
        if user.disabled {
            return Err(AuthError::SessionRevoked);
        }
        // Step-up first: a stolen session must not learn whether a password guess was right.
        self.require_recent_auth(caller, &user).await?;
        let guess = self
            .verify_password_throttled(&user, current_password, meta, Some(caller.sid))
            .await?;
        if guess == Guess::Wrong {
            return Err(validation("current_password", "is not correct"));
        }
        let now = self.now();
        let deletion = AccountDeletion::new(user.id, now, meta, Some(caller.sid));
        let Some(live_sessions) = self
            .store
            .delete_account(&deletion, &throttle::throttle_key(&user.email))
            .await?
        else {
            return Err(self.caller_gone(caller, now).await);
        };
        self.revoke_all_locally(live_sessions.into_iter().chain([caller.sid]), now)
            .await;
        self.refuse_deleted_account(&deletion);
        Ok(())
    }

    /// Refuses, on this instance, every access token the deleted account was issued up to its
    /// deletion, whatever session it names. The sessions' own revocations reach the other
    /// instances as notices; this is what their catch-up poll applies when a notice was missed
    /// (`fill_revocations`), since the deleted sessions leave no row to poll.
    pub(super) fn refuse_deleted_account(&self, deletion: &AccountDeletion) {
        self.revocations.apply(&Revocation::UserTokensBefore {
            user_id: deletion.account_id,
            before: deletion.at,
            forget_after: deletion.at.saturating_add(self.revocation_memory()),
        });
    }

    /// Everything public about the caller's account: the user, the live sessions, every
    /// security event (read page by page, however many there are), the passkeys and which
    /// second factors are on. A caller whose account no longer exists: `SessionRevoked`.
    pub async fn export_account(&self, caller: &AccessClaims) -> Result<AccountExport, AuthError> {
        let Some(user) = self.store.find_user(caller.sub).await? else {
            return Err(self.caller_gone(caller, self.now()).await);
        };
        let sessions = self.list_sessions(caller).await?;
        let events = self.all_events(user.id).await?;
        let passkeys = self.store.list_passkey_summaries(user.id).await?;
        let mfa = self.store.mfa_status(user.id).await?;
        Ok(AccountExport {
            user,
            sessions,
            events,
            passkeys,
            mfa,
        })
    }

    /// Every event of the user, newest first, in pages of [`EXPORT_EVENTS_PAGE`].
    async fn all_events(&self, user_id: Uuid) -> Result<Vec<SecurityEvent>, AuthError> {
        let mut events: Vec<SecurityEvent> = Vec::new();
        loop {
            let before = events.last().map(|event| event.id);
            let page = self.store.list_events(user_id, before, EXPORT_EVENTS_PAGE).await?;
            let complete = u64::try_from(page.len()).map_or(true, |read| read < EXPORT_EVENTS_PAGE);
            events.extend(page);
            if complete {
                return Ok(events);
            }
        }
    }

    /// Applies the deletions of the last access-TTL to the revocation set (see
    /// [`refuse_deleted_account`](Self::refuse_deleted_account)).
    pub(super) async fn fill_account_deletions(&self, since: OffsetDateTime) -> Result<(), crate::ports::StoreError> {
        for deletion in self.store.accounts_deleted_since(since).await? {
            self.refuse_deleted_account(&deletion);
        }
        Ok(())
    }
}
