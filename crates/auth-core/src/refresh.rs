//! Opaque refresh tokens and the rotation state machine (DESIGN.md "Refresh tokens and sessions").
//!
//! A token is `base64url(sid ‖ generation ‖ secret ‖ tag)`:
//! - `sid`: the session (16 bytes), `generation`: u64 big-endian, `secret`: 32 bytes;
//! - `tag = HMAC-SHA256(K_tag, sid ‖ generation ‖ secret)[..16]`, so a token this server never
//!   minted is told apart from a stale genuine one without a database lookup (forgery ≠ replay);
//! - the successor's secret is `HMAC-SHA256(K_next, sid ‖ (generation+1) ‖ secret)`: every
//!   instance derives the same child from the same parent, so concurrent refreshes agree byte for
//!   byte while the database stores only SHA-256 hashes of secrets.
//!
//! [`decide`] is the whole state machine as a pure function; the store runs it inside one
//! transaction with the session row locked and persists what it returns.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

pub use crate::rotation::RotationState;
use crate::secret::{RefreshKeys, hmac_sha256};
use crate::session::{SessionPolicy, SessionRecord};

pub const SECRET_LEN: usize = 32;
pub const TAG_LEN: usize = 16;
/// Length of the decoded token: sid + generation + secret + tag.
pub const TOKEN_BYTES: usize = 16 + 8 + SECRET_LEN + TAG_LEN;
/// Length of the encoded token (base64url without padding; 72 bytes encode to exactly 96).
pub const TOKEN_CHARS: usize = TOKEN_BYTES.div_ceil(3) * 4;
/// sid + generation + secret: the bytes the tag and the child derivation cover.
const BODY_BYTES: usize = 16 + 8 + SECRET_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefreshTokenError {
    /// Not a refresh token at all (wrong length, alphabet or layout).
    #[error("malformed refresh token")]
    Malformed,
    /// Right shape, wrong tag: not minted by this deployment. Never revokes anything.
    #[error("refresh token not recognised")]
    Forged,
}

