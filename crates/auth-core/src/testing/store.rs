//! The store, in memory: every port over one mutex-guarded state.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::access::{Authentication, StoredSigningKey};
use crate::account::{AccountDeletion, MfaStatus, PasskeySummary};
use crate::events::{EventKind, RequestMeta, SecurityEvent};
use crate::mail::{MailKind, SealedMail};
use crate::mail_token::{MailTokenHash, MailTokenPurpose, MailTokenRecord, NewMailToken};
use crate::mfa::ceremony::{Ceremony, CeremonyKey};
use crate::mfa::challenge::{ChallengeKey, MfaChallenge};
use crate::mfa::passkey::StoredPasskey;
use crate::mfa::recovery::RecoveryCodeHash;
use crate::ports::*;
use crate::refresh::{ExpectedRotation, RefreshDecision};
use crate::session::{NewSession, RevocationReason, SessionRecord};
use crate::user::{NewUser, Role, User};

#[derive(Default)]
pub struct State {
    pub throttle: HashMap<[u8; 32], (u32, OffsetDateTime)>,
    pub users: HashMap<Uuid, User>,
    pub sessions: HashMap<Uuid, SessionRecord>,
    pub events: Vec<SecurityEvent>,
    pub keys: Vec<StoredSigningKey>,
    pub mail_tokens: HashMap<MailTokenHash, MailTokenRecord>,
    /// Queued mail, in order.
    pub mail: Vec<SealedMail>,
    /// The records deleted accounts left.
    pub deletions: Vec<AccountDeletion>,
    pub totp: HashMap<Uuid, StoredTotp>,
    /// (owner, digest, used_at), as the `recovery_codes` table has them.
    pub recovery_codes: Vec<(Uuid, RecoveryCodeHash, Option<OffsetDateTime>)>,
    pub challenges: HashMap<ChallengeKey, MfaChallenge>,
    /// The `passkeys` table as `PasskeyRepository` writes it (the summaries read it too).
    pub stored_passkeys: Vec<StoredPasskey>,
    pub ceremonies: HashMap<CeremonyKey, Ceremony>,
}

/// The store, with one mutex standing in for the database's row lock and transactions.
#[derive(Default)]
pub struct MemoryStore {
    pub state: Mutex<State>,
    /// Makes `rotate_if_current` always decline, as a store is allowed to.
    pub decline_fast_path: std::sync::atomic::AtomicBool,
    pub fast_rotations: AtomicUsize,
    /// Makes this many `claim_login_attempt` calls lose the race: another attempt is counted
    /// just before (when `steal_counts`), or the row changes under it (otherwise), and the
    /// claim reports `false`.
    pub lose_claims: AtomicUsize,
    pub steal_counts: std::sync::atomic::AtomicBool,
}

impl MemoryStore {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn session(&self, id: Uuid) -> SessionRecord {
        self.lock().sessions.get(&id).cloned().unwrap()
    }

    pub fn events(&self) -> Vec<SecurityEvent> {
        self.lock().events.clone()
    }

    pub fn kinds(&self) -> Vec<EventKind> {
        self.events().into_iter().map(|event| event.kind).collect()
    }

    pub fn user_by_email(&self, email: &str) -> User {
        self.lock()
            .users
            .values()
            .find(|user| user.email == email)
            .cloned()
            .unwrap()
    }

    pub fn set_user(&self, user: User) {
        self.lock().users.insert(user.id, user);
    }

    /// Everything that a refresh must not touch when it fails.
    pub fn snapshot(&self) -> (Vec<SessionRecord>, usize) {
        let state = self.lock();
        let mut sessions: Vec<SessionRecord> = state.sessions.values().cloned().collect();
        sessions.sort_by_key(|session| session.id);
        (sessions, state.events.len())
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let mut state = self.lock();
        if state
            .users
            .values()
            .any(|existing| existing.email == user.email.as_str())
        {
            return Err(StoreError::EmailTaken);
        }
        let skeleton = user.email.skeleton_hash();
        if state
            .users
            .values()
            .any(|existing| crate::user::email_skeleton_hash(&existing.email) == skeleton)
        {
            return Err(StoreError::EmailConfusable);
        }
        let user = User::from(user);
        state.users.insert(user.id, user.clone());
        Ok(user)
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(self.lock().users.values().find(|user| user.email == email).cloned())
    }

