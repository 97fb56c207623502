//! Account recovery by mail (DESIGN.md part 2, "Mail" and the endpoint rows): forgot and reset
//! password, verify the address (sent on register, re-sent on request), change the address
//! (confirmed at the new one, a notice to the old one). Every mail is queued in the transaction
//! of the state change that causes it (`MailTokenRepository`); none is sent inline.

use time::{Duration, OffsetDateTime};

use super::{AuthService, Guess, password_fault, validation};
use crate::access::AccessClaims;
use crate::error::AuthError;
use crate::events::{EventKind, RequestMeta, SecurityEvent};
use crate::mail::{MailIntent, OutgoingMail, Recipient, SealedMail};
use crate::mail_token::{MailTokenHash, MailTokenPurpose, MintedToken, NewMailToken};
use crate::password;
use crate::ports::{EmailConfirmation, PasswordReset, TokenIssue};
use crate::session::RevocationReason;
use crate::throttle;
use crate::user::{self, Email, User};

/// At most one mail of each token purpose per account in this long (the reset rule of the
/// contract; the same spacing keeps re-sent verifications and change confirmations from being
/// used to flood a mailbox).
pub const MAIL_SPACING: Duration = Duration::seconds(60);

/// Lifetimes of mail tokens and whether a session needs a verified address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailPolicy {
    /// `TESSERA_RESET_TTL`.
    pub reset_ttl: Duration,
    /// `TESSERA_VERIFY_TTL` (verification and change confirmation links).
    pub verify_ttl: Duration,
    /// `TESSERA_REQUIRE_VERIFIED_EMAIL`: login and register give no session until the address is
    /// verified.
    pub require_verified_email: bool,
}

impl Default for MailPolicy {
    fn default() -> MailPolicy {
        MailPolicy {
            reset_ttl: Duration::minutes(30),
            verify_ttl: Duration::hours(24),
            require_verified_email: false,
        }
    }
}

/// Whole seconds until the spacing after `last_issued_at` is over (at least 1).
fn spacing_wait(last_issued_at: OffsetDateTime, now: OffsetDateTime) -> u64 {
    throttle::whole_seconds_until(last_issued_at + MAIL_SPACING, now).max(1)
}

impl AuthService {
    /// `intent` for `user` (at `address`), sealed for the queue.
    pub(super) fn sealed_mail(
        &self,
        user: &User,
        address: &str,
        intent: MailIntent,
        now: OffsetDateTime,
    ) -> SealedMail {
        let to = Recipient {
            address: address.to_owned(),
            name: user.name.clone(),
        };
        self.mail_key.seal(&OutgoingMail::new(Some(user.id), to, intent, now))
    }

    /// A fresh `verify_email` token for `user` and its mail.
    pub(super) fn verification_for(&self, user: &User, now: OffsetDateTime) -> (NewMailToken, SealedMail) {
        let minted = MintedToken::generate();
        let expires_at = now.saturating_add(self.mail_policy.verify_ttl);
        let token = NewMailToken {
            hash: minted.hash,
            user_id: user.id,
            purpose: MailTokenPurpose::VerifyEmail,
            new_email: None,
            session_id: None,
            created_at: now,
            expires_at,
        };
        let intent = MailIntent::VerifyAddress {
            token: minted.link,
            expires_at,
        };
        (token, self.sealed_mail(user, &user.email, intent, now))
    }

    /// The "your password was changed" notice.
    pub(super) fn password_notice(&self, user: &User, now: OffsetDateTime) -> SealedMail {
        self.sealed_mail(user, &user.email, MailIntent::PasswordChanged { at: now }, now)
    }

    /// Queues a verification mail unless one went out within [`MAIL_SPACING`]; `Err` with the
    /// wait when one did.
    async fn send_verification(&self, user: &User) -> Result<Result<(), u64>, AuthError> {
        let now = self.now();
        let (token, mail) = self.verification_for(user, now);
        match self
            .store
            .issue_mail_token(token, vec![mail], None, now - MAIL_SPACING)
            .await?
        {
            TokenIssue::Issued | TokenIssue::NoUser => Ok(Ok(())),
            TokenIssue::TooSoon { last_issued_at } => Ok(Err(spacing_wait(last_issued_at, now))),
        }
    }

