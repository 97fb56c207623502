//! The second step of a login (DESIGN.md part 2, "Login with a second factor"): a right password
//! of a user with a second factor answers an MFA challenge instead of a session
//! ([`LoginOutcome::MfaRequired`]); [`AuthService::complete_mfa`] proves the second factor and
//! creates the session.
//!
//! The challenge is stored (`mfa_challenges`), so any instance can finish it. Each attempt is
//! counted on the challenge by a conditional write *before* the code is checked (a parallel guess
//! uses up an attempt too); after [`MAX_ATTEMPTS`](crate::mfa::challenge::MAX_ATTEMPTS) the challenge is dead. Every check
//! also goes through [`AuthService::throttled`] under the account's key, so MFA failures meet the
//! same per-account backoff as password failures. A right factor deletes the challenge and creates
//! the session in one transaction: of two parallel right answers one gets the session.

use std::fmt;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AuthService, Guess, LoggedIn, session_store_error};
use crate::error::AuthError;
use crate::events::{EventKind, RequestMeta, SecurityEvent};
use crate::mfa::ceremony::CeremonyKind;
use crate::mfa::challenge::{ChallengeKey, ChallengeToken, MfaChallenge};
use crate::mfa::policy::{self as login_policy, LoginDecision, LoginPath, MfaMethod, SecondFactor};
use crate::mfa::recovery;
use crate::mfa::totp::{self, TotpSecret};
use crate::ports::ChallengeCompletion;
use crate::session::TokenDelivery;
use crate::throttle;
use crate::user::User;

/// What a login with a right password answers.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per login; boxing would only add an allocation"
)]
pub enum LoginOutcome {
    /// The password was enough: a session.
    LoggedIn(LoggedIn),
    /// The user has a second factor: no session yet (202).
    MfaRequired(MfaRequired),
}

/// The MFA challenge of a login that answered 202.
pub struct MfaRequired {
    /// The `__Host-mfa` cookie, or `mfa_token` in the body (as the login's `delivery` says).
    pub token: ChallengeToken,
    pub methods: Vec<MfaMethod>,
    pub expires_at: OffsetDateTime,
    pub delivery: TokenDelivery,
}

impl fmt::Debug for MfaRequired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaRequired")
            .field("methods", &self.methods)
            .field("expires_at", &self.expires_at)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

/// A second factor presented to POST /api/auth/mfa (or, TOTP and passkey, to POST
/// /api/auth/reauth); each variant is checked in [`AuthService::check_factor`].
#[derive(Clone, Copy)]
pub enum SecondFactorProof<'a> {
    Totp(&'a str),
    RecoveryCode(&'a str),
    /// The browser's `toJSON()` of an assertion answering the options of POST
    /// /api/auth/mfa/passkey/options (or /api/auth/reauth/passkey/options).
    Passkey(&'a Value),
}

impl fmt::Debug for SecondFactorProof<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecondFactorProof::Totp(_) => f.write_str("Totp(<redacted>)"),
            SecondFactorProof::RecoveryCode(_) => f.write_str("RecoveryCode(<redacted>)"),
            SecondFactorProof::Passkey(_) => f.write_str("Passkey(<assertion>)"),
        }
    }
}

/// Where a second factor is checked: it decides which ceremony a passkey assertion must answer
/// and which session a failure's event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FactorCheck {
    /// The second step of a login (no session yet).
    Login,
    /// A re-authentication of this session.
    Reauth { session: Uuid },
}

impl FactorCheck {
    fn ceremony(self) -> CeremonyKind {
        match self {
            FactorCheck::Login => CeremonyKind::PasskeySecondFactor,
            FactorCheck::Reauth { .. } => CeremonyKind::PasskeyReauth,
        }
    }

    fn session(self) -> Option<Uuid> {
        match self {
            FactorCheck::Login => None,
            FactorCheck::Reauth { session } => Some(session),
        }
    }
}

impl AuthService {
    /// Stores a new challenge for `user` and answers it (the login's `delivery` is kept for the
    /// session the challenge leads to).
    pub(super) async fn issue_mfa_challenge(
        &self,
        user: &User,
        methods: Vec<MfaMethod>,
        delivery: TokenDelivery,
    ) -> Result<MfaRequired, AuthError> {
        let (token, challenge) = MfaChallenge::issue(user.id, delivery, self.now());
        self.store.insert_mfa_challenge(&challenge).await?;
        Ok(MfaRequired {
            token,
            methods,
            expires_at: challenge.expires_at,
            delivery,
        })
    }

    /// The live challenge `token` names, and its user while the account is enabled; anything
    /// else (malformed, unknown, expired, used up, a disabled account) is `MfaFailed`.
    async fn live_challenge(&self, token: &str) -> Result<(ChallengeKey, MfaChallenge, User), AuthError> {
        let key = ChallengeKey::of(token).ok_or(AuthError::MfaFailed)?;
        let challenge = self.store.find_mfa_challenge(&key).await?.ok_or(AuthError::MfaFailed)?;
        challenge.check_live(self.now()).map_err(|_| AuthError::MfaFailed)?;
        let user = self
            .store
            .find_user(challenge.user_id)
            .await?
            .filter(|user| !user.disabled)
            .ok_or(AuthError::MfaFailed)?;
        Ok((key, challenge, user))
    }

