//! Ports: what the domain needs from the outside world. `tessera-store` implements the
//! repositories on sea-orm; the api implements password hashing on a bounded blocking pool and
//! revocation fan-out (in-process, or PostgreSQL LISTEN/NOTIFY).

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::access::{Authentication, StoredSigningKey};
use crate::account::{AccountDeletion, MfaStatus, PasskeySummary};
use crate::events::{EventKind, RequestMeta, SecurityEvent};
use crate::mail::SealedMail;
use crate::mail_token::{MailTokenHash, MailTokenRecord, NewMailToken};
use crate::mfa::ceremony::{Ceremony, CeremonyKey};
use crate::mfa::challenge::{ChallengeKey, MfaChallenge};
use crate::mfa::passkey::StoredPasskey;
use crate::mfa::recovery::RecoveryCodeHash;
use crate::password::{PasswordError, Verification};
use crate::refresh::{ExpectedRotation, RefreshDecision};
use crate::revocation::Revocation;
use crate::session::{NewSession, RevocationReason, SessionRecord};
use crate::throttle::ThrottleKey;
use crate::user::{NewUser, Role, User};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("email address already registered")]
    EmailTaken,
    /// Another account's address has the same TR39 skeleton (looks the same).
    #[error("email address confusable with a registered one")]
    EmailConfusable,
    /// The account was disabled (or deleted) while a session was being created for it.
    #[error("the account is disabled")]
    AccountDisabled,
    /// The passkey's credential id is registered already (to this account or another): decided
    /// by the unique constraint on `passkeys.credential_id`.
    #[error("this passkey's credential is registered already")]
    CredentialTaken,
    /// The storage cannot serve the request right now, and nothing was changed: it is unreachable
    /// (connection refused, closed or reset; pool exhausted; server shutting down), out of disk
    /// or memory, read-only, locked by another writer, or failing I/O. Retrying later may succeed.
    /// The text is for logs only; the api answers 503 `storage_unavailable`.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Any other database or driver failure. The text is for logs only; the api answers a
    /// generic 500.
    #[error("storage backend failure: {0}")]
    Backend(String),
    /// A stored row that the domain cannot read (e.g. an unknown role string).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores the address with its skeleton hash ([`Email::skeleton_hash`]). Fails with
    /// [`StoreError::EmailTaken`] when the address is taken, [`StoreError::EmailConfusable`] when
    /// another account's address has the same skeleton; both decided by unique constraints (never
    /// check-then-insert).
    ///
    /// [`Email::skeleton_hash`]: crate::user::Email::skeleton_hash
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError>;
    /// `email` is already normalised ([`normalise_email`](crate::user::normalise_email)).
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    async fn find_user(&self, id: Uuid) -> Result<Option<User>, StoreError>;
    /// `None` when the user does not exist.
    async fn update_user_name(&self, id: Uuid, name: &str, at: OffsetDateTime) -> Result<Option<User>, StoreError>;
    async fn update_password_hash(&self, id: Uuid, password_hash: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Users in creation order (ids are UUIDv7), those after `after` when given, at most `limit`.
    async fn list_users(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<User>, StoreError>;

    /// `None` when the user does not exist.
    async fn update_user_role(&self, id: Uuid, role: Role, at: OffsetDateTime) -> Result<Option<User>, StoreError>;

    /// One transaction. Disabling sets the flag, revokes every unrevoked session of the user
    /// (reason `user_disabled`) and records a `user_disabled` event (with `meta`); enabling only
    /// clears the flag. `None` when the user does not exist.
    async fn set_user_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        at: OffsetDateTime,
        meta: &RequestMeta,
    ) -> Result<Option<AccountChange>, StoreError>;

    /// One transaction: stores the new hash, revokes every unrevoked session of the user except
    /// `keep` (reason `password_changed`), records a `password_changed` event for session `keep`,
    /// marks every outstanding `reset_password` token of the user used (a password change by any
    /// path kills them) and queues `notice` (the "your password was changed" mail).
    /// Returns the revoked session ids; `None` when the user does not exist (nothing written).
    async fn change_password(
        &self,
        id: Uuid,
        password_hash: &str,
        keep: Uuid,
        at: OffsetDateTime,
        meta: &RequestMeta,
        notice: SealedMail,
    ) -> Result<Option<Vec<Uuid>>, StoreError>;
}

