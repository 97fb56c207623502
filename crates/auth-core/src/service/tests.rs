//! The use cases end to end over an in-memory store, an inline password hasher and a manual clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use time::macros::datetime;

use super::*;
use crate::access::{StoredSigningKey, generate_ed25519_key};
use crate::clock::ManualClock;
use crate::password::{Argon2Params, PasswordHasher, Verification};
use crate::ports::{
    AccountChange, EventRepository, KeyRepository, LoginThrottleRepository, SessionRepository, UserRepository,
};
use crate::secret::{KeyEncryptionKey, MasterKey};
use crate::session::SessionRecord;

const T0: OffsetDateTime = datetime!(2030-01-01 09:00 UTC);
const FAST: Argon2Params = Argon2Params {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};
const PASSWORD: &str = "tangerine-otter-cobalt-92";

// ---------------------------------------------------------------------------------------------
// Fakes

#[derive(Default)]
struct State {
    throttle: HashMap<[u8; 32], (u32, OffsetDateTime)>,
    users: HashMap<Uuid, User>,
    sessions: HashMap<Uuid, SessionRecord>,
    events: Vec<SecurityEvent>,
    keys: Vec<StoredSigningKey>,
}

/// The store, with one mutex standing in for the database's row lock and transactions.
#[derive(Default)]
struct MemoryStore {
    state: Mutex<State>,
    /// Makes `rotate_if_current` always decline, as a store is allowed to.
    decline_fast_path: std::sync::atomic::AtomicBool,
    fast_rotations: AtomicUsize,
    /// Makes this many `claim_login_attempt` calls lose the race: another attempt is counted
    /// just before (when `steal_counts`), or the row changes under it (otherwise), and the
    /// claim reports `false`.
    lose_claims: AtomicUsize,
    steal_counts: std::sync::atomic::AtomicBool,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn session(&self, id: Uuid) -> SessionRecord {
        self.lock().sessions.get(&id).cloned().unwrap()
    }

    fn events(&self) -> Vec<SecurityEvent> {
        self.lock().events.clone()
    }

    fn kinds(&self) -> Vec<EventKind> {
        self.events().into_iter().map(|event| event.kind).collect()
    }

    fn user_by_email(&self, email: &str) -> User {
        self.lock()
            .users
            .values()
            .find(|user| user.email == email)
            .cloned()
            .unwrap()
    }

    fn set_user(&self, user: User) {
        self.lock().users.insert(user.id, user);
    }

    /// Everything that a refresh must not touch when it fails.
    fn snapshot(&self) -> (Vec<SessionRecord>, usize) {
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
        let user = User {
            id: user.id,
            email: user.email.into_string(),
            name: user.name,
            role: user.role,
            password_hash: user.password_hash,
            disabled: false,
            created_at: user.created_at,
        };
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

/// Revokes every unrevoked session of `user_id` except `keep`, returning their ids.
fn revoke_all(
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

/// argon2 run inline (tests have no blocking pool), counting the work done.
struct InlineHasher {
    hasher: PasswordHasher,
    verifies: AtomicUsize,
    dummy_verifies: AtomicUsize,
}

#[async_trait]
impl PasswordHashing for InlineHasher {
    async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.hasher.hash(&password)
    }

    async fn verify(&self, password: String, phc: String) -> Result<Verification, PasswordError> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        self.hasher.verify(&password, &phc)
    }

    async fn verify_dummy(&self, password: String) {
        self.dummy_verifies.fetch_add(1, Ordering::SeqCst);
        self.hasher.verify_dummy(&password);
    }
}

/// A per-client allowance that can be used up on demand, counting what was taken.
#[derive(Default)]
struct TestLimiter {
    exhausted: std::sync::atomic::AtomicBool,
    taken: AtomicUsize,
}

impl AttemptLimiter for TestLimiter {
    fn try_acquire(&self, _meta: &RequestMeta) -> Result<(), u64> {
        if self.exhausted.load(Ordering::SeqCst) {
            return Err(7);
        }
        self.taken.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[derive(Default)]
struct RecordingPublisher {
    published: Mutex<Vec<Revocation>>,
}

#[async_trait]
impl RevocationPublisher for RecordingPublisher {
    async fn publish(&self, revocation: &Revocation) {
        self.published.lock().unwrap().push(revocation.clone());
    }
}

struct Harness {
    service: AuthService,
    store: Arc<MemoryStore>,
    hasher: Arc<InlineHasher>,
    clock: Arc<ManualClock>,
    publisher: Arc<RecordingPublisher>,
    limiter: Arc<TestLimiter>,
    kek: KeyEncryptionKey,
}

fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("192.0.2.7".into()),
        user_agent: Some("test-agent/1.0".into()),
    }
}

fn harness() -> Harness {
    let master = MasterKey::from_bytes([42; 32]);
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
        access: AccessTokenConfig {
            issuer: "tessera".into(),
            audience: "tessera-api".into(),
            ttl: policy.access_ttl,
        },
        refresh_keys: master.refresh_keys(),
        csrf_key: master.csrf_key(),
        policy,
        clock: clock.clone(),
        revocations: Arc::new(RevocationSet::new()),
        publisher: publisher.clone(),
        limiter: limiter.clone(),
    });
    Harness {
        service,
        store,
        hasher,
        clock,
        publisher,
        limiter,
        kek,
    }
}

