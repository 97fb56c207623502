//! Managing a user's TOTP and recovery codes (GET/POST/DELETE /api/me/mfa…), and an
//! administrator's removal of every second factor of a user. Each change is one store
//! transaction with its event and the notice mailed to the user.

use std::fmt;

use uuid::Uuid;

use super::AuthService;
use super::Guess;
use super::admin::require_admin;
use crate::access::AccessClaims;
use crate::account::MfaStatus;
use crate::error::AuthError;
use crate::events::{EventKind, RequestMeta, SecurityEvent};
use crate::mail::{MailIntent, SealedMail, SecondFactor as NoticeFactor};
use crate::mfa::ceremony::{Ceremony, CeremonyKey, CeremonyKind};
use crate::mfa::recovery;
use crate::mfa::totp::{self, Enrolment, TotpSecret};
use crate::ports::{FactorChange, StoredTotp};
use crate::throttle;
use crate::user::User;

/// A fresh set of recovery codes, shown this once.
#[derive(Clone)]
pub struct RecoveryCodes(pub Vec<String>);

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes({} codes, <redacted>)", self.0.len())
    }
}

/// A started TOTP enrolment: what the authenticator app needs. Nothing is enabled until the
/// user confirms a code.
#[derive(Clone)]
pub struct TotpEnrolment {
    /// The secret in base32, grouped, for typing in.
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrolment(<redacted>)")
    }
}

impl AuthService {
    /// Starts a TOTP enrolment for the caller: a new secret, kept sealed as the user's one
    /// pending enrolment (a new start replaces it) for 5 minutes. Needs a recent proof of a
    /// credential. Nothing is enabled until [`confirm_totp`](Self::confirm_totp).
    pub async fn start_totp_enrolment(&self, caller: &AccessClaims) -> Result<TotpEnrolment, AuthError> {
        let user = self.live_caller(caller).await?;
        self.require_recent_auth(caller, &user).await?;
        if self.store.mfa_status(user.id).await?.totp {
            return Err(super::validation("totp", "TOTP is already enabled: disable it first"));
        }
        let enrolment = Enrolment::start(&self.totp_issuer, &user.email)
            .map_err(|error| AuthError::Internal(format!("TOTP enrolment: {error}")))?;
        let sealed = enrolment.secret.seal(&self.totp_key, user.id);
        self.start_ceremony(CeremonyKind::TotpEnrolment, Some(user.id), user.id.as_bytes(), sealed)
            .await?;
        Ok(TotpEnrolment {
            secret: enrolment.manual_key,
            otpauth_uri: enrolment.otpauth_uri,
            qr_svg: enrolment.qr_svg,
        })
    }