/// A user after an account-wide change, with the sessions it revoked.
#[derive(Debug, Clone)]
pub struct AccountChange {
    pub user: User,
    pub revoked_sessions: Vec<Uuid>,
}

/// The session row as loaded for a refresh, with the owner it belongs to.
#[derive(Debug, Clone)]
pub struct LockedSession {
    pub session: SessionRecord,
    pub user: User,
}

/// What [`SessionRepository::refresh_session`] did.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per refresh; boxing would only add an allocation"
)]
pub enum RefreshOutcome {
    /// No session with that id.
    NoSession,
    Decided {
        decision: RefreshDecision,
        locked: LockedSession,
    },
}

#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Inserts the session and its opening event (`login_succeeded` or `account_created`) in one
    /// transaction.
    async fn create_session(&self, session: NewSession, login_event: SecurityEvent) -> Result<(), StoreError>;

    async fn find_session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError>;

    /// One transaction with the session row locked (PostgreSQL `SELECT … FOR UPDATE`; SQLite
    /// takes the write lock before reading). Loads the session and its user, calls `decide`, and
    /// persists the decision before committing:
    /// - `Rotate`: store the new rotation state, `last_used_at = now`, `ip`/`user_agent` from `meta`;
    /// - `Reissue`, `Reject`: write nothing;
    /// - `Replay`: `revoked_at = now`, reason `refresh_reused`, and a `refresh_reuse_detected`
    ///   event (with `meta`), committed even though the request will fail.
    async fn refresh_session(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        meta: &RequestMeta,
        decide: &(dyn for<'a> Fn(&'a LockedSession) -> RefreshDecision + Send + Sync),
    ) -> Result<RefreshOutcome, StoreError>;

    /// The fast path of a refresh: one conditional write that stores `expected.state`, with
    /// `last_used_at = expected.now` and `ip`/`user_agent` from `meta` when given, only if the row
    /// meets every condition of [`ExpectedRotation::applies_to`]. Returns the session as stored
    /// afterwards and its owner, once the write is committed (a write that fails to commit is an
    /// `Err`). `None` when a condition failed: nothing was written, and the caller takes
    /// [`refresh_session`](Self::refresh_session). A store may decline more often than
    /// `applies_to` says (it only costs the slower path), never less.
    async fn rotate_if_current(
        &self,
        expected: &ExpectedRotation,
        meta: &RequestMeta,
    ) -> Result<Option<LockedSession>, StoreError>;

    /// Revokes one active session and records `event_kind` for its user in the same transaction.
    /// `None` when the session does not exist, was already revoked, or its user no longer exists
    /// (nothing written).
    async fn revoke_session(
        &self,
        id: Uuid,
        reason: RevocationReason,
        at: OffsetDateTime,
        meta: &RequestMeta,
        event_kind: EventKind,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// A re-authentication, in one transaction: sets the session's `auth_time` and `amr` from
    /// `authentication` and records `event` (`reauthenticated`), when the session belongs to
    /// `user_id` and is not revoked. Returns the session as stored afterwards; `None` (nothing
    /// written) otherwise.
    async fn reauthenticate_session(
        &self,
        id: Uuid,
        user_id: Uuid,
        authentication: Authentication,
        event: SecurityEvent,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Sessions revoked at or after `since` as (session id, revoked_at): fills the revocation set
    /// at start-up and in the catch-up poll.
    async fn sessions_revoked_since(&self, since: OffsetDateTime) -> Result<Vec<(Uuid, OffsetDateTime)>, StoreError>;

    /// The user's sessions that are neither revoked nor expired at `now` (idle: `last_used_at +
    /// idle_ttl > now`; absolute: `absolute_expires_at > now`), most recently used first.
    async fn list_active_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        idle_ttl: Duration,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// One transaction: revokes every unrevoked session of the user with `reason` and records one
    /// `event_kind` event (with `meta` and `event_session`). Returns the revoked session ids;
    /// `None` when the user does not exist (nothing written).
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        reason: RevocationReason,
        at: OffsetDateTime,
        meta: &RequestMeta,
        event_kind: EventKind,
        event_session: Option<Uuid>,
    ) -> Result<Option<Vec<Uuid>>, StoreError>;
}