    async fn find_user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        Ok(self.lock().users.get(&id).cloned())
    }

    async fn update_user_name(&self, id: Uuid, name: &str, _at: OffsetDateTime) -> Result<Option<User>, StoreError> {
        let mut state = self.lock();
        Ok(state.users.get_mut(&id).map(|user| {
            user.name = name.to_owned();
            user.clone()
        }))
    }

    async fn update_password_hash(&self, id: Uuid, password_hash: &str, _at: OffsetDateTime) -> Result<(), StoreError> {
        let mut state = self.lock();
        let user = state
            .users
            .get_mut(&id)
            .ok_or_else(|| StoreError::Backend("no such user".into()))?;
        user.password_hash = password_hash.to_owned();
        Ok(())
    }

    async fn list_users(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<User>, StoreError> {
        let mut users: Vec<User> = self.lock().users.values().cloned().collect();
        users.sort_by_key(|user| user.id);
        Ok(users
            .into_iter()
            .filter(|user| after.is_none_or(|after| user.id > after))
            .take(limit as usize)
            .collect())
    }

    async fn update_user_role(&self, id: Uuid, role: Role, _at: OffsetDateTime) -> Result<Option<User>, StoreError> {
        let mut state = self.lock();
        Ok(state.users.get_mut(&id).map(|user| {
            user.role = role;
            user.clone()
        }))
    }

    async fn set_user_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        at: OffsetDateTime,
        meta: &RequestMeta,
    ) -> Result<Option<AccountChange>, StoreError> {
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(&id) else {
            return Ok(None);
        };
        user.disabled = disabled;
        let user = user.clone();
        let mut revoked_sessions = Vec::new();
        if disabled {
            revoked_sessions = revoke_all(&mut state, id, RevocationReason::UserDisabled, at, None);
            state
                .events
                .push(SecurityEvent::new(id, EventKind::UserDisabled, at, meta, None));
        }
        Ok(Some(AccountChange { user, revoked_sessions }))
    }

    async fn change_password(
        &self,
        id: Uuid,
        password_hash: &str,
        keep: Uuid,
        at: OffsetDateTime,
        meta: &RequestMeta,
        notice: SealedMail,
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(&id) else {
            return Ok(None);
        };
        user.password_hash = password_hash.to_owned();
        let revoked = revoke_all(&mut state, id, RevocationReason::PasswordChanged, at, Some(keep));
        state
            .events
            .push(SecurityEvent::new(id, EventKind::PasswordChanged, at, meta, Some(keep)));
        kill_tokens(&mut state, id, Some(MailTokenPurpose::ResetPassword), at);
        state.mail.push(notice);
        Ok(Some(revoked))
    }
}

