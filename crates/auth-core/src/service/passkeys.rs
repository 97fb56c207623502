//! Passkeys over the store: registering one (POST /api/me/passkeys/options, then POST
//! /api/me/passkeys), listing, renaming and deleting them, and the usernameless login (POST
//! /api/auth/passkey/options, then POST /api/auth/passkey).
//!
//! The relying party (`PasskeyRelyingParty`) verifies; this module loads and stores around it.
//! Every ceremony is kept in the store between its two requests (any instance finishes what
//! another started), keyed by its WebAuthn challenge, which the finishing request carries inside
//! `clientDataJSON`: taking it deletes it, so a ceremony finishes once, and `Ceremony::open`
//! refuses one of another kind, another user's, or one older than five minutes.

use serde_json::Value;
use uuid::Uuid;

use super::{AuthService, LoggedIn};
use crate::access::AccessClaims;
use crate::account::PasskeySummary;
use crate::error::AuthError;
use crate::events::{EventKind, RequestMeta, SecurityEvent};
use crate::mail::{MailIntent, SecondFactor};
use crate::mfa::ceremony::CeremonyKind;
use crate::mfa::passkey::{PasskeyError, PasskeyUser, StoredPasskey, VerifiedAssertion};
use crate::mfa::policy::PasskeyProof;
use crate::mfa::policy::{self as login_policy, LoginDecision, LoginPath, Refusal};
use crate::ports::{NewPasskey, PasskeyUse, StoreError};
use crate::session::TokenDelivery;
use crate::user::{self, User};

fn summary(passkey: &StoredPasskey) -> PasskeySummary {
    PasskeySummary {
        id: passkey.id,
        name: passkey.name.clone(),
        created_at: passkey.created_at,
        last_used_at: passkey.last_used_at,
        backup_eligible: passkey.backup_eligible,
        backup_state: passkey.backup_state,
    }
}

fn passkey_name(raw: &str) -> Result<String, AuthError> {
    user::normalise_name(raw).ok_or_else(|| AuthError::Validation {
        field: "name",
        message: format!(
            "must be 1 to {} characters, without invisible or control characters",
            user::NAME_MAX_LEN
        ),
    })
}

impl AuthService {
    /// The caller's account, while it exists and is enabled (`SessionRevoked` otherwise).
    async fn passkey_owner(&self, caller: &AccessClaims) -> Result<User, AuthError> {
        let Some(user) = self.store.find_user(caller.sub).await? else {
            return Err(self.caller_gone(caller, self.now()).await);
        };
        if user.disabled {
            return Err(AuthError::SessionRevoked);
        }
        Ok(user)
    }

    /// Takes the ceremony `credential` answers (found by the challenge it signed) and opens it
    /// as `kind` for `user_id`. Taken even when opening fails: a failed finish starts again.
    async fn finish_passkey_ceremony(
        &self,
        kind: CeremonyKind,
        user_id: Option<Uuid>,
        credential: &Value,
    ) -> Result<Vec<u8>, AuthError> {
        let challenge = self.passkeys.challenge_of(credential)?;
        Ok(self.finish_ceremony(kind, user_id, &challenge).await??)
    }

    /// Stores what a verified assertion changed on `passkey`; refuses it when the store's
    /// counter condition fails on a device-bound key (another assertion counted past it: a
    /// clone, or a race this one lost).
    async fn record_assertion(&self, passkey: &StoredPasskey, verified: &VerifiedAssertion) -> Result<(), AuthError> {
        let require_increase = !verified.backup_eligible && verified.sign_count > 0;
        let passkey_use = PasskeyUse {
            passkey_id: passkey.id,
            user_id: passkey.user_id,
            sign_count: verified.sign_count,
            require_increase,
            backup_eligible: verified.backup_eligible,
            backup_state: verified.backup_state,
            credential: verified.updated_credential.clone(),
            at: self.now(),
        };
        if self.store.record_passkey_use(&passkey_use).await? {
            Ok(())
        } else if require_increase {
            Err(AuthError::PasskeyCounterRegressed { passkey_id: passkey.id })
        } else {
            // The passkey was deleted while it was being used.
            Err(PasskeyError::UnknownCredential.into())
        }
    }