fn registration(email: &str) -> Registration {
    Registration {
        email: email.into(),
        name: "Ada Lovelace".into(),
        password: PASSWORD.into(),
    }
}

impl Harness {
    async fn register(&self, email: &str) -> LoggedIn {
        self.service
            .register(registration(email), TokenDelivery::Cookie, &meta())
            .await
            .unwrap()
    }

    fn published(&self) -> Vec<Revocation> {
        self.publisher.published.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// register

#[tokio::test]
async fn register_creates_the_user_and_logs_in() {
    let h = harness();
    let logged_in = h.register("  Ada@Example.com ").await;
    assert_eq!(logged_in.user.email, "ada@example.com");
    assert_eq!(logged_in.user.name, "Ada Lovelace");
    assert_eq!(logged_in.user.role, Role::User);
    assert!(!logged_in.user.disabled);
    assert_eq!(logged_in.user.id.get_version_num(), 7);
    assert!(logged_in.user.password_hash.starts_with("$argon2id$"));

    let tokens = &logged_in.tokens;
    assert_eq!(tokens.session_id.get_version_num(), 4);
    assert_eq!(tokens.delivery, TokenDelivery::Cookie);
    assert_eq!(tokens.access_expires_at, T0 + Duration::minutes(10));
    assert_eq!(tokens.refresh_expires_at, T0 + Duration::days(14));
    assert!(h.service.verify_csrf_token(tokens.session_id, &tokens.csrf_token));
    assert_eq!(
        h.service.refresh_token_session(&tokens.refresh_token).unwrap(),
        tokens.session_id
    );

    let claims = h.service.authenticate(&tokens.access_token).unwrap();
    assert_eq!(claims.sub, logged_in.user.id);
    assert_eq!(claims.sid, tokens.session_id);
    assert_eq!(claims.email, "ada@example.com");
    assert_eq!(claims.role(), Some(Role::User));

    let session = h.store.session(tokens.session_id);
    assert_eq!(session.user_id, logged_in.user.id);
    assert_eq!(session.absolute_expires_at, T0 + Duration::days(30));
    assert_eq!(session.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(session.user_agent.as_deref(), Some("test-agent/1.0"));
    assert_eq!(session.rotation.generation, 0);

    let events = h.store.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::AccountCreated);
    assert_eq!(events[0].session_id, Some(tokens.session_id));
    assert_eq!(events[0].ip.as_deref(), Some("192.0.2.7"));
}

#[tokio::test]
async fn register_validates_each_field() {
    let h = harness();
    let field = |result: Result<LoggedIn, AuthError>| match result {
        Err(AuthError::Validation { field, message }) => (field, message),
        other => panic!("expected a validation error, got {other:?}"),
    };
    let mut bad_email = registration("not-an-email");
    let (name, _) = field(
        h.service
            .register(bad_email.clone_for_test(), TokenDelivery::Cookie, &meta())
            .await,
    );
    assert_eq!(name, "email");
    bad_email.email = format!("{}@example.com", "a".repeat(250));
    assert_eq!(
        field(h.service.register(bad_email, TokenDelivery::Cookie, &meta()).await).0,
        "email"
    );

    for bad_name in ["", "   ", "bad\u{7}name", &"n".repeat(101)] {
        let input = Registration {
            name: bad_name.into(),
            ..registration("a@example.com")
        };
        assert_eq!(
            field(h.service.register(input, TokenDelivery::Cookie, &meta()).await).0,
            "name"
        );
    }

    let short = Registration {
        password: "short".into(),
        ..registration("a@example.com")
    };
    let (name, message) = field(h.service.register(short, TokenDelivery::Cookie, &meta()).await);
    assert_eq!(name, "password");
    assert_eq!(message, "password must be at least 12 characters");

    let common = Registration {
        password: "password1234".into(),
        ..registration("a@example.com")
    };
    let (name, message) = field(h.service.register(common, TokenDelivery::Cookie, &meta()).await);
    assert_eq!(name, "password");
    assert!(message.starts_with("password is too easy to guess"), "{message}");
    assert!(
        !message.contains("password1234"),
        "the password must not be echoed: {message}"
    );

    // The user's own details count against the password.
    let personal = Registration {
        password: "ada.lovelace@example.com".into(),
        ..registration("ada.lovelace@example.com")
    };
    assert_eq!(
        field(h.service.register(personal, TokenDelivery::Cookie, &meta()).await).0,
        "password"
    );

    // Nothing was created by any of these.
    assert!(h.store.lock().users.is_empty());
    assert!(h.store.events().is_empty());
}

impl Registration {
    fn clone_for_test(&self) -> Registration {
        Registration {
            email: self.email.clone(),
            name: self.name.clone(),
            password: self.password.clone(),
        }
    }
}

#[tokio::test]
async fn register_refuses_a_taken_email_case_insensitively() {
    let h = harness();
    h.register("ada@example.com").await;
    let again = h
        .service
        .register(registration("ADA@example.COM"), TokenDelivery::Body, &meta())
        .await;
    assert!(matches!(again, Err(AuthError::EmailTaken)), "{again:?}");
    assert_eq!(h.store.lock().users.len(), 1);
}

/// Issue 12, Low 5: one address in any Unicode spelling, no invisible characters, no look-alikes.
#[tokio::test]
async fn register_normalises_unicode_and_refuses_look_alikes() {
    let h = harness();
    let ada = h.register("jose\u{301}@example.com").await;
    assert_eq!(ada.user.email, "jos\u{e9}@example.com", "stored in NFC");
    let again = h
        .service
        .register(registration("jos\u{e9}@example.com"), TokenDelivery::Body, &meta())
        .await;
    assert!(matches!(again, Err(AuthError::EmailTaken)), "{again:?}");
    // The other spelling logs in to the same account.
    let logged_in = h
        .service
        .login("JOSE\u{301}@example.com", PASSWORD, TokenDelivery::Body, &meta())
        .await
        .unwrap();
    assert_eq!(logged_in.user.id, ada.user.id);

    for look_alike in ["j\u{43e}s\u{e9}@example.com", "jos\u{e9}@\u{435}xample.com"] {
        let refused = h
            .service
            .register(registration(look_alike), TokenDelivery::Body, &meta())
            .await;
        let Err(AuthError::Validation {
            field: "email",
            message,
        }) = refused
        else {
            panic!("{look_alike:?}: {refused:?}")
        };
        assert!(message.contains("looks the same"), "{message}");
        assert!(
            !message.contains("jos"),
            "the existing address is not revealed: {message}"
        );
    }
    for hidden in ["ad\u{200B}a@example.com", "ada@exam\u{202E}ple.com"] {
        let refused = h
            .service
            .register(registration(hidden), TokenDelivery::Body, &meta())
            .await;
        assert!(
            matches!(refused, Err(AuthError::Validation { field: "email", .. })),
            "{hidden:?}: {refused:?}"
        );
    }
    let mut named = registration("bob@example.com");
    named.name = "Bob\u{202E}kcab".into();
    let refused = h.service.register(named, TokenDelivery::Body, &meta()).await;
    assert!(matches!(refused, Err(AuthError::Validation { field: "name", .. })));
    // Administrator-created accounts follow the same rules.
    let refused = h
        .service
        .create_account(registration("j\u{43e}s\u{e9}@example.com"), Role::Admin)
        .await;
    assert!(matches!(refused, Err(AuthError::Validation { field: "email", .. })));
    assert_eq!(h.store.lock().users.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// login

#[tokio::test]
async fn login_starts_a_new_session() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    h.clock.advance(Duration::minutes(3));
    let logged_in = h
        .service
        .login(" ADA@example.com", PASSWORD, TokenDelivery::Body, &meta())
        .await
        .unwrap();
    assert_eq!(logged_in.user.id, registered.user.id);
    assert_ne!(logged_in.tokens.session_id, registered.tokens.session_id);
    assert_eq!(logged_in.tokens.delivery, TokenDelivery::Body);
    assert_eq!(
        h.store.session(logged_in.tokens.session_id).delivery,
        TokenDelivery::Body
    );
    assert_eq!(logged_in.tokens.access_expires_at, T0 + Duration::minutes(13));
    assert!(h.service.authenticate(&logged_in.tokens.access_token).is_ok());
    assert_eq!(h.store.kinds(), [EventKind::AccountCreated, EventKind::LoginSucceeded]);
}

#[tokio::test]
async fn login_with_a_wrong_password_records_login_failed() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    let sessions_before = h.store.lock().sessions.len();
    let result = h
        .service
        .login(
            "ada@example.com",
            "tangerine-otter-cobalt-93",
            TokenDelivery::Cookie,
            &meta(),
        )
        .await;
    assert!(matches!(result, Err(AuthError::InvalidCredentials)), "{result:?}");
    let events = h.store.events();
    let failed = events.last().unwrap();
    assert_eq!(failed.kind, EventKind::LoginFailed);
    assert_eq!(failed.user_id, registered.user.id);
    assert_eq!(failed.session_id, None);
    assert_eq!(failed.user_agent.as_deref(), Some("test-agent/1.0"));
    assert_eq!(h.store.lock().sessions.len(), sessions_before);
}

#[tokio::test]
async fn unknown_and_malformed_emails_cost_a_dummy_verification() {
    let h = harness();
    h.register("ada@example.com").await;
    let events_before = h.store.events().len();
    for email in ["nobody@example.com", "not an email", ""] {
        let result = h.service.login(email, PASSWORD, TokenDelivery::Cookie, &meta()).await;
        assert!(
            matches!(result, Err(AuthError::InvalidCredentials)),
            "{email:?}: {result:?}"
        );
    }
    assert_eq!(h.hasher.dummy_verifies.load(Ordering::SeqCst), 3);
    assert_eq!(h.hasher.verifies.load(Ordering::SeqCst), 0);
    assert_eq!(h.store.events().len(), events_before, "no user, no event");
}

#[tokio::test]
async fn disabled_users_cannot_log_in_but_cost_the_same() {
    let h = harness();
    h.register("ada@example.com").await;
    let mut user = h.store.user_by_email("ada@example.com");
    user.disabled = true;
    h.store.set_user(user);
    let sessions_before = h.store.lock().sessions.len();
    for password in [PASSWORD, "wrong password entirely"] {
        let result = h
            .service
            .login("ada@example.com", password, TokenDelivery::Cookie, &meta())
            .await;
        assert!(matches!(result, Err(AuthError::InvalidCredentials)), "{result:?}");
    }
    assert_eq!(h.hasher.verifies.load(Ordering::SeqCst), 2, "the real hash is verified");
    assert_eq!(h.hasher.dummy_verifies.load(Ordering::SeqCst), 0);
    assert_eq!(h.store.lock().sessions.len(), sessions_before);
    assert!(!h.store.kinds()[1..].contains(&EventKind::LoginSucceeded));
}

#[tokio::test]
async fn unreadable_stored_hash_is_a_failed_login() {
    let h = harness();
    h.register("ada@example.com").await;
    let mut user = h.store.user_by_email("ada@example.com");
    user.password_hash = "garbage".into();
    h.store.set_user(user);
    let result = h
        .service
        .login("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await;
    assert!(matches!(result, Err(AuthError::InvalidCredentials)), "{result:?}");
    assert_eq!(h.store.kinds().last(), Some(&EventKind::LoginFailed));
}

#[tokio::test]
async fn login_upgrades_an_outdated_hash() {
    let h = harness();
    h.register("ada@example.com").await;
    let old = PasswordHasher::new(Argon2Params {
        memory_kib: 2048,
        ..FAST
    })
    .unwrap();
    let mut user = h.store.user_by_email("ada@example.com");
    user.password_hash = old.hash(PASSWORD).unwrap();
    h.store.set_user(user.clone());

    h.service
        .login("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    let upgraded = h.store.user_by_email("ada@example.com").password_hash;
    assert_ne!(upgraded, user.password_hash);
    assert!(upgraded.contains("m=1024,t=1,p=1"), "{upgraded}");
    assert_eq!(
        h.hasher.hasher.verify(PASSWORD, &upgraded),
        Ok(Verification::Match { needs_rehash: false })
    );

    // A current hash is left alone.
    h.service
        .login("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    assert_eq!(h.store.user_by_email("ada@example.com").password_hash, upgraded);
}

// ---------------------------------------------------------------------------------------------
// refresh

#[tokio::test]
async fn refresh_rotates_and_a_grace_retry_gets_the_same_child() {
    let h = rotation_then_grace_retry(false).await;
    // The two rotations took the one-write path; the grace retry needed the locked one.
    assert_eq!(h.store.fast_rotations.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refresh_without_the_fast_path_behaves_the_same() {
    let h = rotation_then_grace_retry(true).await;
    assert_eq!(h.store.fast_rotations.load(Ordering::SeqCst), 0);
}

async fn rotation_then_grace_retry(decline_fast_path: bool) -> Harness {
    let h = harness();
    h.store.decline_fast_path.store(decline_fast_path, Ordering::SeqCst);
    let first = h.register("ada@example.com").await.tokens;
    h.clock.advance(Duration::minutes(9));
    let now = h.service.now();

    let meta2 = RequestMeta {
        ip: Some("198.51.100.1".into()),
        user_agent: Some("other/2".into()),
    };
    let rotated = h.service.refresh(&first.refresh_token, &meta2).await.unwrap();
    let tokens = &rotated.tokens;
    assert_eq!(tokens.session_id, first.session_id);
    assert_ne!(tokens.refresh_token, first.refresh_token);
    assert_ne!(tokens.access_token, first.access_token);
    assert_ne!(tokens.csrf_token, first.csrf_token);
    assert!(h.service.verify_csrf_token(tokens.session_id, &tokens.csrf_token));
    assert_eq!(tokens.access_expires_at, now + Duration::minutes(10));
    assert_eq!(tokens.refresh_expires_at, now + Duration::days(14));
    assert_eq!(rotated.user.email, "ada@example.com");
    assert_eq!(
        h.service.authenticate(&tokens.access_token).unwrap().sid,
        first.session_id
    );

    let session = h.store.session(first.session_id);
    assert_eq!(session.rotation.generation, 1);
    assert_eq!(session.last_used_at, now);
    assert_eq!(session.ip.as_deref(), Some("198.51.100.1"));

    // A retry (another tab, a lost response) inside the grace window: same child, no rotation.
    h.clock.advance(Duration::seconds(9));
    let retried = h.service.refresh(&first.refresh_token, &meta()).await.unwrap();
    assert_eq!(retried.tokens.refresh_token, tokens.refresh_token);
    assert_eq!(retried.tokens.refresh_expires_at, tokens.refresh_expires_at);
    assert_eq!(h.store.session(first.session_id).rotation.generation, 1);
    assert!(h.service.authenticate(&retried.tokens.access_token).is_ok());

    // The child rotates on.
    let third = h.service.refresh(&tokens.refresh_token, &meta()).await.unwrap();
    assert_eq!(h.store.session(first.session_id).rotation.generation, 2);
    assert_ne!(third.tokens.refresh_token, tokens.refresh_token);
    assert_eq!(third.tokens.refresh_expires_at, h.service.now() + Duration::days(14));
    h
}

#[tokio::test]
async fn concurrent_refreshes_agree_byte_for_byte() {
    let h = harness();
    let first = h.register("ada@example.com").await.tokens;
    let m = meta();
    let (a, b, c) = tokio::join!(
        h.service.refresh(&first.refresh_token, &m),
        h.service.refresh(&first.refresh_token, &m),
        h.service.refresh(&first.refresh_token, &m),
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(a.tokens.refresh_token, b.tokens.refresh_token);
    assert_eq!(b.tokens.refresh_token, c.tokens.refresh_token);
    assert_eq!(h.store.session(first.session_id).rotation.generation, 1);
}

#[tokio::test]
async fn replay_after_grace_revokes_the_whole_session() {
    let h = harness();
    let first = h.register("ada@example.com").await.tokens;
    let second = h.service.refresh(&first.refresh_token, &meta()).await.unwrap().tokens;
    h.clock.advance(Duration::seconds(10));

    let replay = h.service.refresh(&first.refresh_token, &meta()).await;
    assert!(matches!(replay, Err(AuthError::RefreshReused)), "{replay:?}");
    let now = h.service.now();

    let session = h.store.session(first.session_id);
    assert_eq!(session.revoked_at, Some(now));
    assert_eq!(session.revoked_reason, Some(RevocationReason::RefreshReused));
    let reuse = h
        .store
        .events()
        .into_iter()
        .find(|event| event.kind == EventKind::RefreshReuseDetected)
        .unwrap();
    assert_eq!(reuse.session_id, Some(first.session_id));
    assert_eq!(
        h.published(),
        [Revocation::Session {
            session_id: first.session_id,
            forget_after: now + Duration::minutes(10) + Duration::seconds(5)
        }]
    );

    // Every access token of the session is refused at once, and the current refresh token too.
    for access_token in [&first.access_token, &second.access_token] {
        assert!(matches!(
            h.service.authenticate(access_token),
            Err(AuthError::SessionRevoked)
        ));
    }
    let current = h.service.refresh(&second.refresh_token, &meta()).await;
    assert!(matches!(current, Err(AuthError::SessionRevoked)), "{current:?}");
    // Replaying again does not record a second reuse.
    let again = h.service.refresh(&first.refresh_token, &meta()).await;
    assert!(matches!(again, Err(AuthError::SessionRevoked)), "{again:?}");
    assert_eq!(
        h.store
            .kinds()
            .iter()
            .filter(|kind| **kind == EventKind::RefreshReuseDetected)
            .count(),
        1
    );

    // Other sessions of the same user are untouched.
    let other = h
        .service
        .login("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    assert!(h.service.authenticate(&other.tokens.access_token).is_ok());
}

#[tokio::test]
async fn forged_and_unknown_tokens_change_nothing() {
    let h = harness();
    let first = h.register("ada@example.com").await.tokens;
    let before = h.store.snapshot();

    let foreign_keys = MasterKey::from_bytes([1; 32]).refresh_keys();
    let forged_same_sid = RefreshToken::new_family(first.session_id).encode(&foreign_keys);
    let mut flipped = first.refresh_token.clone().into_bytes();
    flipped[30] = if flipped[30] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    // Genuine tag, right shape, but no such session.
    let unknown_session = RefreshToken::new_family(Uuid::new_v4()).encode(&h.service.refresh_keys);
    // Genuine tag for the real session, but a secret it never issued.
    let wrong_secret = RefreshToken::new_family(first.session_id).encode(&h.service.refresh_keys);

    for token in [
        forged_same_sid,
        flipped,
        unknown_session,
        wrong_secret,
        String::new(),
        "garbage".into(),
        "A".repeat(96),
    ] {
        let result = h.service.refresh(&token, &meta()).await;
        assert!(matches!(result, Err(AuthError::InvalidToken)), "{token:?}: {result:?}");
    }
    assert_eq!(h.store.snapshot(), before);
    assert!(h.published().is_empty());
    assert!(h.service.revocations().is_empty());
    assert!(h.service.authenticate(&first.access_token).is_ok());
    assert!(h.service.refresh(&first.refresh_token, &meta()).await.is_ok());
}

#[tokio::test]
async fn refresh_ends_with_the_session() {
    let h = harness();
    let first = h.register("ada@example.com").await.tokens;
    // Idle timeout.
    h.clock.advance(Duration::days(14));
    let result = h.service.refresh(&first.refresh_token, &meta()).await;
    assert!(matches!(result, Err(AuthError::SessionRevoked)), "{result:?}");
    assert_eq!(
        h.store.session(first.session_id).revoked_at,
        None,
        "expiry writes nothing"
    );

    // A disabled user's session ends at once.
    let second = h
        .service
        .login("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap()
        .tokens;
    let mut user = h.store.user_by_email("ada@example.com");
    user.disabled = true;
    h.store.set_user(user);
    let result = h.service.refresh(&second.refresh_token, &meta()).await;
    assert!(matches!(result, Err(AuthError::SessionRevoked)), "{result:?}");
}

// ---------------------------------------------------------------------------------------------
// logout and authenticate

#[tokio::test]
async fn logout_revokes_at_once_and_is_idempotent() {
    let h = harness();
    let tokens = h.register("ada@example.com").await.tokens;
    h.service.logout(tokens.session_id, &meta()).await.unwrap();
    let now = h.service.now();

    assert!(matches!(
        h.service.authenticate(&tokens.access_token),
        Err(AuthError::SessionRevoked)
    ));
    let session = h.store.session(tokens.session_id);
    assert_eq!(session.revoked_reason, Some(RevocationReason::Logout));
    assert_eq!(h.store.kinds(), [EventKind::AccountCreated, EventKind::Logout]);
    let expected = Revocation::Session {
        session_id: tokens.session_id,
        forget_after: now + Duration::seconds(605),
    };
    assert_eq!(h.published(), [expected]);

    let refreshed = h.service.refresh(&tokens.refresh_token, &meta()).await;
    assert!(matches!(refreshed, Err(AuthError::SessionRevoked)), "{refreshed:?}");

    // Again, and for a session that never existed: fine, no second event.
    h.service.logout(tokens.session_id, &meta()).await.unwrap();
    h.service.logout(Uuid::new_v4(), &meta()).await.unwrap();
    assert_eq!(h.store.kinds(), [EventKind::AccountCreated, EventKind::Logout]);
    assert_eq!(h.published().len(), 3);
}

#[tokio::test]
async fn authenticate_checks_expiry_with_leeway() {
    let h = harness();
    let tokens = h.register("ada@example.com").await.tokens;
    h.clock.advance(Duration::minutes(10) + Duration::seconds(5));
    assert!(
        h.service.authenticate(&tokens.access_token).is_ok(),
        "within the 5 s leeway"
    );
    h.clock.advance(Duration::seconds(1));
    assert!(matches!(
        h.service.authenticate(&tokens.access_token),
        Err(AuthError::TokenExpired)
    ));
}

#[tokio::test]
async fn authenticate_refuses_garbage_and_refresh_tokens() {
    let h = harness();
    let tokens = h.register("ada@example.com").await.tokens;
    let cases = [
        String::new(),
        "garbage".into(),
        "a.b.c".into(),
        tokens.refresh_token.clone(),
        tokens.csrf_token.clone(),
        format!("{}x", tokens.access_token),
    ];
    for case in cases {
        assert!(
            matches!(h.service.authenticate(&case), Err(AuthError::InvalidToken)),
            "{case:?}"
        );
    }
    assert!(matches!(
        h.service.refresh_token_session("garbage"),
        Err(AuthError::InvalidToken)
    ));
    assert!(matches!(
        h.service.refresh_token_session(&tokens.access_token),
        Err(AuthError::InvalidToken)
    ));
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid() {
    let h = harness();
    let old_kid = h.service.key_ring().active_kid().to_owned();
    let before = h.register("ada@example.com").await.tokens;

    let new_key = generate_ed25519_key(&h.kek, h.service.now());
    h.store.add_signing_key(new_key.clone()).await.unwrap();
    let stored = h.store.list_signing_keys().await.unwrap();
    let ring = KeyRing::from_stored(&stored, &h.kek, h.service.policy().access_ttl, h.service.now()).unwrap();
    h.service.replace_key_ring(ring);
    assert_eq!(h.service.key_ring().active_kid(), new_key.kid);

    let after = h
        .service
        .login("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap()
        .tokens;
    assert!(
        h.service.authenticate(&before.access_token).is_ok(),
        "signed by {old_kid}, still verifies"
    );
    assert!(h.service.authenticate(&after.access_token).is_ok());
    assert_eq!(h.service.key_ring().public_jwks().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// profile

#[tokio::test]
async fn update_name_reissues_the_access_token() {
    let h = harness();
    let tokens = h.register("ada@example.com").await.tokens;
    let claims = h.service.authenticate(&tokens.access_token).unwrap();
    h.clock.advance(Duration::minutes(1));

    let reissued = h.service.update_name(&claims, "  Countess of Lovelace ").await.unwrap();
    assert_eq!(reissued.user.name, "Countess of Lovelace");
    assert_eq!(reissued.access_expires_at, h.service.now() + Duration::minutes(10));
    let new_claims = h.service.authenticate(&reissued.access_token).unwrap();
    assert_eq!(new_claims.name, "Countess of Lovelace");
    assert_eq!(new_claims.sid, claims.sid);
    assert_eq!(new_claims.sub, claims.sub);
    assert_ne!(new_claims.jti, claims.jti);
    assert_eq!(h.store.user_by_email("ada@example.com").name, "Countess of Lovelace");

    let invalid = h.service.update_name(&claims, " \t ").await;
    assert!(
        matches!(invalid, Err(AuthError::Validation { field: "name", .. })),
        "{invalid:?}"
    );

    let ghost = AccessClaims {
        sub: Uuid::now_v7(),
        ..claims
    };
    assert!(matches!(
        h.service.update_name(&ghost, "Nobody").await,
        Err(AuthError::SessionRevoked)
    ));
}

#[tokio::test]
async fn errors_never_carry_secrets() {
    let h = harness();
    h.register("ada@example.com").await;
    let weak = Registration {
        password: "hunter2hunter2".into(),
        ..registration("b@example.com")
    };
    let error = h
        .service
        .register(weak, TokenDelivery::Cookie, &meta())
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
    let error = h
        .service
        .login("ada@example.com", "secret-guess-123", TokenDelivery::Cookie, &meta())
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("secret-guess"), "{error}");
    assert!(!format!("{error:?}").contains("secret-guess"), "{error:?}");
}

mod account;
mod missing_user;
mod throttling;