#[async_trait]
pub trait KeyRepository: Send + Sync {
    async fn list_signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError>;
    /// Inserts `key` and marks every other unretired key retired at `key.created_at`, in one
    /// transaction.
    async fn add_signing_key(&self, key: StoredSigningKey) -> Result<(), StoreError>;
}

#[async_trait]
pub trait EventRepository: Send + Sync {
    async fn record_event(&self, event: SecurityEvent) -> Result<(), StoreError>;

    /// The user's events, newest first; only those older than event `before` when given (ids are
    /// UUIDv7, so id order is time order), at most `limit`.
    async fn list_events(
        &self,
        user_id: Uuid,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<SecurityEvent>, StoreError>;
}

/// Consecutive failed credential checks per throttle key (see `throttle`), shared by every
/// instance. Every password or code check counts here (login, password change, and whatever
/// else checks a credential), so they all share one backoff per account.
#[async_trait]
pub trait LoginThrottleRepository: Send + Sync {
    /// (consecutive failures, time of the last one), or `None` after a success or never.
    async fn login_failures(&self, key: &[u8; 32]) -> Result<Option<(u32, OffsetDateTime)>, StoreError>;
    /// Atomically counts one more failure at `at`.
    async fn record_login_failure(&self, key: &[u8; 32], at: OffsetDateTime) -> Result<(), StoreError>;
    /// Counts one more failure at `at` only if the count is still `seen` (what
    /// [`login_failures`](Self::login_failures) returned; `None`: no row). `false` when another
    /// attempt changed it first: nothing was written and the caller reads again. One conditional
    /// write, so the backoff decision and the count are one atomic step and parallel guesses
    /// cannot all pass the same check.
    async fn claim_login_attempt(
        &self,
        key: &[u8; 32],
        seen: Option<u32>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    async fn clear_login_failures(&self, key: &[u8; 32]) -> Result<(), StoreError>;
}

/// The per-client allowance of credential checks (in the api: the per-IP limit login and
/// register share), taken by every password or code check before any work is done.
pub trait AttemptLimiter: Send + Sync {
    /// Takes one attempt from the allowance of the client `meta` describes; `Err(seconds to
    /// wait)` when it is used up.
    fn try_acquire(&self, meta: &RequestMeta) -> Result<(), u64>;
}

/// No per-client limit (tests, and `TESSERA_RATE_LIMIT_PER_IP=0` has the same effect).
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlimited;

impl AttemptLimiter for Unlimited {
    fn try_acquire(&self, _meta: &RequestMeta) -> Result<(), u64> {
        Ok(())
    }
}

/// What [`MailTokenRepository::issue_mail_token`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenIssue {
    /// The token is stored and its mail queued.
    Issued,
    /// A token of the same purpose was issued to the user at `last_issued_at`, within the
    /// spacing: nothing was written.
    TooSoon { last_issued_at: OffsetDateTime },
    /// No such user: nothing was written.
    NoUser,
}

/// A password reset to apply, as one transaction ([`MailTokenRepository::reset_password`]).
#[derive(Debug, Clone)]
pub struct PasswordReset {
    /// The presented `reset_password` token.
    pub token: MailTokenHash,
    /// The user the token was found for (the token is consumed only if it still names them).
    pub user_id: Uuid,
    pub password_hash: String,
    /// The account's login throttle key: the reset clears its backoff.
    pub throttle_key: [u8; 32],
    pub at: OffsetDateTime,
    pub meta: RequestMeta,
    /// The "your password was changed" notice.
    pub notice: SealedMail,
}

/// What [`MailTokenRepository::confirm_email`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailConfirmation {
    /// The address was replaced; `revoked` are the sessions ended (all but `kept`, the session
    /// that asked for the change).
    Confirmed {
        user_id: Uuid,
        revoked: Vec<Uuid>,
        kept: Option<Uuid>,
    },
    /// Another account has the address (or one that looks the same) now: nothing was written and
    /// the token stays usable.
    Taken,
    /// The token is unknown, used, expired or for another purpose: nothing was written.
    Invalid,
}

