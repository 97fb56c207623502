//! A bounded memo of access tokens that passed full verification.
//!
//! A browser tab presents the same access token on every request until it refreshes, so most
//! verifications repeat one already done. Ed25519 verification costs ~60 µs; a lookup here costs
//! one SHA-256 of the token and a shared read lock. What is memoised is only what cannot change
//! while the key ring lives: the header rules, the signature, issuer, audience and role. Time
//! (expiry, issued-at) is checked again on every hit against the caller's clock, and revocation
//! is not this module's business at all (the service consults the revocation set every time).
//!
//! The memo belongs to one `KeyRing`: rotating keys builds a new ring and so starts empty, and a
//! key that leaves the ring takes its tokens' entries with it.
//!
//! Entries are keyed by the SHA-256 of the whole token, never by a part of it: a token that
//! differs in any byte (a swapped payload under a copied signature) misses and is verified in
//! full. Failures are never memoised, so garbage cannot evict good entries faster than the bound
//! allows anyway.

use std::collections::HashMap;
use std::sync::RwLock;

use sha2::{Digest, Sha256};

use crate::access::claims::AccessClaims;

/// Shards spread the write locks of inserts; reads take a shared lock on one shard.
const SHARDS: usize = 16;
/// Default bound on memoised tokens (~300 bytes each: about 1.2 MiB when full).
pub const DEFAULT_CAPACITY: usize = 4096;

type TokenDigest = [u8; 32];

pub(crate) struct VerifiedTokens {
    shards: [RwLock<HashMap<TokenDigest, AccessClaims>>; SHARDS],
    capacity_per_shard: usize,
}

impl VerifiedTokens {
    /// A memo holding at most `capacity` tokens (rounded up to a multiple of the shard count);
    /// `0` disables it.
    pub(crate) fn new(capacity: usize) -> VerifiedTokens {
        VerifiedTokens {
            shards: std::array::from_fn(|_| RwLock::new(HashMap::new())),
            capacity_per_shard: capacity.div_ceil(SHARDS),
        }
    }

    pub(crate) fn digest(token: &str) -> TokenDigest {
        Sha256::digest(token.as_bytes()).into()
    }

    fn shard(&self, digest: &TokenDigest) -> &RwLock<HashMap<TokenDigest, AccessClaims>> {
        // The digest is uniformly distributed; its first byte picks the shard.
        let index = usize::from(digest.first().copied().unwrap_or_default()) % SHARDS;
        #[allow(clippy::indexing_slicing, reason = "index < SHARDS by the modulo above")]
        &self.shards[index]
    }

    pub(crate) fn get(&self, digest: &TokenDigest) -> Option<AccessClaims> {
        if self.capacity_per_shard == 0 {
            return None;
        }
        // A poisoned lock only means another thread panicked mid-insert; a HashMap is never left
        // half-updated by that, so the data is still usable.
        let shard = self
            .shard(digest)
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        shard.get(digest).cloned()
    }

    /// Remembers a verified token. When the shard is full, entries expired at `now_unix` go
    /// first; if none has, one arbitrary entry makes room (a miss only costs a full verification).
    pub(crate) fn insert(&self, digest: TokenDigest, claims: &AccessClaims, now_unix: i64, leeway_secs: i64) {
        if self.capacity_per_shard == 0 {
            return;
        }
        let mut shard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if shard.len() >= self.capacity_per_shard && !shard.contains_key(&digest) {
            shard.retain(|_, kept| kept.exp.saturating_add(leeway_secs) >= now_unix);
            if shard.len() >= self.capacity_per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(digest, claims.clone());
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().map(|map| map.len()).unwrap_or_default())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "tessera".into(),
            aud: "tessera-api".into(),
            sub: Uuid::nil(),
            sid: Uuid::nil(),
            role: "user".into(),
            email: "a@example.com".into(),
            name: "A".into(),
            email_verified: false,
            iat: exp - 600,
            exp,
            jti: Uuid::nil(),
        }
    }

    #[test]
    fn remembers_by_whole_token() {
        let memo = VerifiedTokens::new(64);
        let digest = VerifiedTokens::digest("a.b.c");
        memo.insert(digest, &claims(1_000), 0, 5);
        assert_eq!(memo.get(&digest).map(|c| c.exp), Some(1_000));
        assert!(memo.get(&VerifiedTokens::digest("a.b.d")).is_none());
        assert!(memo.get(&VerifiedTokens::digest("a.b.c ")).is_none());
    }

    #[test]
    fn stays_within_its_bound_and_drops_expired_entries_first() {
        let memo = VerifiedTokens::new(SHARDS * 4);
        for i in 0..10_000 {
            memo.insert(VerifiedTokens::digest(&format!("token-{i}")), &claims(1_000), 0, 5);
        }
        assert!(memo.len() <= SHARDS * 4, "{}", memo.len());

        // Once everything has expired, a new token evicts the expired ones, not a live one.
        let live = VerifiedTokens::digest("live");
        memo.insert(live, &claims(10_000), 2_000, 5);
        assert!(memo.get(&live).is_some());
        assert!(memo.len() < SHARDS * 4);
    }

    #[test]
    fn zero_capacity_disables_it() {
        let memo = VerifiedTokens::new(0);
        let digest = VerifiedTokens::digest("a.b.c");
        memo.insert(digest, &claims(1_000), 0, 5);
        assert!(memo.get(&digest).is_none());
        assert_eq!(memo.len(), 0);
    }
}