    /// Confirms the caller's pending enrolment with a code of the new secret: enables TOTP (the
    /// code's step is used up) with a first set of recovery codes, records `mfa_enabled` and
    /// mails a notice. A wrong code is a 422 naming `code` and counts toward the account's
    /// backoff; the pending enrolment stays (with its original expiry), so a typo does not mean
    /// scanning a new QR code. No pending enrolment (never started, finished, or older than 5
    /// minutes): 422 naming `code`, start again.
    pub async fn confirm_totp(
        &self,
        caller: &AccessClaims,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<RecoveryCodes, AuthError> {
        let user = self.live_caller(caller).await?;
        let Some(ceremony) = self.store.take_ceremony(&CeremonyKey::totp_enrolment(user.id)).await? else {
            return Err(no_enrolment());
        };
        let kept: Ceremony = ceremony.clone();
        let sealed = ceremony
            .open(CeremonyKind::TotpEnrolment, Some(user.id), self.now())
            .map_err(|_| no_enrolment())?;
        let secret = TotpSecret::open(&self.totp_key, &sealed, user.id)
            .map_err(|_| AuthError::Internal("a pending TOTP secret does not open".to_owned()))?;
        let key = throttle::throttle_key(&user.email);
        let check = async {
            let verdict = totp::confirm(&secret, code, self.now())
                .map_err(|error| AuthError::Internal(format!("TOTP: {error}")))?;
            Ok(match verdict {
                Ok(step) => Guess::Right(step),
                Err(_) => Guess::Wrong,
            })
        };
        let step = match self.throttled(&key, meta, check).await {
            Ok(Guess::Right(step)) => step,
            Ok(Guess::Wrong) => {
                self.store.put_ceremony(kept).await?;
                return Err(super::validation(
                    "code",
                    "the code is wrong: enter the current code of the app",
                ));
            }
            Err(error) => {
                // Refused before the check (backoff): the enrolment waits for the next try.
                self.store.put_ceremony(kept).await?;
                return Err(error);
            }
        };
        let codes = recovery::generate(user.id);
        let mut change = self.factor_change(&user, EventKind::MfaEnabled, meta, Some(caller.sid), Vec::new());
        change.notices.push(self.added_notice(&user, NoticeFactor::Totp));
        let stored = StoredTotp {
            sealed_secret: sealed,
            last_used_step: step,
        };
        if !self.store.enable_totp(stored, &codes.stored, change).await? {
            return Err(super::validation("code", "TOTP is already enabled"));
        }
        Ok(RecoveryCodes(codes.plaintext))
    }

    /// GET /api/me/mfa: which second factors the caller has.
    pub async fn mfa_status(&self, caller: &AccessClaims) -> Result<MfaStatus, AuthError> {
        let user = self.live_caller(caller).await?;
        Ok(self.store.mfa_status(user.id).await?)
    }

    /// Disables the caller's TOTP (its recovery codes go too). Needs a recent proof of a
    /// credential. `NotFound` when TOTP is not enabled.
    pub async fn disable_totp(&self, caller: &AccessClaims, meta: &RequestMeta) -> Result<(), AuthError> {
        let user = self.live_caller(caller).await?;
        self.require_recent_auth(caller, &user).await?;
        let change = self.factor_change(&user, EventKind::MfaDisabled, meta, Some(caller.sid), removed_totp());
        if self.store.disable_totp(change).await? {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// Replaces the caller's recovery codes with a fresh set. Needs a recent proof of a
    /// credential. `NotFound` when TOTP is not enabled (codes only stand in for a factor).
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &AccessClaims,
        meta: &RequestMeta,
    ) -> Result<RecoveryCodes, AuthError> {
        let user = self.live_caller(caller).await?;
        self.require_recent_auth(caller, &user).await?;
        let codes = recovery::generate(user.id);
        let mut change = self.factor_change(
            &user,
            EventKind::RecoveryCodesRegenerated,
            meta,
            Some(caller.sid),
            Vec::new(),
        );
        change
            .notices
            .push(self.added_notice(&user, NoticeFactor::RecoveryCodes));
        if self.store.replace_recovery_codes(&codes.stored, change).await? {
            Ok(RecoveryCodes(codes.plaintext))
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// An administrator removes every second factor of `user_id` (TOTP, recovery codes,
    /// passkeys): the way back in for a user who lost them. Needs the administrator's recent
    /// proof of a credential. Records `mfa_disabled` for the user and mails a notice per factor.
    /// `NotFound` for no such user; a user without factors is left as is.
    pub async fn admin_remove_mfa(
        &self,
        caller: &AccessClaims,
        user_id: Uuid,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        require_admin(caller)?;
        let admin = self.live_caller(caller).await?;
        self.require_recent_auth(caller, &admin).await?;
        let user = self.store.find_user(user_id).await?.ok_or(AuthError::NotFound)?;
        let status = self.store.mfa_status(user.id).await?;
        let mut removed = Vec::new();
        if status.totp {
            removed.extend(removed_totp());
        }
        for passkey in self.store.list_passkey_summaries(user.id).await? {
            removed.push(NoticeFactor::Passkey { name: passkey.name });
        }
        // The event is the user's (their list shows it), not tied to the admin's session.
        let change = self.factor_change(&user, EventKind::MfaDisabled, meta, None, removed);
        self.store.remove_second_factors(change).await?;
        Ok(())
    }

    /// The caller's account, when it still exists and is not disabled (else the session is over).
    pub(super) async fn live_caller(&self, caller: &AccessClaims) -> Result<User, AuthError> {
        match self.store.find_user(caller.sub).await? {
            Some(user) if !user.disabled => Ok(user),
            Some(_) => Err(AuthError::SessionRevoked),
            None => Err(self.caller_gone(caller, self.now()).await),
        }
    }

    /// `event` for `user`, with a "second factor removed" notice per factor in `removed` (an
    /// enabling change passes its "added" notice itself, see `confirm_totp`).
    pub(super) fn factor_change(
        &self,
        user: &User,
        event: EventKind,
        meta: &RequestMeta,
        session: Option<Uuid>,
        removed: Vec<NoticeFactor>,
    ) -> FactorChange {
        let now = self.now();
        let notices: Vec<SealedMail> = removed
            .into_iter()
            .map(|factor| {
                self.sealed_mail(
                    user,
                    &user.email,
                    MailIntent::SecondFactorRemoved { factor, at: now },
                    now,
                )
            })
            .collect();
        FactorChange {
            user_id: user.id,
            at: now,
            event: SecurityEvent::new(user.id, event, now, meta, session),
            notices,
        }
    }
}

impl AuthService {
    /// The "second factor added" notice for `factor`.
    pub(super) fn added_notice(&self, user: &User, factor: NoticeFactor) -> SealedMail {
        let now = self.now();
        self.sealed_mail(
            user,
            &user.email,
            MailIntent::SecondFactorAdded { factor, at: now },
            now,
        )
    }
}

fn no_enrolment() -> AuthError {
    super::validation("code", "no TOTP enrolment is waiting (it lasts 5 minutes): start again")
}

fn removed_totp() -> Vec<NoticeFactor> {
    vec![NoticeFactor::Totp]
}
