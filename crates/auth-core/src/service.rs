//! The authentication use cases (register, login, refresh, logout, authenticate, profile; session
//! management in `sessions`, administration in `admin`), each an orchestration of the pure pieces over the ports. The api's handlers are thin: extract the
//! input, call one method here, map the error.

use std::sync::{Arc, RwLock};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{
    self, AccessClaims, AccessTokenConfig, AccessTokenError, Authentication, KeyRing, KeyRingError, TokenSubject,
};
use crate::clock::Clock;
use crate::csrf;
use crate::error::AuthError;
use crate::events::{EventKind, RequestMeta, SecurityEvent};
use crate::mail::MailSealingKey;
use crate::mfa::passkey::PasskeyRelyingParty;
use crate::mfa::policy::{self as login_policy, AmrSet, EnrolledFactors, LoginDecision, LoginPath};
use crate::mfa::totp::TotpIssuer;
use crate::password::{self, PasswordError};
use crate::ports::{
    AttemptLimiter, LockedSession, PasswordHashing, RefreshOutcome, RevocationPublisher, Store, StoreError,
};
use crate::refresh::{self, ExpectedRotation, RefreshDecision, RefreshRejection, RefreshToken, RotationState};
use crate::revocation::RevocationSet;
use crate::secret::{CsrfKey, KeyEncryptionKey, RefreshKeys};
use crate::session::{NewSession, RevocationReason, SessionPolicy, TokenDelivery};
use crate::throttle;
use crate::user::{self, Email, NewUser, Role, User};

mod account;
mod admin;
mod ceremonies;
mod credentials;
mod mfa;
mod passkeys;
mod presented;
mod reauth;
mod recovery;
mod revocations;
mod sessions;
#[cfg(test)]
mod tests;
mod totp;

pub use account::AccountExport;
pub use admin::{UserChange, require_admin};
pub use credentials::{Guess, PasswordMatch};
pub use mfa::{LoginOutcome, MfaRequired, SecondFactorProof};
pub use presented::{LoggedOut, PresentedLogout, PresentedRefresh, Refreshed};
pub use reauth::Reauthenticated;
pub use recovery::{MAIL_SPACING, MailPolicy};
pub use sessions::{ActiveSession, Page};
pub use totp::{RecoveryCodes, TotpEnrolment};

/// Everything `AuthService` is built from.
pub struct AuthServiceParts {
    pub store: Arc<dyn Store>,
    pub passwords: Arc<dyn PasswordHashing>,
    pub key_ring: KeyRing,
    pub access: AccessTokenConfig,
    pub refresh_keys: RefreshKeys,
    pub csrf_key: CsrfKey,
    pub policy: SessionPolicy,
    pub clock: Arc<dyn Clock>,
    pub revocations: Arc<RevocationSet>,
    pub publisher: Arc<dyn RevocationPublisher>,
    /// The per-client allowance every credential check takes from (see `credentials`).
    pub limiter: Arc<dyn AttemptLimiter>,
    /// Seals the mail the flows queue (see `recovery`).
    pub mail_key: MailSealingKey,
    pub mail_policy: MailPolicy,
    /// Seals TOTP secrets (`MasterKey::totp_encryption_key`).
    pub totp_key: KeyEncryptionKey,
    /// The issuer authenticator apps show (`TESSERA_ISSUER`).
    pub totp_issuer: TotpIssuer,
    /// The WebAuthn relying party (`tessera-passkeys`), or `UnavailablePasskeys` where this
    /// deployment cannot offer passkeys.
    pub passkeys: Arc<dyn PasskeyRelyingParty>,
}