/// Mail tokens ([`crate::mail_token`]) and the flows that consume them, each one transaction that
/// queues its mail with it. Consuming is one conditional write — the row is used only if it is
/// still unused, unexpired ([`MailTokenRecord::usable_for`]) and of the flow's purpose — so of two
/// concurrent uses of one token exactly one succeeds, and a token of another purpose is left as
/// it was.
#[async_trait]
pub trait MailTokenRepository: Send + Sync {
    async fn find_mail_token(&self, hash: &MailTokenHash) -> Result<Option<MailTokenRecord>, StoreError>;

    /// [`UserRepository::create_user`], with the `verify_email` token stored and its mail queued
    /// in the same transaction (errors as `create_user`; nothing is written on any of them).
    async fn create_user_with_verification(
        &self,
        user: NewUser,
        token: NewMailToken,
        mail: SealedMail,
    ) -> Result<User, StoreError>;

    /// One transaction: unless a token of `token.purpose` was issued to the user after
    /// `not_since` ([`TokenIssue::TooSoon`]), stores `token`, queues `mail` and records `event`.
    async fn issue_mail_token(
        &self,
        token: NewMailToken,
        mail: Vec<SealedMail>,
        event: Option<SecurityEvent>,
        not_since: OffsetDateTime,
    ) -> Result<TokenIssue, StoreError>;

    /// One transaction: consumes the `reset_password` token (it must name `reset.user_id`), sets
    /// the password, marks every other outstanding reset token of the user used, clears the
    /// login backoff of `reset.throttle_key`, records `password_reset` and queues the notice.
    /// `false` when the token was not usable (nothing written). Ending the sessions is the
    /// caller's next step.
    async fn reset_password(&self, reset: PasswordReset) -> Result<bool, StoreError>;

    /// One transaction: consumes the `verify_email` token, sets the user's `email_verified` and
    /// records `email_verified`. The user's id, or `None` when the token was not usable.
    async fn verify_email(
        &self,
        token: &MailTokenHash,
        at: OffsetDateTime,
        meta: &RequestMeta,
    ) -> Result<Option<Uuid>, StoreError>;

    /// One transaction: consumes the `confirm_email` token, replaces the user's address with the
    /// token's (and its skeleton hash), sets `email_verified`, marks every other outstanding token
    /// of the user used, records `email_changed` and revokes every session of the user except the
    /// one that asked (reason `email_changed`).
    async fn confirm_email(
        &self,
        token: &MailTokenHash,
        at: OffsetDateTime,
        meta: &RequestMeta,
    ) -> Result<EmailConfirmation, StoreError>;
}

/// Deleting an account, and the records deletions leave (DESIGN.md part 2, DELETE /api/me).
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// One transaction, with the user's row locked: deletes the user and with it everything
    /// that is theirs — sessions, security events, passkeys, TOTP secret, recovery codes,
    /// ceremonies, MFA challenges (and whatever else the schema ties to the user) — and the
    /// login-throttle row `throttle_key` names; records `deletion` as the account's one
    /// remaining event, which outlives it. Mail already queued for the user is kept (it is not
    /// tied to the account, so a notice still goes out). Returns the ids of the sessions that
    /// were not revoked, for the caller to refuse their tokens everywhere; `None` when the user
    /// does not exist (nothing written).
    async fn delete_account(
        &self,
        deletion: &AccountDeletion,
        throttle_key: &ThrottleKey,
    ) -> Result<Option<Vec<Uuid>>, StoreError>;

    /// Deletion records, newest first; only those older than event `before` when given, at
    /// most `limit`.
    async fn list_account_deletions(
        &self,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<AccountDeletion>, StoreError>;

    /// Accounts deleted at or after `since`: the catch-up poll refuses their tokens (their
    /// sessions are gone, so `sessions_revoked_since` cannot name them).
    async fn accounts_deleted_since(&self, since: OffsetDateTime) -> Result<Vec<AccountDeletion>, StoreError>;
}

