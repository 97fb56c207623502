//! Every check of a password or a code goes through [`AuthService::throttled`]: login, password
//! change, and whatever later checks a credential (re-authentication, email change, account
//! deletion, MFA codes). One mechanism, so no endpoint can be a side door for guessing:
//!
//! 1. the client's allowance (the per-IP limit login and register share, [`AttemptLimiter`]);
//! 2. the account's backoff (the database's per-account failure count, keyed by
//!    [`throttle::throttle_key`] of the address, exactly as login keys it). Once an account has
//!    failures, each attempt is claimed atomically — counted as a failure before the check runs,
//!    by one conditional write — so parallel guesses cannot all pass one backoff decision: one
//!    gets through each time the wait is over. An account without failures is not written to
//!    before the check (a successful login costs no extra write); a burst of parallel guesses at
//!    such an account is checked at once, counted after, and the count it leaves makes the
//!    account back off from then on;
//! 3. the check itself (argon2, a code comparison), only when both allow it;
//! 4. a right answer clears the account's count; a wrong one is counted, so the next login meets
//!    the same backoff.
//!
//! Both refusals are [`AuthError::RateLimited`] with the wait, decided before any argon2 work.
//!
//! [`AttemptLimiter`]: crate::ports::AttemptLimiter

use std::future::Future;

use uuid::Uuid;

use super::{AuthService, password_fault};
use crate::error::AuthError;
use crate::events::{EventKind, RequestMeta, SecurityEvent};
use crate::password::{PasswordError, Verification};
use crate::throttle::{self, ThrottleKey};
use crate::user::User;

/// How often a claim is retried when other attempts on the same account keep winning the race.
const CLAIM_TRIES: usize = 4;

/// The answer of a credential check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Guess<T> {
    /// The credential is right; `T` is what the check learnt (e.g. whether the hash needs an
    /// upgrade).
    Right(T),
    /// The credential is wrong: counted toward the account's backoff.
    Wrong,
}

/// How an attempt stands with the account's count before its check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// The account had no failures: nothing written yet; a wrong answer is counted after.
    Clean,
    /// Counted as a failure already; a right answer clears the count.
    Counted,
}

/// What a right password tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordMatch {
    /// The stored hash uses old parameters; rehash while the plaintext is at hand.
    pub needs_rehash: bool,
}

impl AuthService {
    /// Runs `check` (a password or code check) under the throttling every credential check
    /// shares: the client's allowance, then the backoff of the account `key` names; `check` is
    /// only awaited when both allow it. A [`Guess::Right`] clears the account's failures; a
    /// [`Guess::Wrong`] is counted. (An error from `check` is passed on; it stays counted only
    /// when the attempt was claimed before the check.)
    ///
    /// `key` is [`throttle::throttle_key`] of the address the account logs in with, so every
    /// check of one account, whatever the endpoint, meets the same backoff.
    pub async fn throttled<T, F>(&self, key: &ThrottleKey, meta: &RequestMeta, check: F) -> Result<Guess<T>, AuthError>
    where
        F: Future<Output = Result<Guess<T>, AuthError>>,
    {
        self.throttled_with(key, meta, check, |_| true).await
    }

    /// [`throttled`](Self::throttled), where a right answer clears the account's failures only
    /// when `completes` says it finished the authentication: a right password of a user with a
    /// second factor is half a login, and must not wipe out the MFA failures counted before it
    /// (else logging in again would buy a fresh allowance of code guesses).
    pub(super) async fn throttled_with<T, F>(
        &self,
        key: &ThrottleKey,
        meta: &RequestMeta,
        check: F,
        completes: impl FnOnce(&T) -> bool,
    ) -> Result<Guess<T>, AuthError>
    where
        F: Future<Output = Result<Guess<T>, AuthError>>,
    {
        self.limiter
            .try_acquire(meta)
            .map_err(|retry_after_secs| AuthError::RateLimited { retry_after_secs })?;
        let claimed = self.claim_attempt(key).await?;
        let guess = check.await?;
        match (&guess, claimed) {
            (Guess::Right(found), Claim::Counted) => {
                if completes(found) {
                    self.store.clear_login_failures(key).await?;
                }
            }
            (Guess::Right(_), Claim::Clean) => {}
            (Guess::Wrong, Claim::Counted) => {}
            (Guess::Wrong, Claim::Clean) => self.store.record_login_failure(key, self.now()).await?,
        }
        Ok(guess)
    }

    /// Verifies `user`'s password under [`throttled`](Self::throttled) (keyed by the user's
    /// address). A wrong password records `login_failed` (with `session`, when the check happens
    /// inside one). A disabled user is the caller's concern: decide before or after, as the
    /// endpoint's answer requires.
    pub async fn verify_password_throttled(
        &self,
        user: &User,
        password: &str,
        meta: &RequestMeta,
        session: Option<Uuid>,
    ) -> Result<Guess<PasswordMatch>, AuthError> {
        let key = throttle::throttle_key(&user.email);
        self.throttled(&key, meta, self.check_password(user, password, meta, session))
            .await
    }

    /// The password check itself, unthrottled: callers go through [`throttled`](Self::throttled).
    pub(super) async fn check_password(
        &self,
        user: &User,
        password: &str,
        meta: &RequestMeta,
        session: Option<Uuid>,
    ) -> Result<Guess<PasswordMatch>, AuthError> {
        let verification = self
            .passwords
            .verify(password.to_owned(), user.password_hash.clone())
            .await;
        match verification {
            Ok(Verification::Match { needs_rehash }) => Ok(Guess::Right(PasswordMatch { needs_rehash })),
            Ok(Verification::Mismatch) | Err(PasswordError::BadStoredHash) => {
                let event = SecurityEvent::new(user.id, EventKind::LoginFailed, self.now(), meta, session);
                self.store.record_event(event).await?;
                Ok(Guess::Wrong)
            }
            Err(error) => Err(password_fault(error)),
        }
    }

    /// The account's backoff decision and, for an account with failures, the count of this
    /// attempt, as one atomic step: read the count, refuse while backing off, else count this
    /// attempt if nobody counted another in between (else read again).
    async fn claim_attempt(&self, key: &ThrottleKey) -> Result<Claim, AuthError> {
        for _ in 0..CLAIM_TRIES {
            let Some((failures, last_failure_at)) = self.store.login_failures(key).await? else {
                return Ok(Claim::Clean);
            };
            let now = self.now();
            if let Some(until) = throttle::blocked_until(failures, last_failure_at, now) {
                return Err(AuthError::RateLimited {
                    retry_after_secs: throttle::whole_seconds_until(until, now),
                });
            }
            if self.store.claim_login_attempt(key, Some(failures), now).await? {
                return Ok(Claim::Counted);
            }
        }
        // Other attempts on this account keep winning: it is under a parallel attack.
        Err(AuthError::RateLimited { retry_after_secs: 1 })
    }
}