pub struct AuthService {
    store: Arc<dyn Store>,
    passwords: Arc<dyn PasswordHashing>,
    /// Swapped whole when keys rotate; readers clone the `Arc` and never hold the lock across work.
    key_ring: RwLock<Arc<KeyRing>>,
    access: AccessTokenConfig,
    refresh_keys: RefreshKeys,
    csrf_key: CsrfKey,
    policy: SessionPolicy,
    clock: Arc<dyn Clock>,
    revocations: Arc<RevocationSet>,
    publisher: Arc<dyn RevocationPublisher>,
    limiter: Arc<dyn AttemptLimiter>,
    mail_key: MailSealingKey,
    mail_policy: MailPolicy,
    totp_key: KeyEncryptionKey,
    totp_issuer: TotpIssuer,
    passkeys: Arc<dyn PasskeyRelyingParty>,
}

/// Tokens for one session, as issued by login, register and refresh.
#[derive(Clone)]
pub struct IssuedTokens {
    pub session_id: Uuid,
    pub delivery: TokenDelivery,
    pub access_token: String,
    pub access_expires_at: OffsetDateTime,
    pub refresh_token: String,
    /// When the session ends unless refreshed (min of idle and absolute expiry).
    pub refresh_expires_at: OffsetDateTime,
    pub csrf_token: String,
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("session_id", &self.session_id)
            .field("delivery", &self.delivery)
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub user: User,
    pub tokens: IssuedTokens,
}

pub struct Registration {
    pub email: String,
    pub name: String,
    pub password: String,
}

/// A fresh access token after a profile change.
#[derive(Debug, Clone)]
pub struct Reissued {
    pub user: User,
    pub access_token: String,
    pub access_expires_at: OffsetDateTime,
}