#[async_trait]
impl SessionRepository for MemoryStore {
    async fn create_session(&self, session: NewSession, login_event: SecurityEvent) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.users.get(&session.user_id).is_none_or(|user| user.disabled) {
            return Err(StoreError::AccountDisabled);
        }
        let record = SessionRecord {
            id: session.id,
            user_id: session.user_id,
            rotation: session.rotation,
            delivery: session.delivery,
            created_at: session.created_at,
            last_used_at: session.created_at,
            absolute_expires_at: session.absolute_expires_at,
            revoked_at: None,
            revoked_reason: None,
            user_agent: session.user_agent,
            ip: session.ip,
            auth_time: session.auth_time,
            amr: session.amr,
        };
        state.sessions.insert(record.id, record);
        state.events.push(login_event);
        Ok(())
    }

    async fn find_session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.lock().sessions.get(&id).cloned())
    }

    async fn refresh_session(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        meta: &RequestMeta,
        decide: &(dyn for<'a> Fn(&'a LockedSession) -> RefreshDecision + Send + Sync),
    ) -> Result<RefreshOutcome, StoreError> {
        let mut state = self.lock();
        let Some(session) = state.sessions.get(&id).cloned() else {
            return Ok(RefreshOutcome::NoSession);
        };
        let user = state
            .users
            .get(&session.user_id)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt("orphan session".into()))?;
        let mut locked = LockedSession { session, user };
        let decision = decide(&locked);
        match &decision {
            RefreshDecision::Rotate { state: rotation, .. } => {
                let row = state.sessions.get_mut(&id).unwrap();
                row.rotation = rotation.clone();
                row.last_used_at = now;
                row.ip = meta.ip.clone();
                row.user_agent = meta.user_agent.clone();
                locked.session = row.clone();
            }
            RefreshDecision::Replay => {
                let row = state.sessions.get_mut(&id).unwrap();
                row.revoked_at = Some(now);
                row.revoked_reason = Some(RevocationReason::RefreshReused);
                let event = SecurityEvent::new(locked.user.id, EventKind::RefreshReuseDetected, now, meta, Some(id));
                state.events.push(event);
            }
            RefreshDecision::Reissue { .. } | RefreshDecision::Reject(_) => {}
        }
        Ok(RefreshOutcome::Decided { decision, locked })
    }

    async fn rotate_if_current(
        &self,
        expected: &ExpectedRotation,
        meta: &RequestMeta,
    ) -> Result<Option<LockedSession>, StoreError> {
        if self.decline_fast_path.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let mut state = self.lock();
        let Some(session) = state.sessions.get(&expected.session_id).cloned() else {
            return Ok(None);
        };
        let Some(user) = state.users.get(&session.user_id).cloned() else {
            return Ok(None);
        };
        if !expected.applies_to(&session, user.disabled) {
            return Ok(None);
        }
        let row = state.sessions.get_mut(&expected.session_id).unwrap();
        row.rotation = expected.state.clone();
        row.last_used_at = expected.now;
        row.ip = meta.ip.clone();
        row.user_agent = meta.user_agent.clone();
        let session = row.clone();
        self.fast_rotations.fetch_add(1, Ordering::SeqCst);
        Ok(Some(LockedSession { session, user }))
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        reason: RevocationReason,
        at: OffsetDateTime,
        meta: &RequestMeta,
        event_kind: EventKind,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut state = self.lock();
        let Some(row) = state.sessions.get_mut(&id).filter(|row| row.revoked_at.is_none()) else {
            return Ok(None);
        };
        row.revoked_at = Some(at);
        row.revoked_reason = Some(reason);
        let row = row.clone();
        state
            .events
            .push(SecurityEvent::new(row.user_id, event_kind, at, meta, Some(id)));
        Ok(Some(row))
    }

    async fn reauthenticate_session(
        &self,
        id: Uuid,
        user_id: Uuid,
        authentication: Authentication,
        event: SecurityEvent,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut state = self.lock();
        let Some(row) = state
            .sessions
            .get_mut(&id)
            .filter(|row| row.user_id == user_id && row.revoked_at.is_none())
        else {
            return Ok(None);
        };
        row.auth_time = authentication.auth_time;
        row.amr = authentication.amr;
        let record = row.clone();
        state.events.push(event);
        Ok(Some(record))
    }

    async fn sessions_revoked_since(&self, since: OffsetDateTime) -> Result<Vec<(Uuid, OffsetDateTime)>, StoreError> {
        Ok(self
            .lock()
            .sessions
            .values()
            .filter_map(|session| session.revoked_at.filter(|at| *at >= since).map(|at| (session.id, at)))
            .collect())
    }

    async fn list_active_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        idle_ttl: Duration,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sessions: Vec<SessionRecord> = self
            .lock()
            .sessions
            .values()
            .filter(|s| {
                s.user_id == user_id
                    && s.revoked_at.is_none()
                    && s.last_used_at + idle_ttl > now
                    && s.absolute_expires_at > now
            })
            .cloned()
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(s.last_used_at));
        Ok(sessions)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        reason: RevocationReason,
        at: OffsetDateTime,
        meta: &RequestMeta,
        event_kind: EventKind,
        event_session: Option<Uuid>,
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let mut state = self.lock();
        if !state.users.contains_key(&user_id) {
            return Ok(None);
        }
        let revoked = revoke_all(&mut state, user_id, reason, at, None);
        state
            .events
            .push(SecurityEvent::new(user_id, event_kind, at, meta, event_session));
        Ok(Some(revoked))
    }
}

#[async_trait]
impl KeyRepository for MemoryStore {
    async fn list_signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        Ok(self.lock().keys.clone())
    }

    async fn add_signing_key(&self, key: StoredSigningKey) -> Result<(), StoreError> {
        let mut state = self.lock();
        for existing in state.keys.iter_mut().filter(|existing| existing.retired_at.is_none()) {
            existing.retired_at = Some(key.created_at);
        }
        state.keys.push(key);
        Ok(())
    }
}