    /// `TESSERA_REQUIRE_VERIFIED_EMAIL` after a right password: an unverified account gets no
    /// session, and a verification mail (at most one a minute) so it can become verified.
    pub(super) async fn require_verified(&self, user: &User) -> Result<(), AuthError> {
        if !self.mail_policy.require_verified_email || user.email_verified {
            return Ok(());
        }
        // Whether a mail went out now or a minute ago, the answer is the same.
        let _ = self.send_verification(user).await?;
        Err(AuthError::EmailUnverified)
    }

    /// POST /api/auth/password/forgot. Mails a reset link when an enabled account has the
    /// address and no reset mail went to it within [`MAIL_SPACING`] (else silently nothing), and
    /// records `password_reset_requested`. Says nothing about the account: the caller answers the
    /// same whatever this did, and should answer before awaiting it (its duration depends on
    /// the account).
    pub async fn request_password_reset(&self, email: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        let normalised = user::normalise_email(email);
        if normalised.is_empty() {
            return Ok(());
        }
        let Some(user) = self.store.find_user_by_email(&normalised).await? else {
            return Ok(());
        };
        if user.disabled {
            return Ok(());
        }
        let now = self.now();
        let minted = MintedToken::generate();
        let expires_at = now.saturating_add(self.mail_policy.reset_ttl);
        let token = NewMailToken {
            hash: minted.hash,
            user_id: user.id,
            purpose: MailTokenPurpose::ResetPassword,
            new_email: None,
            session_id: None,
            created_at: now,
            expires_at,
        };
        let intent = MailIntent::ResetPassword {
            token: minted.link,
            expires_at,
        };
        let mail = self.sealed_mail(&user, &user.email, intent, now);
        let event = SecurityEvent::new(user.id, EventKind::PasswordResetRequested, now, meta, None);
        // `TooSoon` is the one-mail-a-minute rule: silently nothing.
        let _ = self
            .store
            .issue_mail_token(token, vec![mail], Some(event), now - MAIL_SPACING)
            .await?;
        Ok(())
    }

    /// POST /api/auth/password/reset. The policy is checked first (a weak password leaves the
    /// token usable); then one transaction consumes the token, sets the password, kills the
    /// user's other reset tokens, clears the login backoff, records `password_reset` and queues
    /// the notice; then every session of the user ends, on every instance. Does not log in.
    pub async fn reset_password(&self, token: &str, new_password: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        let hash = MailTokenHash::of_presented(token).ok_or(AuthError::MailTokenInvalid)?;
        let record = self
            .store
            .find_mail_token(&hash)
            .await?
            .filter(|record| record.usable_for(MailTokenPurpose::ResetPassword, self.now()))
            .ok_or(AuthError::MailTokenInvalid)?;
        let user = self
            .store
            .find_user(record.user_id)
            .await?
            .ok_or(AuthError::MailTokenInvalid)?;
        let local_part = user.email.rsplit_once('@').map_or("", |(local, _)| local);
        password::check_policy(new_password, &[user.email.as_str(), local_part, user.name.as_str()])
            .map_err(|violation| validation("new_password", violation.to_string()))?;
        let password_hash = self
            .passwords
            .hash(new_password.to_owned())
            .await
            .map_err(password_fault)?;
        let now = self.now();
        let reset = PasswordReset {
            token: hash,
            user_id: user.id,
            password_hash,
            throttle_key: throttle::throttle_key(&user.email),
            at: now,
            meta: meta.clone(),
            notice: self.password_notice(&user, now),
        };
        if !self.store.reset_password(reset).await? {
            // Used or expired while the password was hashed.
            return Err(AuthError::MailTokenInvalid);
        }
        self.end_user_sessions(user.id, RevocationReason::PasswordReset, now, meta, None)
            .await?;
        Ok(())
    }