impl AuthService {
    pub fn new(parts: AuthServiceParts) -> AuthService {
        AuthService {
            store: parts.store,
            passwords: parts.passwords,
            key_ring: RwLock::new(Arc::new(parts.key_ring)),
            access: parts.access,
            refresh_keys: parts.refresh_keys,
            csrf_key: parts.csrf_key,
            policy: parts.policy,
            clock: parts.clock,
            revocations: parts.revocations,
            publisher: parts.publisher,
            limiter: parts.limiter,
            mail_key: parts.mail_key,
            mail_policy: parts.mail_policy,
            totp_key: parts.totp_key,
            totp_issuer: parts.totp_issuer,
            passkeys: parts.passkeys,
        }
    }

    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    pub fn mail_policy(&self) -> &MailPolicy {
        &self.mail_policy
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn revocations(&self) -> &Arc<RevocationSet> {
        &self.revocations
    }

    /// Current key ring (cheap `Arc` clone).
    pub fn key_ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.key_ring.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Installs a new key ring (after `tessera keys rotate` was noticed).
    pub fn replace_key_ring(&self, ring: KeyRing) {
        *self.key_ring.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(ring);
    }

    /// Validates (email shape, name, password policy), hashes, creates the user (`EmailTaken` on
    /// conflict) with a verification mail queued in the same transaction, and logs in (unless
    /// `TESSERA_REQUIRE_VERIFIED_EMAIL`: then the account exists and `EmailUnverified` says that
    /// the link must be followed first).
    pub async fn register(
        &self,
        input: Registration,
        delivery: TokenDelivery,
        meta: &RequestMeta,
    ) -> Result<LoggedIn, AuthError> {
        let new_user = self.new_account(input, Role::User).await?;
        let now = self.now();
        let (token, mail) = self.verification_for(&User::from(new_user.clone()), now);
        let user = self
            .store
            .create_user_with_verification(new_user, token, mail)
            .await
            .map_err(account_store_error)?;
        if self.mail_policy.require_verified_email {
            return Err(AuthError::EmailUnverified);
        }
        // A new account has no second factor: its password alone makes the session. Decided by
        // the policy all the same, so that no path creates a session without asking it.
        let amr = match self.password_login_decision(&user).await? {
            LoginDecision::Session { amr } => amr,
            LoginDecision::SecondFactorRequired { .. } | LoginDecision::Refused(_) => {
                return Err(AuthError::Internal(
                    "a second factor is enrolled for an account that was just created".to_owned(),
                ));
            }
        };
        let tokens = self
            .start_session(&user, amr, delivery, meta, EventKind::AccountCreated)
            .await?;
        Ok(LoggedIn { user, tokens })
    }

    /// Creates an account with the same rules as registration, without logging in (`tessera user
    /// create`, and the first administrator).
    pub async fn create_account(&self, input: Registration, role: Role) -> Result<User, AuthError> {
        let new_user = self.new_account(input, role).await?;
        self.store.create_user(new_user).await.map_err(account_store_error)
    }

    /// Registration's rules (address, name, password policy) and the password hash.
    async fn new_account(&self, input: Registration, role: Role) -> Result<NewUser, AuthError> {
        let email = Email::parse(&input.email).ok_or_else(|| {
            validation(
                "email",
                format!(
                    "must be an email address of at most {} characters, without invisible or control characters",
                    user::EMAIL_MAX_LEN
                ),
            )
        })?;
        let name = normalise_name(&input.name)?;
        let local_part = email.as_str().rsplit_once('@').map_or("", |(local, _)| local);
        password::check_policy(&input.password, &[email.as_str(), local_part, &name])
            .map_err(|violation| validation("password", violation.to_string()))?;
        let password_hash = self.passwords.hash(input.password).await.map_err(password_fault)?;
        Ok(NewUser {
            id: Uuid::now_v7(),
            email,
            name,
            role,
            password_hash,
            created_at: self.now(),
        })
    }

    /// Equal work for unknown email, wrong password and disabled user (all `InvalidCredentials`;
    /// a dummy hash is verified for unknown emails, and every failure is counted against the
    /// email's throttle key). Throttled like every credential check (see `credentials`): the
    /// client's allowance, then the email's backoff (`RateLimited`, decided before any password
    /// work). Records `login_failed` for known users and `login_succeeded` with the new session.
    /// Upgrades the stored hash when parameters changed. A user with a second factor gets no
    /// session yet: [`LoginOutcome::MfaRequired`] carries the challenge that
    /// [`complete_mfa`](Self::complete_mfa) finishes.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        delivery: TokenDelivery,
        meta: &RequestMeta,
    ) -> Result<LoginOutcome, AuthError> {
        let key = throttle::throttle_key(email);
        let check = async {
            // Looked up as stored (normalised, without the rules for new addresses), so accounts
            // from before a rule stay reachable.
            let normalised = user::normalise_email(email);
            let user = match normalised.is_empty() {
                false => self.store.find_user_by_email(&normalised).await?,
                true => None,
            };
            let Some(user) = user else {
                self.passwords.verify_dummy(password.to_owned()).await;
                return Ok(Guess::Wrong);
            };
            // The real hash is verified even for a disabled account, so its answer takes as long.
            Ok(match self.check_password(&user, password, meta, None).await? {
                Guess::Right(_) if user.disabled => {
                    let event = SecurityEvent::new(user.id, EventKind::LoginFailed, self.now(), meta, None);
                    self.store.record_event(event).await?;
                    Guess::Wrong
                }
                Guess::Right(matched) => {
                    let decision = self.password_login_decision(&user).await?;
                    Guess::Right((user, matched, decision))
                }
                Guess::Wrong => Guess::Wrong,
            })
        };
        let completes =
            |(_, _, decision): &(User, PasswordMatch, LoginDecision)| matches!(decision, LoginDecision::Session { .. });
        let Guess::Right((user, matched, decision)) = self.throttled_with(&key, meta, check, completes).await? else {
            return Err(AuthError::InvalidCredentials);
        };
        self.require_verified(&user).await?;
        if matched.needs_rehash {
            // Best effort: the login stands even if the upgrade fails; it is retried next login.
            if let Ok(upgraded) = self.passwords.hash(password.to_owned()).await {
                let _ = self.store.update_password_hash(user.id, &upgraded, self.now()).await;
            }
        }
        match decision {
            LoginDecision::Session { amr } => {
                let tokens = self
                    .start_session(&user, amr, delivery, meta, EventKind::LoginSucceeded)
                    .await?;
                Ok(LoginOutcome::LoggedIn(LoggedIn { user, tokens }))
            }
            LoginDecision::SecondFactorRequired { methods } => Ok(LoginOutcome::MfaRequired(
                self.issue_mfa_challenge(&user, methods, delivery).await?,
            )),
            // A password is never refused outright by the policy (only a passkey without user
            // verification is); answered like any refused login should that change.
            LoginDecision::Refused(_) => Err(AuthError::InvalidCredentials),
        }
    }

