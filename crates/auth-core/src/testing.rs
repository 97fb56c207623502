//! Test doubles for the service: an in-memory store, an inline password hasher, a limiter and a
//! publisher that record what they are asked, and a harness wiring them to an `AuthService` on a
//! manual clock. Compiled for auth-core's own tests and, with the `testing` feature, for other
//! crates' tests; never in a release build.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test doubles: a broken fake should fail the test at once"
)]

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::access::{AccessTokenConfig, KeyRing, generate_ed25519_key};
use crate::clock::{Clock, ManualClock};
use crate::error::AuthError;
use crate::events::RequestMeta;
use crate::mail::{MailIntent, MailKind, Recipient};
use crate::mfa::totp::TotpIssuer;
use crate::password::{Argon2Params, PasswordHasher};
use crate::revocation::{Revocation, RevocationSet};
use crate::secret::{KeyEncryptionKey, MasterKey};
use crate::service::{AuthService, AuthServiceParts, LoggedIn, LoginOutcome, MailPolicy, Registration};
use crate::session::{SessionPolicy, TokenDelivery};

mod fakes;
mod passkey_store;
mod relying_party;
mod store;

pub use fakes::{InlineHasher, RecordingPublisher, TestLimiter};
pub use relying_party::{ScriptedKey, ScriptedRelyingParty};
pub use store::{MemoryStore, State, stored_passkey};

pub const T0: OffsetDateTime = datetime!(2030-01-01 09:00 UTC);
pub const FAST: Argon2Params = Argon2Params {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};
pub const PASSWORD: &str = "tangerine-otter-cobalt-92";

pub struct Harness {
    pub service: AuthService,
    pub store: Arc<MemoryStore>,
    pub hasher: Arc<InlineHasher>,
    pub clock: Arc<ManualClock>,
    pub publisher: Arc<RecordingPublisher>,
    pub limiter: Arc<TestLimiter>,
    pub kek: KeyEncryptionKey,
    /// The mail policy the service was built with (a [`Harness::peer`] gets the same).
    pub mail_policy: MailPolicy,
}

pub fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("192.0.2.7".into()),
        user_agent: Some("test-agent/1.0".into()),
    }
}

pub fn harness() -> Harness {
    harness_with(MailPolicy::default())
}

/// The master key of every harness (the mail it queues opens with its sealing key).
pub const MASTER: [u8; 32] = [42; 32];

pub fn harness_with(mail_policy: MailPolicy) -> Harness {
    let master = MasterKey::from_bytes(MASTER);
    let kek = master.key_encryption_key();
    let store = Arc::new(MemoryStore::default());
    let key = generate_ed25519_key(&kek, T0 - Duration::days(1));
    store.lock().keys.push(key.clone());
    let policy = SessionPolicy::default();
    let key_ring = KeyRing::from_stored(&[key], &kek, policy.access_ttl, T0).unwrap();
    let hasher = Arc::new(InlineHasher {
        hasher: PasswordHasher::new(FAST).unwrap(),
        verifies: AtomicUsize::new(0),
        dummy_verifies: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new(T0));
    let publisher = Arc::new(RecordingPublisher::default());
    let limiter = Arc::new(TestLimiter::default());
    let service = AuthService::new(AuthServiceParts {
        store: store.clone(),
        passwords: hasher.clone(),
        key_ring,
        access: access_config(&policy),
        refresh_keys: master.refresh_keys(),
        csrf_key: master.csrf_key(),
        policy,
        clock: clock.clone(),
        revocations: Arc::new(RevocationSet::new()),
        publisher: publisher.clone(),
        limiter: limiter.clone(),
        mail_key: master.mail_sealing_key(),
        mail_policy,
        totp_key: master.totp_encryption_key(),
        totp_issuer: TotpIssuer::new("Tessera"),
        passkeys: Arc::new(ScriptedRelyingParty),
    });
    Harness {
        service,
        store,
        hasher,
        clock,
        publisher,
        limiter,
        kek,
        mail_policy,
    }
}

fn access_config(policy: &SessionPolicy) -> AccessTokenConfig {
    AccessTokenConfig {
        issuer: "tessera".into(),
        audience: "tessera-api".into(),
        ttl: policy.access_ttl,
    }
}

pub fn registration(email: &str) -> Registration {
    Registration {
        email: email.into(),
        name: "Ada Lovelace".into(),
        password: PASSWORD.into(),
    }
}

impl Harness {
    pub async fn register(&self, email: &str) -> LoggedIn {
        self.service
            .register(registration(email), TokenDelivery::Cookie, &meta())
            .await
            .unwrap()
    }

    /// The queued mail of `kind`, opened, oldest first.
    pub fn mailed(&self, kind: MailKind) -> Vec<(Recipient, MailIntent)> {
        let key = MasterKey::from_bytes(MASTER).mail_sealing_key();
        self.store
            .mail_of(kind)
            .into_iter()
            .map(|sealed| key.open(sealed.id, sealed.kind, &sealed.sealed).unwrap())
            .collect()
    }

    /// The link token of the newest queued mail of `kind` (which must carry one).
    pub fn mailed_token(&self, kind: MailKind) -> String {
        let (_, intent) = self.mailed(kind).pop().unwrap_or_else(|| panic!("no {kind} mail"));
        match intent {
            MailIntent::VerifyAddress { token, .. }
            | MailIntent::ResetPassword { token, .. }
            | MailIntent::ConfirmNewAddress { token, .. } => token.expose().to_owned(),
            other => panic!("{kind} carries no token: {other:?}"),
        }
    }

    /// Another instance on the same store and clock: its own revocation set, and nobody it
    /// tells (or hears from), so only its catch-up poll (`fill_revocations`) informs it.
    pub fn peer(&self) -> AuthService {
        let master = MasterKey::from_bytes(MASTER);
        let policy = SessionPolicy::default();
        let keys = self.store.lock().keys.clone();
        let key_ring = KeyRing::from_stored(&keys, &self.kek, policy.access_ttl, self.clock.now()).unwrap();
        AuthService::new(AuthServiceParts {
            store: self.store.clone(),
            passwords: self.hasher.clone(),
            key_ring,
            access: access_config(&policy),
            refresh_keys: master.refresh_keys(),
            csrf_key: master.csrf_key(),
            policy,
            clock: self.clock.clone(),
            revocations: Arc::new(RevocationSet::new()),
            publisher: Arc::new(crate::ports::NoPeers),
            limiter: self.limiter.clone(),
            mail_key: master.mail_sealing_key(),
            mail_policy: self.mail_policy,
            totp_key: master.totp_encryption_key(),
            totp_issuer: TotpIssuer::new("Tessera"),
            passkeys: Arc::new(ScriptedRelyingParty),
        })
    }

    pub fn published(&self) -> Vec<Revocation> {
        self.publisher.published.lock().unwrap().clone()
    }
}

impl AuthService {
    /// [`AuthService::login`] of a user without a second factor: the session, or the error.
    /// Panics on a 202 (the test meant a user with a second factor: use `login`).
    pub async fn login_without_mfa(
        &self,
        email: &str,
        password: &str,
        delivery: TokenDelivery,
        meta: &RequestMeta,
    ) -> Result<LoggedIn, AuthError> {
        match self.login(email, password, delivery, meta).await? {
            LoginOutcome::LoggedIn(logged_in) => Ok(logged_in),
            LoginOutcome::MfaRequired(required) => panic!("expected a session, got {required:?}"),
        }
    }
}