/// A parsed, tag-verified refresh token. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub session_id: Uuid,
    pub generation: u64,
    secret: [u8; SECRET_LEN],
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken")
            .field("session_id", &self.session_id)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl RefreshToken {
    /// Generation 0 of a new family, with 256 random bits.
    pub fn new_family(session_id: Uuid) -> RefreshToken {
        let mut secret = [0u8; SECRET_LEN];
        rand::rng().fill_bytes(&mut secret);
        RefreshToken {
            session_id,
            generation: 0,
            secret,
        }
    }

    /// Decodes and checks the tag in constant time.
    pub fn parse(text: &str, keys: &RefreshKeys) -> Result<RefreshToken, RefreshTokenError> {
        // Length first: never decode attacker-sized input. The engine refuses padding, characters
        // outside the url-safe alphabet and non-canonical trailing bits.
        if text.len() != TOKEN_CHARS {
            return Err(RefreshTokenError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| RefreshTokenError::Malformed)?;
        let raw: [u8; TOKEN_BYTES] = raw.try_into().map_err(|_| RefreshTokenError::Malformed)?;
        let (body, tag) = raw.split_at(BODY_BYTES);
        let mut mac = hmac_sha256(&keys.tag);
        mac.update(body);
        mac.verify_truncated_left(tag).map_err(|_| RefreshTokenError::Forged)?;

        let (sid, rest) = body.split_first_chunk::<16>().ok_or(RefreshTokenError::Malformed)?;
        let (generation, secret) = rest.split_first_chunk::<8>().ok_or(RefreshTokenError::Malformed)?;
        let secret: [u8; SECRET_LEN] = secret.try_into().map_err(|_| RefreshTokenError::Malformed)?;
        Ok(RefreshToken {
            session_id: Uuid::from_bytes(*sid),
            generation: u64::from_be_bytes(*generation),
            secret,
        })
    }

    pub fn encode(&self, keys: &RefreshKeys) -> String {
        let body = self.body();
        let mut mac = hmac_sha256(&keys.tag);
        mac.update(&body);
        let tag = mac.finalize().into_bytes();
        let mut raw = Vec::with_capacity(TOKEN_BYTES);
        raw.extend_from_slice(&body);
        raw.extend(tag.iter().take(TAG_LEN));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The next generation's token, derived (not random) so every caller gets the same bytes.
    ///
    /// The generation wraps at `u64::MAX`; [`decide`] never rotates past it, so a wrapped child is
    /// never stored or handed out.
    pub fn child(&self, keys: &RefreshKeys) -> RefreshToken {
        let generation = self.generation.wrapping_add(1);
        let mut mac = hmac_sha256(&keys.next);
        mac.update(self.session_id.as_bytes());
        mac.update(&generation.to_be_bytes());
        mac.update(&self.secret);
        RefreshToken {
            session_id: self.session_id,
            generation,
            secret: mac.finalize().into_bytes().into(),
        }
    }

    /// SHA-256 of the secret: the only form in which a token is stored.
    pub fn secret_hash(&self) -> [u8; 32] {
        Sha256::digest(self.secret).into()
    }

    /// `sid ‖ generation ‖ secret`, the bytes the tag covers.
    fn body(&self) -> [u8; BODY_BYTES] {
        let mut body = [0u8; BODY_BYTES];
        let parts = [
            self.session_id.as_bytes().as_slice(),
            &self.generation.to_be_bytes(),
            &self.secret,
        ];
        for (dst, src) in body.iter_mut().zip(parts.into_iter().flatten()) {
            *dst = *src;
        }
        body
    }
}

impl RotationState {
    pub fn initial(token: &RefreshToken) -> RotationState {
        RotationState {
            generation: token.generation,
            current_hash: token.secret_hash(),
            previous_hash: None,
            rotated_at: None,
        }
    }
}

/// Why a refresh was refused without it being a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRejection {
    /// The session was already revoked (logout, reuse, admin...).
    Revoked,
    /// Idle or absolute lifetime passed.
    Expired,
    UserDisabled,
    /// The token's generation/hash matches nothing this session ever issued (e.g. a future
    /// generation, or a hash mismatch at the current generation). Treated as a forgery: no write.
    Unrecognised,
}

/// What the store must do with the locked session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Persist `state` (and `last_used_at = now`); hand out `child`.
    Rotate { child: RefreshToken, state: RotationState },
    /// A concurrent or retried refresh inside the grace window: hand out the already-current
    /// child again; write nothing.
    Reissue { child: RefreshToken },
    /// A genuine but stale token after the grace window: revoke the session, record
    /// `refresh_reuse_detected`, commit, then answer 401 `refresh_reused`.
    Replay,
    /// Refuse; write nothing.
    Reject(RefreshRejection),
}

/// The `Rotate` that [`decide`] returns for `token` when it is its session's current token and
/// nothing stands in the way. Computed before the store is reached, so a store can apply it with
/// one conditional write (no lock, no read first) when the stored row meets every condition of
/// [`ExpectedRotation::applies_to`]; when it does not, nothing is written and the refresh takes
/// the locked path through [`decide`], which handles everything else (grace, replay, expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRotation {
    pub session_id: Uuid,
    /// The presented token's generation: the row must still be at it...
    pub generation: u64,
    /// ... with the presented secret's hash as `current_hash`.
    pub current_hash: [u8; 32],
    /// The session must be unrevoked, its owner enabled, `absolute_expires_at > now` and
    /// `last_used_at > idle_since` (that is, `now < last_used_at + idle_ttl`).
    pub now: OffsetDateTime,
    pub idle_since: OffsetDateTime,
    /// What to store (`last_used_at` becomes `now`).
    pub state: RotationState,
    /// What to hand out.
    pub child: RefreshToken,
}

impl ExpectedRotation {
    /// `None` only at the (unreachable) last generation, where `decide` refuses to wrap.
    pub fn for_token(
        token: &RefreshToken,
        policy: &SessionPolicy,
        keys: &RefreshKeys,
        now: OffsetDateTime,
    ) -> Option<ExpectedRotation> {
        let next_generation = token.generation.checked_add(1)?;
        let child = token.child(keys);
        let token_hash = token.secret_hash();
        Some(ExpectedRotation {
            session_id: token.session_id,
            generation: token.generation,
            current_hash: token_hash,
            now,
            idle_since: now.saturating_sub(policy.idle_ttl),
            state: RotationState {
                generation: next_generation,
                current_hash: child.secret_hash(),
                previous_hash: Some(token_hash),
                rotated_at: Some(now),
            },
            child,
        })
    }