    /// Completes a login that answered [`LoginOutcome::MfaRequired`]: `token` is its challenge,
    /// `proof` the second factor. Unknown, expired or dead challenges and wrong, malformed or
    /// replayed factors are all [`AuthError::MfaFailed`]; a wrong factor records `mfa_failed`,
    /// uses up one of the challenge's attempts and counts toward the account's backoff. A right
    /// one deletes the challenge and creates the session (`amr` from the login policy), with
    /// `login_succeeded`; a recovery code also records `recovery_code_used`.
    pub async fn complete_mfa(
        &self,
        token: &str,
        proof: SecondFactorProof<'_>,
        meta: &RequestMeta,
    ) -> Result<LoggedIn, AuthError> {
        // A dead challenge is refused before anything is counted: there is nothing left to guess.
        let (key, mut challenge, user) = self.live_challenge(token).await?;
        let throttle_key = throttle::throttle_key(&user.email);
        let check = async {
            let attempts = challenge.begin_attempt(self.now()).map_err(|_| AuthError::MfaFailed)?;
            if !self.store.record_mfa_attempt(&key, attempts, self.now()).await? {
                // A parallel attempt counted first, or the challenge ended meanwhile.
                return Err(AuthError::MfaFailed);
            }
            self.check_factor(&user, proof, meta, FactorCheck::Login).await
        };
        let Guess::Right(factor) = self.throttled(&throttle_key, meta, check).await? else {
            return Err(AuthError::MfaFailed);
        };
        let factors = self.enrolled_factors(&user).await?;
        let LoginDecision::Session { amr } = login_policy::decide(LoginPath::PasswordThen(factor), &factors) else {
            return Err(AuthError::MfaFailed);
        };
        let (session, event, tokens) =
            self.prepare_session(&user, amr, challenge.delivery, meta, EventKind::LoginSucceeded)?;
        let session_id = session.id;
        match self
            .store
            .complete_mfa_challenge(&key, session, event)
            .await
            .map_err(session_store_error)?
        {
            ChallengeCompletion::Completed => {}
            // Another request with the same challenge won (its factor was right too).
            ChallengeCompletion::Gone => return Err(AuthError::MfaFailed),
        }
        if factor == SecondFactor::RecoveryCode {
            let event = SecurityEvent::new(user.id, EventKind::RecoveryCodeUsed, self.now(), meta, Some(session_id));
            self.store.record_event(event).await?;
        }
        Ok(LoggedIn { user, tokens })
    }

    /// Checks `proof` for `user`, unthrottled (callers go through
    /// [`throttled`](Self::throttled)). A right TOTP code uses up its time step, a right recovery
    /// code is used up, both by one conditional write (of two parallel uses one wins); a passkey
    /// assertion must answer a live ceremony of `check`'s kind started for `user`
    /// ([`check_user_passkey`](Self::check_user_passkey)). Wrong records `mfa_failed` (with the
    /// session of a re-authentication).
    pub(super) async fn check_factor(
        &self,
        user: &User,
        proof: SecondFactorProof<'_>,
        meta: &RequestMeta,
        check: FactorCheck,
    ) -> Result<Guess<SecondFactor>, AuthError> {
        let right = match proof {
            SecondFactorProof::Totp(code) => self.check_totp(user, code).await?.then_some(SecondFactor::Totp),
            SecondFactorProof::RecoveryCode(code) => {
                let redeemed = match recovery::hash_input(user.id, code) {
                    Ok(hash) => self.store.redeem_recovery_code(user.id, &hash, self.now()).await?,
                    Err(_) => false,
                };
                redeemed.then_some(SecondFactor::RecoveryCode)
            }
            SecondFactorProof::Passkey(credential) => self
                .check_user_passkey(user, check.ceremony(), credential)
                .await?
                .map(SecondFactor::Passkey),
        };
        if let Some(factor) = right {
            return Ok(Guess::Right(factor));
        }
        let event = SecurityEvent::new(user.id, EventKind::MfaFailed, self.now(), meta, check.session());
        self.store.record_event(event).await?;
        Ok(Guess::Wrong)
    }

    /// Options for a passkey as the second factor of a login that answered 202 (POST
    /// /api/auth/mfa/passkey/options): `token` is its challenge, which must be live; the options
    /// allow only the challenge user's passkeys. Starts a `PasskeySecondFactor` ceremony bound to
    /// that user. A dead challenge, or a user without passkeys: `MfaFailed`.
    pub async fn mfa_passkey_options(&self, token: &str) -> Result<Value, AuthError> {
        let (_, _, user) = self.live_challenge(token).await?;
        self.user_passkey_options(&user, CeremonyKind::PasskeySecondFactor)
            .await?
            .ok_or(AuthError::MfaFailed)
    }

    /// Whether `code` is a fresh TOTP code of `user` (±1 step, and a step later than the last
    /// one used); the step is used up when it is.
    pub(super) async fn check_totp(&self, user: &User, code: &str) -> Result<bool, AuthError> {
        let Some(stored) = self.store.find_totp(user.id).await? else {
            return Ok(false);
        };
        let secret = TotpSecret::open(&self.totp_key, &stored.sealed_secret, user.id)
            .map_err(|_| AuthError::Internal("a stored TOTP secret does not open".to_owned()))?;
        let verdict = totp::verify(&secret, code, self.now(), Some(stored.last_used_step))
            .map_err(|error| AuthError::Internal(format!("TOTP: {error}")))?;
        match verdict {
            // Accepted only if no other request used this step (or a later one) meanwhile.
            Ok(step) => Ok(self.store.use_totp_step(user.id, step).await?),
            Err(_) => Ok(false),
        }
    }
}
