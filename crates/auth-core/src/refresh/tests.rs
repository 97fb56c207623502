use time::Duration;
use time::macros::datetime;

use super::*;
use crate::mfa::policy::{Amr, AmrSet};
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
        auth_time: T0,
        amr: AmrSet::of(&[Amr::Pwd]),
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
