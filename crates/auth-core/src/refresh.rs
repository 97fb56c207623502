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

/// The rotation columns of a session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationState {
    pub generation: u64,
    pub current_hash: [u8; 32],
    /// Hash of generation `generation - 1`'s secret; `None` before the first rotation.
    pub previous_hash: Option<[u8; 32]>,
    /// When `generation` became current; `None` before the first rotation.
    pub rotated_at: Option<OffsetDateTime>,
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
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;
    use crate::secret::MasterKey;
    use crate::session::TokenDelivery;

    const T0: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);

    fn keys() -> RefreshKeys {
        MasterKey::from_bytes([7; 32]).refresh_keys()
    }

    fn session_for(token: &RefreshToken) -> SessionRecord {
        SessionRecord {
            id: token.session_id,
            user_id: Uuid::new_v4(),
            rotation: RotationState::initial(token),
            delivery: TokenDelivery::Cookie,
            created_at: T0,
            last_used_at: T0,
            absolute_expires_at: T0 + Duration::days(30),
            revoked_at: None,
            revoked_reason: None,
            user_agent: None,
            ip: None,
        }
    }

    /// Applies a decision the way the store does.
    fn persist(session: &mut SessionRecord, decision: &RefreshDecision, now: OffsetDateTime) {
        if let RefreshDecision::Rotate { state, .. } = decision {
            session.rotation = state.clone();
            session.last_used_at = now;
        }
    }

    fn rotate(token: &RefreshToken, session: &mut SessionRecord, now: OffsetDateTime) -> RefreshToken {
        let decision = decide(token, session, false, &SessionPolicy::default(), &keys(), now);
        persist(session, &decision, now);
        match decision {
            RefreshDecision::Rotate { child, .. } => child,
            other => panic!("expected rotate, got {other:?}"),
        }
    }

    #[test]
    fn expected_rotation_applies_exactly_when_decide_rotates() {
        let keys = keys();
        let policy = SessionPolicy::default();
        let first = RefreshToken::new_family(Uuid::new_v4());
        let mut rotated = session_for(&first);
        let second = rotate(&first, &mut rotated, T0 + Duration::minutes(1));
        let idle = policy.idle_ttl;
        let mut cases: Vec<(&str, RefreshToken, SessionRecord, bool, OffsetDateTime)> = Vec::new();
        for now in [
            T0,
            T0 + Duration::minutes(1),
            T0 + Duration::seconds(5),
            T0 + idle - Duration::microseconds(1),
            T0 + idle,
            T0 + idle + Duration::microseconds(1),
            T0 + Duration::days(30) - Duration::microseconds(1),
            T0 + Duration::days(30),
        ] {
            for disabled in [false, true] {
                let fresh = session_for(&first);
                cases.push(("fresh", first.clone(), fresh.clone(), disabled, now));
                cases.push(("stale token", first.clone(), rotated.clone(), disabled, now));
                cases.push(("current token", second.clone(), rotated.clone(), disabled, now));
                cases.push(("future token", second.clone(), fresh.clone(), disabled, now));
                let mut revoked = fresh.clone();
                revoked.revoked_at = Some(T0);
                cases.push(("revoked", first.clone(), revoked, disabled, now));
                let mut short = fresh.clone();
                short.absolute_expires_at = T0 + Duration::minutes(1);
                cases.push(("absolute expiry", first.clone(), short, disabled, now));
                let mut other_hash = fresh.clone();
                other_hash.rotation.current_hash = [9; 32];
                cases.push(("other hash", first.clone(), other_hash, disabled, now));
                let other_session = session_for(&RefreshToken::new_family(Uuid::new_v4()));
                cases.push(("other session", first.clone(), other_session, disabled, now));
            }
        }
        let mut rotations = 0;
        for (name, token, session, disabled, now) in cases {
            let expected = ExpectedRotation::for_token(&token, &policy, &keys, now).unwrap();
            let decision = decide(&token, &session, disabled, &policy, &keys, now);
            let rotates = matches!(decision, RefreshDecision::Rotate { .. });
            assert_eq!(
                expected.applies_to(&session, disabled),
                rotates,
                "{name} at {now} (disabled: {disabled}): {decision:?}"
            );
            if rotates {
                rotations += 1;
                assert_eq!(expected.decision(), decision, "{name}: the same child and state");
            }
        }
        assert!(rotations >= 8, "the cases cover rotations too ({rotations})");
        // The last generation cannot be rotated; there is no expected rotation for it.
        let last = RefreshToken {
            generation: u64::MAX,
            ..first
        };
        assert_eq!(ExpectedRotation::for_token(&last, &policy, &keys, T0), None);
    }

    #[test]
    fn codec_round_trip() {
        let keys = keys();
        let token = RefreshToken::new_family(Uuid::new_v4());
        let text = token.encode(&keys);
        assert_eq!(text.len(), TOKEN_CHARS);
        assert_eq!(TOKEN_CHARS, 96);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(RefreshToken::parse(&text, &keys), Ok(token.clone()));
        // Later generations round-trip too, and the layout is as documented.
        let child = token.child(&keys).child(&keys);
        let text = child.encode(&keys);
        assert_eq!(RefreshToken::parse(&text, &keys).unwrap().generation, 2);
        let raw = URL_SAFE_NO_PAD.decode(&text).unwrap();
        assert_eq!(&raw[..16], child.session_id.as_bytes());
        assert_eq!(&raw[16..24], &2u64.to_be_bytes());
        assert_eq!(&raw[24..56], &child.secret);
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&keys.tag).unwrap();
        mac.update(&raw[..56]);
        assert_eq!(&raw[56..], &mac.finalize().into_bytes()[..16]);
    }

    #[test]
    fn new_families_are_random() {
        let sid = Uuid::new_v4();
        let a = RefreshToken::new_family(sid);
        let b = RefreshToken::new_family(sid);
        assert_eq!(a.generation, 0);
        assert_ne!(a.secret, b.secret);
    }

    #[test]
    fn forged_tags_are_told_apart_from_malformed_text() {
        let keys = keys();
        let text = RefreshToken::new_family(Uuid::new_v4()).encode(&keys);
        // Same token under another deployment's key: right shape, wrong tag.
        let other = MasterKey::from_bytes([8; 32]).refresh_keys();
        assert_eq!(RefreshToken::parse(&text, &other), Err(RefreshTokenError::Forged));
        // Every single-character change in the body or tag is a forgery (or malformed).
        let mut raw = URL_SAFE_NO_PAD.decode(&text).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 0x80;
            let tampered = URL_SAFE_NO_PAD.encode(&raw);
            assert_eq!(
                RefreshToken::parse(&tampered, &keys),
                Err(RefreshTokenError::Forged),
                "byte {i}"
            );
            raw[i] ^= 0x80;
        }
        // Random bytes of the right length: forged, never accepted.
        for _ in 0..50 {
            let random: [u8; TOKEN_BYTES] = std::array::from_fn(|_| rand::random());
            let text = URL_SAFE_NO_PAD.encode(random);
            assert_eq!(RefreshToken::parse(&text, &keys), Err(RefreshTokenError::Forged));
        }
    }

    #[test]
    fn malformed_text_never_panics() {
        let keys = keys();
        let good = RefreshToken::new_family(Uuid::new_v4()).encode(&keys);
        let mut cases = vec![
            String::new(),
            good[..good.len() - 1].to_owned(),
            format!("{good}A"),
            format!("{good}="),
            format!("{}=", &good[..good.len() - 1]),
            good.replace('-', "+").replace('_', "/"),
            format!("{}+", &good[..good.len() - 1]),
            format!("{}/", &good[..good.len() - 1]),
            format!("{}.", &good[..good.len() - 1]),
            format!(" {}", &good[..good.len() - 1]),
            format!("{}é", &good[..good.len() - 2]),
            "A".repeat(10_000),
            "\u{0}".repeat(96),
        ];
        cases.retain(|case| case != &good);
        for case in cases {
            let result = RefreshToken::parse(&case, &keys);
            // '+' '/' may be absent from the good token, in which case the replace is a no-op.
            assert!(result.is_err(), "{case:?}");
            if case.len() != TOKEN_CHARS
                || !case
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                assert_eq!(result, Err(RefreshTokenError::Malformed), "{case:?}");
            }
        }
        // Random printable garbage of every length around the real one.
        for len in 0..200 {
            let text: String = (0..len).map(|_| char::from(rand::random_range(0x20u8..0x7f))).collect();
            let _ = RefreshToken::parse(&text, &keys);
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let token = RefreshToken::new_family(Uuid::new_v4());
        let debug = format!("{token:?}");
        assert!(!debug.contains("secret"));
        assert!(debug.contains(&token.session_id.to_string()));
    }

    #[test]
    fn child_derivation_is_deterministic_and_keyed() {
        let keys = keys();
        let token = RefreshToken::new_family(Uuid::new_v4());
        let a = token.child(&keys);
        let b = token.child(&keys);
        assert_eq!(a, b);
        assert_eq!(a.encode(&keys), b.encode(&keys));
        assert_eq!(a.generation, 1);
        assert_eq!(a.session_id, token.session_id);
        assert_ne!(a.secret, token.secret);
        let other = MasterKey::from_bytes([9; 32]).refresh_keys();
        assert_ne!(token.child(&other).secret, a.secret);
        // Generation and session id are bound into the derivation.
        let mut moved = token.clone();
        moved.session_id = Uuid::new_v4();
        assert_ne!(moved.child(&keys).secret, a.secret);
        let mut later = token.clone();
        later.generation = 5;
        assert_ne!(later.child(&keys).secret, a.secret);
    }

    #[test]
    fn secret_hash_is_sha256_of_the_secret() {
        let token = RefreshToken::new_family(Uuid::new_v4());
        let expected: [u8; 32] = Sha256::digest(token.secret).into();
        assert_eq!(token.secret_hash(), expected);
        assert_eq!(RotationState::initial(&token).current_hash, expected);
    }

    #[test]
    fn current_token_rotates() {
        let keys = keys();
        let token = RefreshToken::new_family(Uuid::new_v4());
        let session = session_for(&token);
        let now = T0 + Duration::minutes(1);
        let decision = decide(&token, &session, false, &SessionPolicy::default(), &keys, now);
        let RefreshDecision::Rotate { child, state } = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(child, token.child(&keys));
        assert_eq!(
            state,
            RotationState {
                generation: 1,
                current_hash: child.secret_hash(),
                previous_hash: Some(token.secret_hash()),
                rotated_at: Some(now),
            }
        );
    }

    #[test]
    fn grace_reissue_returns_the_same_child_byte_for_byte() {
        let keys = keys();
        let policy = SessionPolicy::default();
        let token = RefreshToken::new_family(Uuid::new_v4());
        let mut session = session_for(&token);
        let now = T0 + Duration::minutes(1);
        let child = rotate(&token, &mut session, now);

        let later = now + policy.grace - Duration::milliseconds(1);
        let decision = decide(&token, &session, false, &policy, &keys, later);
        let RefreshDecision::Reissue { child: again } = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(again.encode(&keys), child.encode(&keys));

        // The reissued child is the current token: it rotates normally.
        let grandchild = rotate(&again, &mut session, later);
        assert_eq!(grandchild.generation, 2);
    }

    #[test]
    fn stale_token_after_grace_is_a_replay() {
        let keys = keys();
        let policy = SessionPolicy::default();
        let token = RefreshToken::new_family(Uuid::new_v4());
        let mut session = session_for(&token);
        let now = T0 + Duration::minutes(1);
        rotate(&token, &mut session, now);
        assert_eq!(
            decide(&token, &session, false, &policy, &keys, now + policy.grace),
            RefreshDecision::Replay
        );
        assert_eq!(
            decide(&token, &session, false, &policy, &keys, now + Duration::days(1)),
            RefreshDecision::Replay
        );
    }

    #[test]
    fn older_generation_is_a_replay_even_inside_grace() {
        let keys = keys();
        let policy = SessionPolicy::default();
        let g0 = RefreshToken::new_family(Uuid::new_v4());
        let mut session = session_for(&g0);
        let g1 = rotate(&g0, &mut session, T0);
        let g2 = rotate(&g1, &mut session, T0);
        assert_eq!(g2.generation, 2);
        assert_eq!(
            decide(&g0, &session, false, &policy, &keys, T0),
            RefreshDecision::Replay
        );
        assert!(matches!(
            decide(&g1, &session, false, &policy, &keys, T0),
            RefreshDecision::Reissue { .. }
        ));
    }

    #[test]
    fn future_generation_or_hash_mismatch_is_unrecognised() {
        let keys = keys();
        let policy = SessionPolicy::default();
        let token = RefreshToken::new_family(Uuid::new_v4());
        let session = session_for(&token);
        let unrecognised = RefreshDecision::Reject(RefreshRejection::Unrecognised);
        // A future generation: minted with our keys, but never issued by this session.
        assert_eq!(
            decide(&token.child(&keys), &session, false, &policy, &keys, T0),
            unrecognised
        );
        // Right generation, other secret.
        let mut other = RefreshToken::new_family(token.session_id);
        assert_eq!(decide(&other, &session, false, &policy, &keys, T0), unrecognised);
        other.generation = u64::MAX;
        assert_eq!(decide(&other, &session, false, &policy, &keys, T0), unrecognised);
        // A token of another session.
        let stranger = RefreshToken::new_family(Uuid::new_v4());
        assert_eq!(decide(&stranger, &session, false, &policy, &keys, T0), unrecognised);
    }

    #[test]
    fn previous_generation_with_wrong_hash_inside_grace_is_a_replay() {
        let keys = keys();
        let policy = SessionPolicy::default();
        let token = RefreshToken::new_family(Uuid::new_v4());
        let mut session = session_for(&token);
        rotate(&token, &mut session, T0);
        let impostor = RefreshToken::new_family(token.session_id);
        assert_eq!(
            decide(&impostor, &session, false, &policy, &keys, T0),
            RefreshDecision::Replay
        );
    }

    #[test]
    fn generation_overflow_does_not_panic() {
        let keys = keys();
        let policy = SessionPolicy::default();
        let mut token = RefreshToken::new_family(Uuid::new_v4());
        token.generation = u64::MAX;
        let session = session_for(&token);
        assert_eq!(
            decide(&token, &session, false, &policy, &keys, T0),
            RefreshDecision::Reject(RefreshRejection::Unrecognised)
        );
        assert_eq!(token.child(&keys).generation, 0);
        // And a generation-0 token against a session at generation 0 with a previous hash.
        let fresh = RefreshToken::new_family(Uuid::new_v4());
        let mut session = session_for(&fresh);
        session.rotation.previous_hash = Some([0; 32]);
        session.rotation.rotated_at = Some(T0);
        let mut ahead = fresh.clone();
        ahead.generation = 1;
        assert_eq!(
            decide(&ahead, &session, false, &policy, &keys, T0),
            RefreshDecision::Reject(RefreshRejection::Unrecognised)
        );
    }

    #[test]
    fn revoked_sessions_and_disabled_users_are_rejected_first() {
        let keys = keys();
        let policy = SessionPolicy::default();
        let g0 = RefreshToken::new_family(Uuid::new_v4());
        let mut session = session_for(&g0);
        let g1 = rotate(&g0, &mut session, T0);
        session.revoked_at = Some(T0);
        let revoked = RefreshDecision::Reject(RefreshRejection::Revoked);
        // Even a stale token on a revoked session is not a (second) replay.
        assert_eq!(
            decide(&g0, &session, false, &policy, &keys, T0 + Duration::hours(1)),
            revoked
        );
        assert_eq!(decide(&g1, &session, true, &policy, &keys, T0), revoked);

        session.revoked_at = None;
        let disabled = RefreshDecision::Reject(RefreshRejection::UserDisabled);
        assert_eq!(decide(&g1, &session, true, &policy, &keys, T0), disabled);
        assert_eq!(
            decide(&g0, &session, true, &policy, &keys, T0 + Duration::hours(1)),
            disabled
        );
    }

    #[test]
    fn idle_expiry() {
        let keys = keys();
        let policy = SessionPolicy::default();
        let g0 = RefreshToken::new_family(Uuid::new_v4());
        let mut session = session_for(&g0);
        let now = T0 + Duration::days(10);
        let g1 = rotate(&g0, &mut session, now);
        let expired = RefreshDecision::Reject(RefreshRejection::Expired);
        let deadline = now + policy.idle_ttl;
        assert!(matches!(
            decide(&g1, &session, false, &policy, &keys, deadline - Duration::seconds(1)),
            RefreshDecision::Rotate { .. }
        ));
        assert_eq!(decide(&g1, &session, false, &policy, &keys, deadline), expired);
        // Expiry wins over replay detection: an expired session has nothing left to protect.
        assert_eq!(decide(&g0, &session, false, &policy, &keys, deadline), expired);
    }

    #[test]
    fn absolute_expiry() {
        let keys = keys();
        let policy = SessionPolicy::default();
        let mut token = RefreshToken::new_family(Uuid::new_v4());
        let mut session = session_for(&token);
        // Refreshing every 10 days keeps the idle timer happy, but not past 30 days.
        let mut now = T0;
        for _ in 0..2 {
            now += Duration::days(10);
            token = rotate(&token, &mut session, now);
        }
        now += Duration::days(10) - Duration::seconds(1);
        token = rotate(&token, &mut session, now);
        assert_eq!(
            decide(&token, &session, false, &policy, &keys, T0 + policy.absolute_ttl),
            RefreshDecision::Reject(RefreshRejection::Expired)
        );
    }
}