/// Read-only views of a user's second factors (the `passkeys`, `totp_secrets` and
/// `recovery_codes` tables): what an export and GET /api/me/mfa show, never a secret.
#[async_trait]
pub trait FactorSummaryRepository: Send + Sync {
    /// The user's passkeys, oldest first.
    async fn list_passkey_summaries(&self, user_id: Uuid) -> Result<Vec<PasskeySummary>, StoreError>;
    async fn mfa_status(&self, user_id: Uuid) -> Result<MfaStatus, StoreError>;
}

/// A user's stored TOTP secret: sealed (`TotpSecret::seal`), with the last step a code was
/// accepted for (one use per step).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredTotp {
    pub sealed_secret: Vec<u8>,
    pub last_used_step: u64,
}

impl std::fmt::Debug for StoredTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTotp")
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

/// A passkey to store: what the relying party verified at registration, named by its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPasskey {
    /// `last_used_at` is `None`; `created_at` is the registration's time.
    pub passkey: StoredPasskey,
    /// Whether the authenticator verified the user at registration.
    pub user_verified: bool,
    /// `response.transports` as the browser reported them (`internal`, `hybrid`, ...).
    pub transports: Vec<String>,
}

/// What a verified assertion changes on its passkey.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    pub passkey_id: Uuid,
    pub user_id: Uuid,
    /// The counter after this assertion (never below the stored one).
    pub sign_count: u32,
    /// The stored counter must be below `sign_count`, not only at most it: a device-bound key
    /// that counts must count up on every assertion (equal means a clone or a replayed one).
    pub require_increase: bool,
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// The relying party's credential to store, when it changed.
    pub credential: Option<Vec<u8>>,
    pub at: OffsetDateTime,
}

impl std::fmt::Debug for PasskeyUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyUse")
            .field("passkey_id", &self.passkey_id)
            .field("user_id", &self.user_id)
            .field("sign_count", &self.sign_count)
            .field("require_increase", &self.require_increase)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// A change of a user's second factors, with what it leaves behind: its event and the notices
/// mailed to the user (one per factor added or removed), written in the same transaction.
#[derive(Debug, Clone)]
pub struct FactorChange {
    pub user_id: Uuid,
    pub at: OffsetDateTime,
    pub event: SecurityEvent,
    pub notices: Vec<SealedMail>,
}

/// TOTP secrets and recovery codes (docs/second-factors.md, "Storage"). Every write that a
/// race could double is one conditional statement, so the race is harmless.
#[async_trait]
pub trait SecondFactorRepository: Send + Sync {
    /// One transaction: inserts the TOTP secret with `last_used_step` (the confirmation's step,
    /// so the confirming code cannot log in), replaces the user's recovery codes with `codes`,
    /// records the event and queues the notices. `false` (nothing written) when the user already
    /// has a TOTP secret (decided by the primary key, never check-then-insert).
    async fn enable_totp(
        &self,
        totp: StoredTotp,
        codes: &[RecoveryCodeHash],
        change: FactorChange,
    ) -> Result<bool, StoreError>;

    async fn find_totp(&self, user_id: Uuid) -> Result<Option<StoredTotp>, StoreError>;

    /// `UPDATE totp_secrets SET last_used_step = :step WHERE user_id = :u AND last_used_step <
    /// :step`: `true` when this call moved the step (the code is accepted), `false` when another
    /// request used this step or a later one first (replayed).
    async fn use_totp_step(&self, user_id: Uuid, step: u64) -> Result<bool, StoreError>;

    /// One transaction: deletes the TOTP secret and every recovery code of the user, records the
    /// event and queues the notices. `false` (nothing written) when the user has no TOTP secret.
    async fn disable_totp(&self, change: FactorChange) -> Result<bool, StoreError>;