    /// What a right password earns `user`, as the login policy decides it (`mfa::policy`).
    async fn password_login_decision(&self, user: &User) -> Result<LoginDecision, AuthError> {
        let factors = self.enrolled_factors(user).await?;
        Ok(login_policy::decide(LoginPath::Password, &factors))
    }

    /// The second factors `user` has enrolled, as the store counts them. Every decision that
    /// depends on them (the login policy, the re-authentication methods) starts here.
    pub(super) async fn enrolled_factors(&self, user: &User) -> Result<EnrolledFactors, AuthError> {
        let status = self.store.mfa_status(user.id).await?;
        Ok(EnrolledFactors {
            totp: status.totp,
            recovery_codes_left: usize::try_from(status.recovery_codes_left).unwrap_or(usize::MAX),
            passkeys: usize::try_from(status.passkeys).unwrap_or(usize::MAX),
        })
    }

    /// Rotation (see `refresh::decide`). Malformed/forged/unknown → `InvalidToken` (no write);
    /// replay → publishes the session's revocation and returns `RefreshReused`; revoked →
    /// `SessionRevoked`; expired or disabled → `SessionRevoked`.
    pub async fn refresh(&self, refresh_token: &str, meta: &RequestMeta) -> Result<LoggedIn, AuthError> {
        let token = self.parse_refresh_token(refresh_token)?;
        self.rotate(&token, meta).await
    }

    /// [`AuthService::refresh`] for a token already parsed.
    async fn rotate(&self, token: &RefreshToken, meta: &RequestMeta) -> Result<LoggedIn, AuthError> {
        let now = self.now();
        // The common case (the current token of a live session) is one conditional write; only
        // when the row says otherwise does the refresh lock it and let `decide` judge.
        if let Some(expected) = ExpectedRotation::for_token(token, &self.policy, &self.refresh_keys, now)
            && let Some(locked) = self.store.rotate_if_current(&expected, meta).await?
        {
            return self.issue_rotated(locked, expected.child);
        }
        let decide = |locked: &LockedSession| {
            refresh::decide(
                token,
                &locked.session,
                locked.user.disabled,
                &self.policy,
                &self.refresh_keys,
                now,
            )
        };
        let outcome = self.store.refresh_session(token.session_id, now, meta, &decide).await?;
        let RefreshOutcome::Decided { decision, locked } = outcome else {
            return Err(AuthError::InvalidToken);
        };
        let child = match decision {
            RefreshDecision::Rotate { child, .. } | RefreshDecision::Reissue { child } => child,
            RefreshDecision::Replay => {
                self.revoke_locally(locked.session.id, now).await;
                return Err(AuthError::RefreshReused);
            }
            RefreshDecision::Reject(
                RefreshRejection::Revoked | RefreshRejection::Expired | RefreshRejection::UserDisabled,
            ) => return Err(AuthError::SessionRevoked),
            RefreshDecision::Reject(RefreshRejection::Unrecognised) => return Err(AuthError::InvalidToken),
        };
        self.issue_rotated(locked, child)
    }

    /// Tokens for a session whose current refresh token is `child` (as stored after a rotation,
    /// or unchanged for a reissue).
    fn issue_rotated(&self, locked: LockedSession, child: RefreshToken) -> Result<LoggedIn, AuthError> {
        let LockedSession { session, user } = locked;
        // The session's proof travels on: a refresh is no new proof of a credential.
        let authentication = Authentication {
            auth_time: session.auth_time,
            amr: session.amr,
        };
        let (access_token, claims) = self.sign_access(&user, session.id, authentication)?;
        let tokens = IssuedTokens {
            session_id: session.id,
            delivery: session.delivery,
            access_token,
            access_expires_at: claims.expires_at(),
            refresh_token: child.encode(&self.refresh_keys),
            refresh_expires_at: session.expires_at(&self.policy),
            csrf_token: self.issue_csrf_token(session.id),
        };
        Ok(LoggedIn { user, tokens })
    }

