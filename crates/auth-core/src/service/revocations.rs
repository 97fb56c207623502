//! The revocation set's rules, written once: how long a revocation is remembered, ending sessions
//! here and telling the other instances, applying what another instance announced, and filling
//! the set from the database (at start-up and at every catch-up poll).

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::AuthService;
use crate::access::{self, KeyRing, KeyRingError, StoredSigningKey};
use crate::ports::StoreError;
use crate::revocation::Revocation;
use crate::secret::KeyEncryptionKey;

impl AuthService {
    /// How long a revocation must be remembered: until every access token it could refuse has
    /// expired (the access TTL plus the verification leeway).
    pub fn revocation_memory(&self) -> Duration {
        self.access.ttl.saturating_add(Duration::seconds(access::LEEWAY_SECS))
    }

    fn session_revocation(&self, session_id: Uuid, revoked_at: OffsetDateTime) -> Revocation {
        Revocation::Session {
            session_id,
            forget_after: revoked_at.saturating_add(self.revocation_memory()),
        }
    }

    /// Refuses the session's access tokens here at once and tells the other instances.
    pub(super) async fn revoke_locally(&self, session_id: Uuid, now: OffsetDateTime) {
        let revocation = self.session_revocation(session_id, now);
        self.revocations.apply(&revocation);
        self.publisher.publish(&revocation).await;
    }

    /// [`AuthService::revoke_locally`] for every session the store just revoked.
    pub(super) async fn revoke_all_locally(&self, sessions: impl IntoIterator<Item = Uuid>, now: OffsetDateTime) {
        for session_id in sessions {
            self.revoke_locally(session_id, now).await;
        }
    }

    /// A revocation another instance announced (it revoked the session just now).
    pub fn apply_peer_revocation(&self, session_id: Uuid) {
        self.revocations.apply(&self.session_revocation(session_id, self.now()));
    }

    /// Loads every revocation that can still refuse a token into the set: revoked sessions, and
    /// deleted accounts (whose sessions are gone with them).
    pub async fn fill_revocations(&self) -> Result<(), StoreError> {
        let since = self.now().saturating_sub(self.revocation_memory());
        for (session_id, revoked_at) in self.store.sessions_revoked_since(since).await? {
            self.revocations.apply(&self.session_revocation(session_id, revoked_at));
        }
        self.fill_account_deletions(since).await
    }

    /// The Ed25519 key ring from stored keys, as of now.
    pub fn key_ring_from(&self, keys: &[StoredSigningKey], kek: &KeyEncryptionKey) -> Result<KeyRing, KeyRingError> {
        KeyRing::from_stored(keys, kek, self.access.ttl, self.now())
    }

    /// Rebuilds the Ed25519 key ring from the stored keys as of now and installs it when it
    /// differs from the current one (a rotation, or a retired key whose tokens have all expired
    /// and so must stop verifying). `Ok(true)` when the ring changed.
    pub fn reload_key_ring(&self, keys: &[StoredSigningKey], kek: &KeyEncryptionKey) -> Result<bool, KeyRingError> {
        let ring = self.key_ring_from(keys, kek)?;
        let current = self.key_ring();
        let kids = |ring: &KeyRing| ring.public_jwks().into_iter().map(|key| key.kid).collect::<Vec<_>>();
        if ring.active_kid() == current.active_kid() && kids(&ring) == kids(&current) {
            return Ok(false);
        }
        self.replace_key_ring(ring);
        Ok(true)
    }
}