    /// Marks the user's unused code with digest `hash` used at `at`, one conditional write:
    /// `false` when there is none (wrong, used, or used by a parallel request just now).
    async fn redeem_recovery_code(
        &self,
        user_id: Uuid,
        hash: &RecoveryCodeHash,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// One transaction: deletes the user's recovery codes and inserts `codes`, records the event
    /// and queues the notices. `false` (nothing written) when the user has no TOTP secret: codes
    /// only stand in for a factor the user has.
    async fn replace_recovery_codes(
        &self,
        codes: &[RecoveryCodeHash],
        change: FactorChange,
    ) -> Result<bool, StoreError>;

    /// An administrator's removal, one transaction: deletes the user's TOTP secret, recovery
    /// codes and passkeys, records the event and queues the notices. `false` (nothing written)
    /// when the user has none of them.
    async fn remove_second_factors(&self, change: FactorChange) -> Result<bool, StoreError>;
}

/// What [`MfaChallengeRepository::complete_mfa_challenge`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeCompletion {
    /// The challenge was deleted and the session created, in one transaction.
    Completed,
    /// The challenge was gone (another request completed it, or it was swept): nothing written.
    Gone,
}

/// The MFA challenges of logins that answered 202 (`mfa::challenge`).
#[async_trait]
pub trait MfaChallengeRepository: Send + Sync {
    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<(), StoreError>;

    async fn find_mfa_challenge(&self, key: &ChallengeKey) -> Result<Option<MfaChallenge>, StoreError>;

    /// `UPDATE mfa_challenges SET attempts = :n WHERE key = :k AND attempts = :n - 1 AND
    /// expires_at > :now`, before the code is checked: `false` when a parallel attempt counted
    /// first, or the challenge expired or is gone (the caller refuses).
    async fn record_mfa_attempt(
        &self,
        key: &ChallengeKey,
        attempts: u32,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// One transaction: `DELETE` the challenge (one row: this request won) and create the session
    /// with its event, as [`SessionRepository::create_session`] does (`AccountDisabled` likewise).
    async fn complete_mfa_challenge(
        &self,
        key: &ChallengeKey,
        session: NewSession,
        login_event: SecurityEvent,
    ) -> Result<ChallengeCompletion, StoreError>;

    // Expired challenges go with the ceremonies' sweep
    // (`CeremonyRepository::sweep_expired_ceremonies`).
}

/// The `passkeys` table (see `docs/second-factors.md`, "Storage").
#[async_trait]
pub trait PasskeyRepository: Send + Sync {
    /// One transaction: inserts the passkey, records `event` (`passkey_added`) and queues
    /// `notice`. [`StoreError::CredentialTaken`] (nothing written) when its credential id is
    /// registered already, to anyone.
    async fn add_passkey(
        &self,
        passkey: NewPasskey,
        event: SecurityEvent,
        notice: SealedMail,
    ) -> Result<(), StoreError>;

    /// The user's passkeys, oldest first.
    async fn list_passkeys(&self, user_id: Uuid) -> Result<Vec<StoredPasskey>, StoreError>;

    async fn find_passkey_by_credential_id(&self, credential_id: &[u8]) -> Result<Option<StoredPasskey>, StoreError>;

    /// Renames passkey `id` if it is `user_id`'s; `None` (nothing written) otherwise.
    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, name: &str) -> Result<Option<StoredPasskey>, StoreError>;

    /// One transaction: deletes passkey `id` if it is `user_id`'s, records `event`
    /// (`passkey_removed`) and queues `notice`. `false` (nothing written) when it is not.
    async fn delete_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        event: SecurityEvent,
        notice: SealedMail,
    ) -> Result<bool, StoreError>;

    /// Stores what an assertion changed: one conditional write, `… WHERE id = :id AND user_id =
    /// :u AND sign_count <= :new` (`<` with [`PasskeyUse::require_increase`]), so assertions
    /// racing each other cannot move the counter back. `false` (nothing written) when the
    /// condition failed: the passkey is gone, or another assertion stored a higher counter.
    async fn record_passkey_use(&self, passkey_use: &PasskeyUse) -> Result<bool, StoreError>;
}