    /// POST /api/auth/email/verify: marks the token's account verified and records
    /// `email_verified`. Needs no session (the link may be opened in another browser); the
    /// account's tokens say so from their next refresh.
    pub async fn verify_email(&self, token: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        let hash = MailTokenHash::of_presented(token).ok_or(AuthError::MailTokenInvalid)?;
        self.store
            .verify_email(&hash, self.now(), meta)
            .await?
            .ok_or(AuthError::MailTokenInvalid)?;
        Ok(())
    }

    /// POST /api/me/email/verification: a new verification mail, at most one a minute
    /// (`RateLimited` with the wait), `EmailAlreadyVerified` once verified.
    pub async fn resend_verification(&self, caller: &AccessClaims) -> Result<(), AuthError> {
        let Some(user) = self.store.find_user(caller.sub).await? else {
            return Err(self.caller_gone(caller, self.now()).await);
        };
        if user.disabled {
            return Err(AuthError::SessionRevoked);
        }
        if user.email_verified {
            return Err(AuthError::EmailAlreadyVerified);
        }
        self.send_verification(&user)
            .await?
            .map_err(|retry_after_secs| AuthError::RateLimited { retry_after_secs })
    }

    /// POST /api/me/email: checks the current password (throttled like every credential check;
    /// wrong → `Validation` naming `current_password`), validates the new address like
    /// registration, refuses one another account has (`EmailTaken`), and queues a confirmation
    /// link to the new address and a notice to the old one. Nothing changes until the link is
    /// used. At most one request a minute per account.
    pub async fn request_email_change(
        &self,
        caller: &AccessClaims,
        new_email: &str,
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
        let email = Email::parse(new_email).ok_or_else(|| {
            validation(
                "new_email",
                format!(
                    "must be an email address of at most {} characters, without invisible or control characters",
                    user::EMAIL_MAX_LEN
                ),
            )
        })?;
        if email.as_str() == user.email {
            return Err(validation("new_email", "is the address of this account already"));
        }
        // Checked again, by the unique indexes, when the change is confirmed.
        if self.store.find_user_by_email(email.as_str()).await?.is_some() {
            return Err(AuthError::EmailTaken);
        }
        let now = self.now();
        let minted = MintedToken::generate();
        let expires_at = now.saturating_add(self.mail_policy.verify_ttl);
        let confirm = MailIntent::ConfirmNewAddress {
            token: minted.link,
            new_address: email.as_str().to_owned(),
            expires_at,
        };
        let notice = MailIntent::AddressChangeNotice {
            new_address: email.as_str().to_owned(),
        };
        let mails = vec![
            self.sealed_mail(&user, email.as_str(), confirm, now),
            self.sealed_mail(&user, &user.email, notice, now),
        ];
        let token = NewMailToken {
            hash: minted.hash,
            user_id: user.id,
            purpose: MailTokenPurpose::ConfirmEmail,
            new_email: Some(email),
            session_id: Some(caller.sid),
            created_at: now,
            expires_at,
        };
        match self
            .store
            .issue_mail_token(token, mails, None, now - MAIL_SPACING)
            .await?
        {
            TokenIssue::Issued => Ok(()),
            TokenIssue::TooSoon { last_issued_at } => Err(AuthError::RateLimited {
                retry_after_secs: spacing_wait(last_issued_at, now),
            }),
            TokenIssue::NoUser => Err(self.caller_gone(caller, now).await),
        }
    }

    /// POST /api/auth/email/confirm: the token's new address replaces the account's (now
    /// verified), `email_changed` is recorded, and every session but the one that asked ends at
    /// once. `EmailTaken` (token kept) when another account has the address by now.
    pub async fn confirm_email(&self, token: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        let hash = MailTokenHash::of_presented(token).ok_or(AuthError::MailTokenInvalid)?;
        let now = self.now();
        match self.store.confirm_email(&hash, now, meta).await? {
            EmailConfirmation::Confirmed { revoked, .. } => {
                self.revoke_all_locally(revoked, now).await;
                Ok(())
            }
            EmailConfirmation::Taken => Err(AuthError::EmailTaken),
            EmailConfirmation::Invalid => Err(AuthError::MailTokenInvalid),
        }
    }
}