    /// The relying party's verdict, with a counter regression named by its passkey (for the log).
    fn assertion_error(passkey: &StoredPasskey, error: PasskeyError) -> AuthError {
        match error {
            PasskeyError::CounterRegressed => AuthError::PasskeyCounterRegressed { passkey_id: passkey.id },
            other => AuthError::Passkey(other),
        }
    }

    /// Options for registering a passkey (POST /api/me/passkeys/options): needs a recent proof
    /// of a credential; a discoverable credential, user verification preferred, the caller's
    /// existing credentials excluded. Starts a `PasskeyRegistration` ceremony bound to the caller.
    pub async fn passkey_registration_options(&self, caller: &AccessClaims) -> Result<Value, AuthError> {
        let user = self.passkey_owner(caller).await?;
        self.require_recent_auth(caller, &user).await?;
        let existing = self.store.list_passkeys(user.id).await?;
        let started = self.passkeys.start_registration(
            &PasskeyUser {
                id: user.id,
                name: user.email.as_str(),
                display_name: &user.name,
            },
            &existing,
        )?;
        self.start_ceremony(
            CeremonyKind::PasskeyRegistration,
            Some(user.id),
            &started.challenge,
            started.state,
        )
        .await?;
        Ok(started.options)
    }

    /// Finishes a registration (POST /api/me/passkeys): the ceremony must be the caller's; the
    /// passkey is stored with `passkey_added` and a notice to the account's address, in one
    /// transaction.
    pub async fn register_passkey(
        &self,
        caller: &AccessClaims,
        name: &str,
        credential: &Value,
        meta: &RequestMeta,
    ) -> Result<PasskeySummary, AuthError> {
        let user = self.passkey_owner(caller).await?;
        let name = passkey_name(name)?;
        let state = self
            .finish_passkey_ceremony(CeremonyKind::PasskeyRegistration, Some(user.id), credential)
            .await?;
        let registered = self.passkeys.finish_registration(&state, credential)?;
        let now = self.now();
        let passkey = StoredPasskey {
            id: Uuid::now_v7(),
            user_id: user.id,
            credential_id: registered.credential_id,
            credential: registered.credential,
            name: name.clone(),
            sign_count: registered.sign_count,
            backup_eligible: registered.backup_eligible,
            backup_state: registered.backup_state,
            created_at: now,
            last_used_at: None,
        };
        let view = summary(&passkey);
        let event = SecurityEvent::new(user.id, EventKind::PasskeyAdded, now, meta, Some(caller.sid));
        let notice = self.sealed_mail(
            &user,
            &user.email,
            MailIntent::SecondFactorAdded {
                factor: SecondFactor::Passkey { name },
                at: now,
            },
            now,
        );
        let new = NewPasskey {
            passkey,
            user_verified: registered.user_verified,
            transports: registered.transports,
        };
        self.store
            .add_passkey(new, event, notice)
            .await
            .map_err(|error| match error {
                StoreError::CredentialTaken => {
                    AuthError::Passkey(PasskeyError::Rejected("this credential is registered already"))
                }
                other => AuthError::Store(other),
            })?;
        Ok(view)
    }

    /// The caller's passkeys, oldest first (GET /api/me/passkeys).
    pub async fn list_passkeys(&self, caller: &AccessClaims) -> Result<Vec<PasskeySummary>, AuthError> {
        let user = self.passkey_owner(caller).await?;
        let passkeys = self.store.list_passkeys(user.id).await?;
        Ok(passkeys.iter().map(summary).collect())
    }