    /// Whether this rotation may be applied to the row: exactly the conditions under which
    /// [`decide`] returns `Rotate` (the reference a store's conditional write is tested against).
    pub fn applies_to(&self, session: &SessionRecord, user_disabled: bool) -> bool {
        session.id == self.session_id
            && session.revoked_at.is_none()
            && !user_disabled
            && session.absolute_expires_at > self.now
            && session.last_used_at > self.idle_since
            && session.rotation.generation == self.generation
            && bool::from(session.rotation.current_hash.ct_eq(&self.current_hash))
    }

    /// The decision this rotation stands for.
    pub fn decision(&self) -> RefreshDecision {
        RefreshDecision::Rotate {
            child: self.child.clone(),
            state: self.state.clone(),
        }
    }
}

/// The state machine. Order of checks:
/// 1. session revoked → `Reject(Revoked)`; user disabled → `Reject(UserDisabled)`;
/// 2. `now >= session.expires_at(policy)` → `Reject(Expired)`;
/// 3. token generation == current and hash matches `current_hash` → `Rotate`;
/// 4. token generation == current − 1, hash matches `previous_hash`, and
///    `now < rotated_at + grace` → `Reissue` (the child equals the current token);
/// 5. token generation < current (genuine: its tag verified) → `Replay`;
/// 6. anything else → `Reject(Unrecognised)`.
pub fn decide(
    token: &RefreshToken,
    session: &SessionRecord,
    user_disabled: bool,
    policy: &SessionPolicy,
    keys: &RefreshKeys,
    now: OffsetDateTime,
) -> RefreshDecision {
    // A store bug (loading another session than the token names) must never rotate anything.
    if token.session_id != session.id {
        return RefreshDecision::Reject(RefreshRejection::Unrecognised);
    }
    if session.revoked_at.is_some() {
        return RefreshDecision::Reject(RefreshRejection::Revoked);
    }
    if user_disabled {
        return RefreshDecision::Reject(RefreshRejection::UserDisabled);
    }
    if now >= session.expires_at(policy) {
        return RefreshDecision::Reject(RefreshRejection::Expired);
    }

    let state = &session.rotation;
    let token_hash = token.secret_hash();
    let matches = |stored: &[u8; 32]| bool::from(stored.ct_eq(&token_hash));

    if token.generation == state.generation && matches(&state.current_hash) {
        let Some(next_generation) = state.generation.checked_add(1) else {
            // 2^64 rotations cannot happen honestly; refuse rather than wrap.
            return RefreshDecision::Reject(RefreshRejection::Unrecognised);
        };
        let child = token.child(keys);
        let state = RotationState {
            generation: next_generation,
            current_hash: child.secret_hash(),
            previous_hash: Some(token_hash),
            rotated_at: Some(now),
        };
        return RefreshDecision::Rotate { child, state };
    }

    let is_previous =
        state.generation.checked_sub(1) == Some(token.generation) && state.previous_hash.as_ref().is_some_and(matches);
    let within_grace = state
        .rotated_at
        .is_some_and(|rotated_at| now < rotated_at.saturating_add(policy.grace));
    if is_previous && within_grace {
        let child = token.child(keys);
        // The child of the previous token *is* the current token; if it is not, the derivation
        // key changed under us and handing it out (or calling this a replay) would be wrong.
        if !bool::from(child.secret_hash().ct_eq(&state.current_hash)) {
            return RefreshDecision::Reject(RefreshRejection::Unrecognised);
        }
        return RefreshDecision::Reissue { child };
    }

    if token.generation < state.generation {
        return RefreshDecision::Replay;
    }
    RefreshDecision::Reject(RefreshRejection::Unrecognised)
}

#[cfg(test)]
mod tests;
