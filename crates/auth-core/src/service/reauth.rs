//! Re-authentication over the store: the step-up check sensitive operations call, and POST
//! /api/auth/reauth, which proves a credential again for the caller's session. The rules are in
//! `crate::reauth`.

use time::OffsetDateTime;
use uuid::Uuid;

use super::mfa::FactorCheck;
use super::{AuthService, Guess, SecondFactorProof};
use crate::access::{AccessClaims, Authentication};
use crate::error::AuthError;
use crate::events::{EventKind, RequestMeta, SecurityEvent};
use crate::mfa::policy::{Amr, AmrSet};
use crate::reauth::{self, ReauthCredential};
use crate::throttle;
use crate::user::User;

/// A session that proved a credential again, with its re-issued access token.
#[derive(Clone)]
pub struct Reauthenticated {
    pub session_id: Uuid,
    /// Carries the new `auth_time` and `amr`. Tokens issued before keep the old ones until they
    /// expire.
    pub access_token: String,
    pub access_expires_at: OffsetDateTime,
    /// When the session ends unless refreshed (unchanged by a re-authentication).
    pub refresh_expires_at: OffsetDateTime,
    /// The session's new `auth_time`.
    pub auth_time: OffsetDateTime,
}

impl std::fmt::Debug for Reauthenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reauthenticated")
            .field("session_id", &self.session_id)
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("auth_time", &self.auth_time)
            .finish_non_exhaustive()
    }
}

impl AuthService {
    /// The step-up rule for a sensitive operation of `caller`, whose account is `user`:
    /// `ReauthRequired` (with the methods `user` can use) unless the session proved a credential
    /// within `SessionPolicy::reauth_max_age`. Decided from the claims, on this service's clock.
    pub(super) async fn require_recent_auth(&self, caller: &AccessClaims, user: &User) -> Result<(), AuthError> {
        let factors = self.enrolled_factors(user).await?;
        reauth::require_recent(caller, self.policy.reauth_max_age, self.now(), &factors)
    }

    /// Checks a second factor presented to POST /api/auth/reauth under the account's backoff: a
    /// wrong one is `MfaFailed` (and `mfa_failed`); a right one answers the factor's `amr`.
    async fn reauth_factor(
        &self,
        user: &User,
        proof: SecondFactorProof<'_>,
        caller: &AccessClaims,
        meta: &RequestMeta,
    ) -> Result<AmrSet, AuthError> {
        let key = throttle::throttle_key(&user.email);
        let check = self.check_factor(user, proof, meta, FactorCheck::Reauth { session: caller.sid });
        match self.throttled(&key, meta, check).await? {
            Guess::Right(factor) => Ok(factor.amr()),
            Guess::Wrong => Err(AuthError::MfaFailed),
        }
    }

    /// Proves `credential` again for the caller's session: checked under the same throttling as
    /// a login (a wrong password is `InvalidCredentials` and records `login_failed`, a wrong TOTP
    /// code or passkey assertion `MfaFailed` and `mfa_failed`; both count toward the account's backoff); a right one sets the session's `auth_time` to now and its `amr` to the
    /// credential's, records `reauthenticated` and re-issues the access token. The session stays
    /// (same id, same refresh token). A caller whose session or account has ended:
    /// `SessionRevoked`.
    pub async fn reauthenticate(
        &self,
        caller: &AccessClaims,
        credential: ReauthCredential<'_>,
        meta: &RequestMeta,
    ) -> Result<Reauthenticated, AuthError> {
        let now = self.now();
        let Some(user) = self.store.find_user(caller.sub).await? else {
            return Err(self.caller_gone(caller, now).await);
        };
        if user.disabled {
            return Err(AuthError::SessionRevoked);
        }
        // A session past its idle or absolute lifetime has no refresh left; its access token must
        // not be renewed here either.
        let live = self
            .store
            .find_session(caller.sid)
            .await?
            .is_some_and(|session| session.user_id == user.id && session.is_active(&self.policy, now));
        if !live {
            return Err(self.caller_gone(caller, now).await);
        }
        let amr = match credential {
            ReauthCredential::Password(password) => {
                let guess = self
                    .verify_password_throttled(&user, password, meta, Some(caller.sid))
                    .await?;
                if let Guess::Wrong = guess {
                    return Err(AuthError::InvalidCredentials);
                }
                AmrSet::of(&[Amr::Pwd])
            }
            ReauthCredential::Totp(code) => {
                self.reauth_factor(&user, SecondFactorProof::Totp(code), caller, meta)
                    .await?
            }
            ReauthCredential::Passkey(assertion) => {
                self.reauth_factor(&user, SecondFactorProof::Passkey(assertion), caller, meta)
                    .await?
            }
        };
        let now = self.now();
        let authentication = Authentication { auth_time: now, amr };
        let event = SecurityEvent::new(user.id, EventKind::Reauthenticated, now, meta, Some(caller.sid));
        let Some(session) = self
            .store
            .reauthenticate_session(caller.sid, user.id, authentication, event)
            .await?
        else {
            // Revoked between the check above and now.
            return Err(self.caller_gone(caller, now).await);
        };
        let (access_token, claims) = self.sign_access(&user, session.id, authentication)?;
        Ok(Reauthenticated {
            session_id: session.id,
            access_token,
            access_expires_at: claims.expires_at(),
            refresh_expires_at: session.expires_at(&self.policy),
            auth_time: session.auth_time,
        })
    }
}