    /// Renames one of the caller's passkeys; `NotFound` for any other id.
    pub async fn rename_passkey(
        &self,
        caller: &AccessClaims,
        id: Uuid,
        name: &str,
    ) -> Result<PasskeySummary, AuthError> {
        let user = self.passkey_owner(caller).await?;
        let name = passkey_name(name)?;
        let renamed = self
            .store
            .rename_passkey(user.id, id, &name)
            .await?
            .ok_or(AuthError::NotFound)?;
        Ok(summary(&renamed))
    }

    /// Deletes one of the caller's passkeys (needs a recent proof of a credential), with
    /// `passkey_removed` and a notice; `NotFound` for any other id.
    pub async fn delete_passkey(&self, caller: &AccessClaims, id: Uuid, meta: &RequestMeta) -> Result<(), AuthError> {
        let user = self.passkey_owner(caller).await?;
        self.require_recent_auth(caller, &user).await?;
        let passkeys = self.store.list_passkeys(user.id).await?;
        let passkey = passkeys
            .into_iter()
            .find(|passkey| passkey.id == id)
            .ok_or(AuthError::NotFound)?;
        let now = self.now();
        let event = SecurityEvent::new(user.id, EventKind::PasskeyRemoved, now, meta, Some(caller.sid));
        let notice = self.sealed_mail(
            &user,
            &user.email,
            MailIntent::SecondFactorRemoved {
                factor: SecondFactor::Passkey { name: passkey.name },
                at: now,
            },
            now,
        );
        if !self.store.delete_passkey(user.id, id, event, notice).await? {
            return Err(AuthError::NotFound);
        }
        Ok(())
    }

    /// Options for an assertion by one of `user`'s passkeys, with a `kind` ceremony bound to
    /// `user` started: the second factor of a login, or a re-authentication. `None` when the
    /// user has no passkey (nothing is started).
    pub(super) async fn user_passkey_options(
        &self,
        user: &User,
        kind: CeremonyKind,
    ) -> Result<Option<Value>, AuthError> {
        let passkeys = self.store.list_passkeys(user.id).await?;
        if passkeys.is_empty() {
            return Ok(None);
        }
        let started = self.passkeys.start_for_user(&passkeys)?;
        self.start_ceremony(kind, Some(user.id), &started.challenge, started.state)
            .await?;
        Ok(Some(started.options))
    }

    /// Verifies an assertion by one of `user`'s passkeys against the `kind` ceremony it answers
    /// (taken, so it finishes once) and stores what it changed. `None` when it does not verify
    /// (wrong signature, origin, flags or challenge, a credential that is not `user`'s, or no
    /// user verification where the credential needs it): the caller counts a wrong factor. A
    /// malformed credential, an unknown ceremony and a counter that went backwards are errors
    /// (`webauthn_failed`: start again; the last one is logged).
    pub(super) async fn check_user_passkey(
        &self,
        user: &User,
        kind: CeremonyKind,
        credential: &Value,
    ) -> Result<Option<PasskeyProof>, AuthError> {
        let state = self.finish_passkey_ceremony(kind, Some(user.id), credential).await?;
        let passkeys = self.store.list_passkeys(user.id).await?;
        let verified = match self.passkeys.finish_for_user(&state, credential, user.id, &passkeys) {
            Ok(verified) => verified,
            Err(PasskeyError::Rejected(_) | PasskeyError::UnknownCredential | PasskeyError::UserNotVerified) => {
                return Ok(None);
            }
            // Malformed, unavailable, a counter that went backwards (the api logs it), a fault.
            Err(error) => return Err(error.into()),
        };
        let passkey = passkeys
            .iter()
            .find(|passkey| passkey.id == verified.passkey_id)
            .ok_or(PasskeyError::UnknownCredential)?;
        self.record_assertion(passkey, &verified).await?;
        Ok(Some(verified.proof()))
    }