    /// The session id inside a refresh token, tag-verified, without touching the store (for the
    /// CSRF check that precedes refresh and logout).
    pub fn refresh_token_session(&self, refresh_token: &str) -> Result<Uuid, AuthError> {
        self.parse_refresh_token(refresh_token).map(|token| token.session_id)
    }

    /// Tag-verified; anything this server did not mint is `InvalidToken`.
    fn parse_refresh_token(&self, refresh_token: &str) -> Result<RefreshToken, AuthError> {
        RefreshToken::parse(refresh_token, &self.refresh_keys).map_err(|_| AuthError::InvalidToken)
    }

    /// Revokes the session (records `logout`), updates the revocation set and tells peers.
    /// Revoking an already-ended session is not an error (logout is idempotent).
    pub async fn logout(&self, session_id: Uuid, meta: &RequestMeta) -> Result<(), AuthError> {
        let now = self.now();
        self.store
            .revoke_session(session_id, RevocationReason::Logout, now, meta, EventKind::Logout)
            .await?;
        self.revoke_locally(session_id, now).await;
        Ok(())
    }

    /// Verifies an access token and consults the revocation set. No I/O.
    /// Expired → `TokenExpired`; revoked → `SessionRevoked`; anything else wrong → `InvalidToken`.
    pub fn authenticate(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        let ring = self.key_ring();
        let claims = access::verify(&ring, &self.access, access_token, self.now()).map_err(|error| match error {
            AccessTokenError::Expired => AuthError::TokenExpired,
            AccessTokenError::Malformed
            | AccessTokenError::BadHeader
            | AccessTokenError::UnknownKey
            | AccessTokenError::BadSignature
            | AccessTokenError::BadClaims => AuthError::InvalidToken,
        })?;
        if self.revocations.is_revoked(&claims) {
            return Err(AuthError::SessionRevoked);
        }
        Ok(claims)
    }

    pub fn issue_csrf_token(&self, session_id: Uuid) -> String {
        csrf::issue(&self.csrf_key, session_id)
    }

    pub fn verify_csrf_token(&self, session_id: Uuid, token: &str) -> bool {
        csrf::verify(&self.csrf_key, session_id, token)
    }

    /// Updates the display name and re-issues the access token for the same session. A caller
    /// whose account no longer exists: `SessionRevoked`.
    pub async fn update_name(&self, claims: &AccessClaims, name: &str) -> Result<Reissued, AuthError> {
        let name = normalise_name(name)?;
        let Some(user) = self.store.update_user_name(claims.sub, &name, self.now()).await? else {
            return Err(self.caller_gone(claims, self.now()).await);
        };
        let (access_token, new_claims) = self.sign_access(&user, claims.sid, authentication_of(claims)?)?;
        Ok(Reissued {
            user,
            access_token,
            access_expires_at: new_claims.expires_at(),
        })
    }

    /// Creates a session for `user`, recording `event` with it (`login_succeeded`, or
    /// `account_created` for the session registration starts), and issues its first tokens.
    pub(super) async fn start_session(
        &self,
        user: &User,
        amr: AmrSet,
        delivery: TokenDelivery,
        meta: &RequestMeta,
        event: EventKind,
    ) -> Result<IssuedTokens, AuthError> {
        let (session, event, tokens) = self.prepare_session(user, amr, delivery, meta, event)?;
        self.store
            .create_session(session, event)
            .await
            .map_err(session_store_error)?;
        Ok(tokens)
    }

