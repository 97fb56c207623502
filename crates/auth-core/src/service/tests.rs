//! The use cases end to end over an in-memory store, an inline password hasher and a manual clock.

use std::sync::atomic::{AtomicUsize, Ordering};

use time::Duration;

use super::*;
use crate::access::generate_ed25519_key;
use crate::password::{Argon2Params, PasswordHasher, Verification};
use crate::ports::{KeyRepository, LoginThrottleRepository};
use crate::revocation::Revocation;
use crate::secret::MasterKey;
use crate::testing::*;

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
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
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
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
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
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
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
        .login_without_mfa("ada@example.com", "secret-guess-123", TokenDelivery::Cookie, &meta())
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("secret-guess"), "{error}");
    assert!(!format!("{error:?}").contains("secret-guess"), "{error:?}");
}

mod account;
mod deletion;
mod login;
mod mfa;
mod missing_user;
mod passkeys;
mod presented;
mod reauth;
mod recovery;
mod throttling;