/// Server-side state between the two requests of a ceremony (`mfa::ceremony`): WebAuthn
/// challenges and pending TOTP enrolments, in the database so that any instance can finish what
/// another started.
#[async_trait]
pub trait CeremonyRepository: Send + Sync {
    /// Stores `ceremony`, replacing one under the same key (a TOTP enrolment started again
    /// replaces its user's pending one).
    async fn put_ceremony(&self, ceremony: Ceremony) -> Result<(), StoreError>;
    /// Removes the ceremony under `key` and returns it, in one statement: of two requests racing
    /// for one ceremony, exactly one gets it. Expired rows are returned too (the caller's
    /// [`Ceremony::open`] refuses them), so a late request learns "expired", not "unknown".
    async fn take_ceremony(&self, key: &CeremonyKey) -> Result<Option<Ceremony>, StoreError>;
    /// Deletes the ceremonies and MFA challenges that expired before `now`, returning how many
    /// rows went. Run periodically; nothing depends on it for correctness.
    async fn sweep_expired_ceremonies(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Everything the domain stores.
pub trait Store:
    UserRepository
    + SessionRepository
    + KeyRepository
    + EventRepository
    + LoginThrottleRepository
    + AccountRepository
    + FactorSummaryRepository
    + MailTokenRepository
    + SecondFactorRepository
    + MfaChallengeRepository
    + PasskeyRepository
    + CeremonyRepository
{
}
impl<
    T: UserRepository
        + SessionRepository
        + KeyRepository
        + EventRepository
        + LoginThrottleRepository
        + AccountRepository
        + FactorSummaryRepository
        + MailTokenRepository
        + SecondFactorRepository
        + MfaChallengeRepository
        + PasskeyRepository
        + CeremonyRepository,
> Store for T
{
}

/// argon2 behind an async boundary: implementations run the work off the async runtime, bounded.
#[async_trait]
pub trait PasswordHashing: Send + Sync {
    async fn hash(&self, password: String) -> Result<String, PasswordError>;
    async fn verify(&self, password: String, phc: String) -> Result<Verification, PasswordError>;
    async fn verify_dummy(&self, password: String);
}

/// Tells other instances about a revocation. The local set is updated by the service itself.
#[async_trait]
pub trait RevocationPublisher: Send + Sync {
    async fn publish(&self, revocation: &Revocation);
}

/// For a single instance (SQLite): nobody else to tell.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPeers;

#[async_trait]
impl RevocationPublisher for NoPeers {
    async fn publish(&self, _revocation: &Revocation) {}
}

/// The durable mail queue (DESIGN.md "Mail"). Messages are queued sealed
/// ([`crate::mail::MailSealingKey`]), in the same transaction as the state change that caused
/// them: the store method of that change takes the [`SealedMail`](crate::mail::SealedMail) to
/// queue with it. [`enqueue_mail`](MailQueue::enqueue_mail) is for mail that accompanies no
/// state change.
///
/// Every instance runs a worker that claims one due message at a time, sends it and marks it;
/// a claim excludes every other worker until it is marked or its lease runs out, so a message is
/// sent by one worker at a time, and a worker that died holding a claim only delays its message.
#[async_trait]
pub trait MailQueue: Send + Sync {
    /// Queues `mail` in a transaction of its own, due at once.
    async fn enqueue_mail(&self, mail: crate::mail::SealedMail) -> Result<(), StoreError>;

    /// Claims the queued message that has been due longest at `now` (`None` when none is due):
    /// counts an attempt and makes it not due again before `now + lease`. Concurrent callers,
    /// on any instance, never claim the same message while a claim holds.
    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<crate::mail::ClaimedMail>, StoreError>;

    /// Marks the claimed message sent and erases its payload. `false` (nothing written) when the
    /// claim no longer holds (its lease ran out and another worker claimed it, or it was marked).
    async fn mark_mail_sent(&self, claim: crate::mail::MailClaim, at: OffsetDateTime) -> Result<bool, StoreError>;

    /// Records a failed attempt: the message is due again at `retry_at` and keeps its payload.
    /// `false` when the claim no longer holds.
    async fn retry_mail(
        &self,
        claim: crate::mail::MailClaim,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError>;

    /// Gives the claimed message up as failed and erases its payload. `false` when the claim no
    /// longer holds.
    async fn fail_mail(
        &self,
        claim: crate::mail::MailClaim,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError>;

    /// Counts for the admin view and the health log.
    async fn mail_stats(&self) -> Result<crate::mail::MailQueueStats, StoreError>;

    /// Deletes messages sent before `before` (their payload is long gone; only the counts would
    /// grow). Failed messages stay for operators. Returns how many went.
    async fn prune_sent_mail(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}