    /// A session for `user` as [`start_session`](Self::start_session) stores it, with its event
    /// and first tokens, not stored yet (the MFA completion stores it with the challenge's
    /// deletion, in one transaction).
    fn prepare_session(
        &self,
        user: &User,
        amr: AmrSet,
        delivery: TokenDelivery,
        meta: &RequestMeta,
        event: EventKind,
    ) -> Result<(NewSession, SecurityEvent, IssuedTokens), AuthError> {
        let now = self.now();
        let session_id = Uuid::new_v4();
        let refresh_token = RefreshToken::new_family(session_id);
        let authentication = Authentication { auth_time: now, amr };
        // Signed before the session exists, so a key problem leaves no orphan session behind.
        let (access_token, claims) = self.sign_access(user, session_id, authentication)?;
        let session = NewSession {
            id: session_id,
            user_id: user.id,
            rotation: RotationState::initial(&refresh_token),
            delivery,
            created_at: now,
            absolute_expires_at: now.saturating_add(self.policy.absolute_ttl),
            user_agent: meta.user_agent.clone(),
            ip: meta.ip.clone(),
            auth_time: now,
            amr,
        };
        let refresh_expires_at = now
            .saturating_add(self.policy.idle_ttl)
            .min(session.absolute_expires_at);
        let event = SecurityEvent::new(user.id, event, now, meta, Some(session_id));
        let tokens = IssuedTokens {
            session_id,
            delivery,
            access_token,
            access_expires_at: claims.expires_at(),
            refresh_token: refresh_token.encode(&self.refresh_keys),
            refresh_expires_at,
            csrf_token: self.issue_csrf_token(session_id),
        };
        Ok((session, event, tokens))
    }

    fn sign_access(
        &self,
        user: &User,
        session_id: Uuid,
        authentication: Authentication,
    ) -> Result<(String, AccessClaims), AuthError> {
        let subject = TokenSubject {
            user_id: user.id,
            session_id,
            role: user.role,
            email: user.email.clone(),
            name: user.name.clone(),
            authentication,
            email_verified: user.email_verified,
        };
        access::sign(&self.key_ring(), &self.access, &subject, self.now()).map_err(key_fault)
    }
}

/// The `auth_time` and `amr` of verified claims, to carry into a re-issued token of the same
/// session. Verification refuses claims without a readable `amr`, so `InvalidToken` here means
/// claims that were never verified.
fn authentication_of(claims: &AccessClaims) -> Result<Authentication, AuthError> {
    let amr = claims.amr_set().ok_or(AuthError::InvalidToken)?;
    Ok(Authentication {
        auth_time: claims.authenticated_at(),
        amr,
    })
}

/// A refused session insert as the domain answers it.
fn session_store_error(error: StoreError) -> AuthError {
    match error {
        // Disabled between the credential check and now: the same answer as any refused login.
        StoreError::AccountDisabled => AuthError::InvalidCredentials,
        other => AuthError::Store(other),
    }
}

/// A refused account insert as the domain answers it.
fn account_store_error(error: StoreError) -> AuthError {
    match error {
        StoreError::EmailTaken => AuthError::EmailTaken,
        // Says no more than `EmailTaken` would (less: not which address), and keeps look-alike
        // accounts from being opened to impersonate one.
        StoreError::EmailConfusable => validation(
            "email",
            "looks the same as the address of an existing account; use another address",
        ),
        other => AuthError::Store(other),
    }
}

fn validation(field: &'static str, message: impl Into<String>) -> AuthError {
    AuthError::Validation {
        field,
        message: message.into(),
    }
}

fn normalise_name(raw: &str) -> Result<String, AuthError> {
    user::normalise_name(raw).ok_or_else(|| {
        validation(
            "name",
            format!(
                "must be 1 to {} characters, without invisible or control characters",
                user::NAME_MAX_LEN
            ),
        )
    })
}

fn password_fault(error: PasswordError) -> AuthError {
    AuthError::Internal(format!("password hashing: {error}"))
}

fn key_fault(error: KeyRingError) -> AuthError {
    AuthError::Internal(format!("access token signing: {error}"))
}