    /// Options for re-authenticating with a passkey (POST /api/auth/reauth/passkey/options):
    /// limited to the caller's passkeys, with a `PasskeyReauth` ceremony bound to the caller.
    /// `NotFound` when the caller has none.
    pub async fn reauth_passkey_options(&self, caller: &AccessClaims) -> Result<Value, AuthError> {
        let user = self.passkey_owner(caller).await?;
        self.user_passkey_options(&user, CeremonyKind::PasskeyReauth)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// Options for a usernameless login (POST /api/auth/passkey/options): no allowed
    /// credentials, so the browser offers every passkey of this site. Starts a `PasskeyLogin`
    /// ceremony, bound to nobody. (The api limits this per client IP: it writes a row.)
    pub async fn passkey_login_options(&self) -> Result<Value, AuthError> {
        let started = self.passkeys.start_login()?;
        self.start_ceremony(CeremonyKind::PasskeyLogin, None, &started.challenge, started.state)
            .await?;
        Ok(started.options)
    }

    /// A usernameless login (POST /api/auth/passkey): the assertion must answer a live
    /// `PasskeyLogin` ceremony and verify against the passkey its user handle and credential id
    /// name; then the login policy decides. Without user verification the passkey is one factor:
    /// `MfaRequired`. A disabled account answers as a failed password login
    /// (`InvalidCredentials`); `TESSERA_REQUIRE_VERIFIED_EMAIL` applies as to a password login.
    /// Records `login_failed` for a known user refused, `login_succeeded` with the session.
    pub async fn login_with_passkey(
        &self,
        credential: &Value,
        delivery: TokenDelivery,
        meta: &RequestMeta,
    ) -> Result<LoggedIn, AuthError> {
        // Read first, so a malformed credential leaves its ceremony for the real one.
        let identity = self.passkeys.identify(credential)?;
        let state = self
            .finish_passkey_ceremony(CeremonyKind::PasskeyLogin, None, credential)
            .await?;
        let passkey = self
            .store
            .find_passkey_by_credential_id(&identity.credential_id)
            .await?
            .filter(|passkey| passkey.user_id == identity.user_id)
            .ok_or(PasskeyError::UnknownCredential)?;
        let Some(user) = self.store.find_user(passkey.user_id).await? else {
            return Err(PasskeyError::UnknownCredential.into());
        };
        let failed = |now| SecurityEvent::new(user.id, EventKind::LoginFailed, now, meta, None);
        let verified = match self.passkeys.finish_login(&state, credential, &passkey) {
            Ok(verified) => verified,
            // The credential requires user verification (it had it at registration) and this
            // assertion has none: one factor, as the policy would answer.
            Err(PasskeyError::UserNotVerified) => {
                self.store.record_event(failed(self.now())).await?;
                return Err(AuthError::MfaRequired);
            }
            Err(error) => {
                self.store.record_event(failed(self.now())).await?;
                return Err(Self::assertion_error(&passkey, error));
            }
        };
        self.record_assertion(&passkey, &verified).await?;
        if user.disabled {
            self.store.record_event(failed(self.now())).await?;
            return Err(AuthError::InvalidCredentials);
        }
        self.require_verified(&user).await?;
        let factors = self.enrolled_factors(&user).await?;
        match login_policy::decide(LoginPath::Passkey(verified.proof()), &factors) {
            LoginDecision::Session { amr } => {
                let tokens = self
                    .start_session(&user, amr, delivery, meta, EventKind::LoginSucceeded)
                    .await?;
                Ok(LoggedIn { user, tokens })
            }
            LoginDecision::Refused(Refusal::MfaRequired) => {
                self.store.record_event(failed(self.now())).await?;
                Err(AuthError::MfaRequired)
            }
            LoginDecision::SecondFactorRequired { .. } => Err(AuthError::Internal(
                "the login policy asked a passkey login for a second factor".to_owned(),
            )),
        }
    }
}