#[async_trait]
impl EventRepository for MemoryStore {
    async fn record_event(&self, event: SecurityEvent) -> Result<(), StoreError> {
        self.lock().events.push(event);
        Ok(())
    }

    async fn list_events(
        &self,
        user_id: Uuid,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<SecurityEvent>, StoreError> {
        let mut events: Vec<SecurityEvent> = self
            .lock()
            .events
            .iter()
            .filter(|e| e.user_id == user_id && before.is_none_or(|before| e.id < before))
            .cloned()
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.id));
        events.truncate(limit as usize);
        Ok(events)
    }
}

#[async_trait]
impl LoginThrottleRepository for MemoryStore {
    async fn login_failures(&self, key: &[u8; 32]) -> Result<Option<(u32, OffsetDateTime)>, StoreError> {
        Ok(self.lock().throttle.get(key).copied())
    }

    async fn record_login_failure(&self, key: &[u8; 32], at: OffsetDateTime) -> Result<(), StoreError> {
        let mut state = self.lock();
        let entry = state.throttle.entry(*key).or_insert((0, at));
        *entry = (entry.0 + 1, at);
        Ok(())
    }

    async fn claim_login_attempt(
        &self,
        key: &[u8; 32],
        seen: Option<u32>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let lose = self
            .lose_claims
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lose {
            if self.steal_counts.load(Ordering::SeqCst) {
                let entry = state.throttle.entry(*key).or_insert((0, at));
                *entry = (entry.0 + 1, at);
            }
            return Ok(false);
        }
        let current = state.throttle.get(key).map(|(failures, _)| *failures);
        if current != seen {
            return Ok(false);
        }
        state.throttle.insert(*key, (seen.unwrap_or(0) + 1, at));
        Ok(true)
    }

    async fn clear_login_failures(&self, key: &[u8; 32]) -> Result<(), StoreError> {
        self.lock().throttle.remove(key);
        Ok(())
    }
}

impl MemoryStore {
    /// The queued mail of `kind`, in order.
    pub fn mail_of(&self, kind: MailKind) -> Vec<SealedMail> {
        self.lock()
            .mail
            .iter()
            .filter(|mail| mail.kind == kind)
            .cloned()
            .collect()
    }
}

/// Marks every outstanding token of `user_id` (of `purpose`, when given) used at `at`.
fn kill_tokens(state: &mut State, user_id: Uuid, purpose: Option<MailTokenPurpose>, at: OffsetDateTime) {
    for token in state.mail_tokens.values_mut() {
        if token.user_id == user_id && token.used_at.is_none() && purpose.is_none_or(|p| p == token.purpose) {
            token.used_at = Some(at);
        }
    }
}

/// The one conditional consumption every flow uses: the token is used only if it is usable for
/// `purpose` at `at` (and, when given, names `user_id`).
fn consume(
    state: &mut State,
    hash: &MailTokenHash,
    purpose: MailTokenPurpose,
    user_id: Option<Uuid>,
    at: OffsetDateTime,
) -> Option<MailTokenRecord> {
    let token = state.mail_tokens.get_mut(hash)?;
    if !token.usable_for(purpose, at) || user_id.is_some_and(|id| id != token.user_id) {
        return None;
    }
    token.used_at = Some(at);
    Some(token.clone())
}

fn stored_token(token: NewMailToken) -> MailTokenRecord {
    MailTokenRecord {
        hash: token.hash,
        user_id: token.user_id,
        purpose: token.purpose,
        new_email: token.new_email.map(crate::user::Email::into_string),
        session_id: token.session_id,
        created_at: token.created_at,
        expires_at: token.expires_at,
        used_at: None,
    }
}

#[async_trait]
#[async_trait]
impl AccountRepository for MemoryStore {
    async fn delete_account(
        &self,
        deletion: &AccountDeletion,
        throttle_key: &[u8; 32],
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let mut state = self.lock();
        let user_id = deletion.account_id;
        if state.users.remove(&user_id).is_none() {
            return Ok(None);
        }
        let mut live: Vec<Uuid> = state
            .sessions
            .values()
            .filter(|session| session.user_id == user_id && session.revoked_at.is_none())
            .map(|session| session.id)
            .collect();
        live.sort();
        state.sessions.retain(|_, session| session.user_id != user_id);
        state.events.retain(|event| event.user_id != user_id);
        state.stored_passkeys.retain(|passkey| passkey.user_id != user_id);
        state.totp.remove(&user_id);
        state.recovery_codes.retain(|(owner, _, _)| *owner != user_id);
        state.challenges.retain(|_, challenge| challenge.user_id != user_id);
        state.throttle.remove(throttle_key);
        state.deletions.push(deletion.clone());
        Ok(Some(live))
    }

    async fn list_account_deletions(
        &self,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<AccountDeletion>, StoreError> {
        let mut deletions: Vec<AccountDeletion> = self
            .lock()
            .deletions
            .iter()
            .filter(|d| before.is_none_or(|before| d.event_id < before))
            .cloned()
            .collect();
        deletions.sort_by_key(|d| std::cmp::Reverse(d.event_id));
        deletions.truncate(limit as usize);
        Ok(deletions)
    }

    async fn accounts_deleted_since(&self, since: OffsetDateTime) -> Result<Vec<AccountDeletion>, StoreError> {
        Ok(self
            .lock()
            .deletions
            .iter()
            .filter(|d| d.at >= since)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl MailTokenRepository for MemoryStore {
    async fn find_mail_token(&self, hash: &MailTokenHash) -> Result<Option<MailTokenRecord>, StoreError> {
        Ok(self.lock().mail_tokens.get(hash).cloned())
    }

    async fn create_user_with_verification(
        &self,
        user: NewUser,
        token: NewMailToken,
        mail: SealedMail,
    ) -> Result<User, StoreError> {
        let user = self.create_user(user).await?;
        let mut state = self.lock();
        state.mail_tokens.insert(token.hash, stored_token(token));
        state.mail.push(mail);
        Ok(user)
    }

    async fn issue_mail_token(
        &self,
        token: NewMailToken,
        mail: Vec<SealedMail>,
        event: Option<SecurityEvent>,
        not_since: OffsetDateTime,
    ) -> Result<TokenIssue, StoreError> {
        let mut state = self.lock();
        if !state.users.contains_key(&token.user_id) {
            return Ok(TokenIssue::NoUser);
        }
        let last = state
            .mail_tokens
            .values()
            .filter(|t| t.user_id == token.user_id && t.purpose == token.purpose)
            .map(|t| t.created_at)
            .max();
        if let Some(last_issued_at) = last.filter(|last| *last > not_since) {
            return Ok(TokenIssue::TooSoon { last_issued_at });
        }
        state.mail_tokens.insert(token.hash, stored_token(token));
        state.mail.extend(mail);
        state.events.extend(event);
        Ok(TokenIssue::Issued)
    }

    async fn reset_password(&self, reset: PasswordReset) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let purpose = MailTokenPurpose::ResetPassword;
        if consume(&mut state, &reset.token, purpose, Some(reset.user_id), reset.at).is_none() {
            return Ok(false);
        }
        let Some(user) = state.users.get_mut(&reset.user_id) else {
            return Ok(false);
        };
        user.password_hash = reset.password_hash;
        kill_tokens(&mut state, reset.user_id, Some(purpose), reset.at);
        state.throttle.remove(&reset.throttle_key);
        state.events.push(SecurityEvent::new(
            reset.user_id,
            EventKind::PasswordReset,
            reset.at,
            &reset.meta,
            None,
        ));
        state.mail.push(reset.notice);
        Ok(true)
    }

    async fn verify_email(
        &self,
        token: &MailTokenHash,
        at: OffsetDateTime,
        meta: &RequestMeta,
    ) -> Result<Option<Uuid>, StoreError> {
        let mut state = self.lock();
        let Some(token) = consume(&mut state, token, MailTokenPurpose::VerifyEmail, None, at) else {
            return Ok(None);
        };
        let Some(user) = state.users.get_mut(&token.user_id) else {
            return Ok(None);
        };
        user.email_verified = true;
        state.events.push(SecurityEvent::new(
            token.user_id,
            EventKind::EmailVerified,
            at,
            meta,
            None,
        ));
        Ok(Some(token.user_id))
    }

    async fn confirm_email(
        &self,
        token: &MailTokenHash,
        at: OffsetDateTime,
        meta: &RequestMeta,
    ) -> Result<EmailConfirmation, StoreError> {
        let mut state = self.lock();
        let Some(record) = state
            .mail_tokens
            .get(token)
            .filter(|record| record.usable_for(MailTokenPurpose::ConfirmEmail, at))
            .cloned()
        else {
            return Ok(EmailConfirmation::Invalid);
        };
        let Some(new_email) = record.new_email.clone() else {
            return Ok(EmailConfirmation::Invalid);
        };
        let skeleton = crate::user::email_skeleton_hash(&new_email);
        let taken = state.users.values().any(|other| {
            other.id != record.user_id
                && (other.email == new_email || crate::user::email_skeleton_hash(&other.email) == skeleton)
        });
        if taken {
            return Ok(EmailConfirmation::Taken);
        }
        let Some(user) = state.users.get_mut(&record.user_id) else {
            return Ok(EmailConfirmation::Invalid);
        };
        user.email = new_email;
        user.email_verified = true;
        kill_tokens(&mut state, record.user_id, None, at);
        let revoked = revoke_all(
            &mut state,
            record.user_id,
            RevocationReason::EmailChanged,
            at,
            record.session_id,
        );
        state.events.push(SecurityEvent::new(
            record.user_id,
            EventKind::EmailChanged,
            at,
            meta,
            record.session_id,
        ));
        Ok(EmailConfirmation::Confirmed {
            user_id: record.user_id,
            revoked,
            kept: record.session_id,
        })
    }
}

#[async_trait]
impl FactorSummaryRepository for MemoryStore {
    async fn list_passkey_summaries(&self, user_id: Uuid) -> Result<Vec<PasskeySummary>, StoreError> {
        let state = self.lock();
        Ok(state
            .stored_passkeys
            .iter()
            .filter(|passkey| passkey.user_id == user_id)
            .map(|passkey| PasskeySummary {
                id: passkey.id,
                name: passkey.name.clone(),
                created_at: passkey.created_at,
                last_used_at: passkey.last_used_at,
                backup_eligible: passkey.backup_eligible,
                backup_state: passkey.backup_state,
            })
            .collect())
    }

    async fn mfa_status(&self, user_id: Uuid) -> Result<MfaStatus, StoreError> {
        let state = self.lock();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(MfaStatus {
            totp: state.totp.contains_key(&user_id),
            recovery_codes_left: count(
                state
                    .recovery_codes
                    .iter()
                    .filter(|(owner, _, used_at)| *owner == user_id && used_at.is_none())
                    .count(),
            ),
            passkeys: count(
                state
                    .stored_passkeys
                    .iter()
                    .filter(|passkey| passkey.user_id == user_id)
                    .count(),
            ),
        })
    }
}

/// A passkey row as a registration would leave it, for tests that need a user with one (the
/// credential is not one any relying party could verify).
pub fn stored_passkey(user_id: Uuid, name: &str, synced: bool, created_at: OffsetDateTime) -> StoredPasskey {
    StoredPasskey {
        id: Uuid::now_v7(),
        user_id,
        credential_id: Uuid::now_v7().as_bytes().to_vec(),
        credential: b"{}".to_vec(),
        name: name.to_owned(),
        sign_count: 0,
        backup_eligible: synced,
        backup_state: synced,
        created_at,
        last_used_at: None,
    }
}

/// Applies a factor change's event and notices.
fn apply_change(state: &mut State, change: FactorChange) {
    state.events.push(change.event);
    state.mail.extend(change.notices);
}

fn put_codes(state: &mut State, user_id: Uuid, codes: &[RecoveryCodeHash]) {
    state.recovery_codes.retain(|(owner, _, _)| *owner != user_id);
    state
        .recovery_codes
        .extend(codes.iter().map(|hash| (user_id, *hash, None)));
}

#[async_trait]
impl SecondFactorRepository for MemoryStore {
    async fn enable_totp(
        &self,
        totp: StoredTotp,
        codes: &[RecoveryCodeHash],
        change: FactorChange,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.totp.contains_key(&change.user_id) {
            return Ok(false);
        }
        state.totp.insert(change.user_id, totp);
        put_codes(&mut state, change.user_id, codes);
        apply_change(&mut state, change);
        Ok(true)
    }

    async fn find_totp(&self, user_id: Uuid) -> Result<Option<StoredTotp>, StoreError> {
        Ok(self.lock().totp.get(&user_id).cloned())
    }

    async fn use_totp_step(&self, user_id: Uuid, step: u64) -> Result<bool, StoreError> {
        let mut state = self.lock();
        match state.totp.get_mut(&user_id) {
            Some(totp) if totp.last_used_step < step => {
                totp.last_used_step = step;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn disable_totp(&self, change: FactorChange) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.totp.remove(&change.user_id).is_none() {
            return Ok(false);
        }
        put_codes(&mut state, change.user_id, &[]);
        apply_change(&mut state, change);
        Ok(true)
    }

    async fn redeem_recovery_code(
        &self,
        user_id: Uuid,
        hash: &RecoveryCodeHash,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let code = state
            .recovery_codes
            .iter_mut()
            .find(|(owner, stored, used_at)| *owner == user_id && stored == hash && used_at.is_none());
        Ok(match code {
            Some(code) => {
                code.2 = Some(at);
                true
            }
            None => false,
        })
    }

    async fn replace_recovery_codes(
        &self,
        codes: &[RecoveryCodeHash],
        change: FactorChange,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if !state.totp.contains_key(&change.user_id) {
            return Ok(false);
        }
        put_codes(&mut state, change.user_id, codes);
        apply_change(&mut state, change);
        Ok(true)
    }

    async fn remove_second_factors(&self, change: FactorChange) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let user_id = change.user_id;
        let had = state.totp.remove(&user_id).is_some()
            | state.recovery_codes.iter().any(|(owner, _, _)| *owner == user_id)
            | state.stored_passkeys.iter().any(|passkey| passkey.user_id == user_id);
        if !had {
            return Ok(false);
        }
        put_codes(&mut state, user_id, &[]);
        state.stored_passkeys.retain(|passkey| passkey.user_id != user_id);
        apply_change(&mut state, change);
        Ok(true)
    }
}

#[async_trait]
impl MfaChallengeRepository for MemoryStore {
    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<(), StoreError> {
        self.lock().challenges.insert(challenge.key, challenge.clone());
        Ok(())
    }

    async fn find_mfa_challenge(&self, key: &ChallengeKey) -> Result<Option<MfaChallenge>, StoreError> {
        Ok(self.lock().challenges.get(key).cloned())
    }

    async fn record_mfa_attempt(
        &self,
        key: &ChallengeKey,
        attempts: u32,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        match state.challenges.get_mut(key) {
            Some(challenge) if challenge.attempts.saturating_add(1) == attempts && challenge.expires_at > now => {
                challenge.attempts = attempts;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn complete_mfa_challenge(
        &self,
        key: &ChallengeKey,
        session: NewSession,
        login_event: SecurityEvent,
    ) -> Result<ChallengeCompletion, StoreError> {
        let Some(challenge) = self.lock().challenges.remove(key) else {
            return Ok(ChallengeCompletion::Gone);
        };
        // One transaction in a real store: a refused session rolls the deletion back.
        if let Err(error) = self.create_session(session, login_event).await {
            self.lock().challenges.insert(*key, challenge);
            return Err(error);
        }
        Ok(ChallengeCompletion::Completed)
    }
}

#[async_trait]
impl CeremonyRepository for MemoryStore {
    async fn put_ceremony(&self, ceremony: Ceremony) -> Result<(), StoreError> {
        self.lock().ceremonies.insert(ceremony.key, ceremony);
        Ok(())
    }

    async fn take_ceremony(&self, key: &CeremonyKey) -> Result<Option<Ceremony>, StoreError> {
        Ok(self.lock().ceremonies.remove(key))
    }

    async fn sweep_expired_ceremonies(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let before = state.ceremonies.len() + state.challenges.len();
        state.ceremonies.retain(|_, ceremony| ceremony.expires_at >= now);
        state.challenges.retain(|_, challenge| challenge.expires_at >= now);
        let after = state.ceremonies.len() + state.challenges.len();
        Ok(u64::try_from(before - after).unwrap_or(u64::MAX))
    }
}

/// Revokes every unrevoked session of `user_id` except `keep`, returning their ids.
pub fn revoke_all(
    state: &mut State,
    user_id: Uuid,
    reason: RevocationReason,
    at: OffsetDateTime,
    keep: Option<Uuid>,
) -> Vec<Uuid> {
    let mut revoked = Vec::new();
    for session in state.sessions.values_mut() {
        if session.user_id == user_id && session.revoked_at.is_none() && Some(session.id) != keep {
            session.revoked_at = Some(at);
            session.revoked_reason = Some(reason);
            revoked.push(session.id);
        }
    }
    revoked
}
