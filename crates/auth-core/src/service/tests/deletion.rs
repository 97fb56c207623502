//! Deleting an account and exporting it.

use super::*;
use crate::mfa::recovery;
use crate::ports::StoredTotp;
use crate::throttle::{FREE_ATTEMPTS, throttle_key};

fn claims_of(h: &Harness, logged_in: &LoggedIn) -> AccessClaims {
    h.service.authenticate(&logged_in.tokens.access_token).unwrap()
}

async fn delete(h: &Harness, claims: &AccessClaims, password: &str) -> Result<(), AuthError> {
    h.service.delete_account(claims, password, &meta()).await
}

#[tokio::test]
async fn a_wrong_password_names_the_field_is_counted_and_deletes_nothing() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let claims = claims_of(&h, &ada);
    let taken = h.limiter.taken.load(Ordering::SeqCst);

    let error = delete(&h, &claims, "not-the-password-at-all").await.unwrap_err();

    assert!(
        matches!(
            error,
            AuthError::Validation {
                field: "current_password",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        h.limiter.taken.load(Ordering::SeqCst),
        taken + 1,
        "the client's allowance"
    );
    assert_eq!(
        h.store
            .lock()
            .throttle
            .get(&throttle_key("ada@example.com"))
            .map(|(n, _)| *n),
        Some(1),
        "the account's backoff"
    );
    assert!(h.store.kinds().contains(&EventKind::LoginFailed));
    assert!(h.store.lock().users.contains_key(&claims.sub));
    assert!(h.service.authenticate(&ada.tokens.access_token).is_ok());
    assert!(h.store.lock().deletions.is_empty());
}

#[tokio::test]
async fn guesses_back_off_like_every_credential_check() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let claims = claims_of(&h, &ada);
    for _ in 0..=FREE_ATTEMPTS {
        assert!(matches!(
            delete(&h, &claims, "not-the-password-at-all").await,
            Err(AuthError::Validation { .. })
        ));
    }
    let verifies = h.hasher.verifies.load(Ordering::SeqCst);
    // Even the right password waits: the decision comes before any argon2 work.
    assert!(matches!(
        delete(&h, &claims, PASSWORD).await,
        Err(AuthError::RateLimited { retry_after_secs: 1 })
    ));
    assert_eq!(h.hasher.verifies.load(Ordering::SeqCst), verifies);
    // The same backoff as login's.
    let login = h
        .service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await;
    assert!(matches!(login, Err(AuthError::RateLimited { .. })), "{login:?}");
    assert!(h.store.lock().users.contains_key(&claims.sub));

    h.clock.advance(Duration::seconds(1));
    delete(&h, &claims, PASSWORD).await.unwrap();
    assert!(!h.store.lock().users.contains_key(&claims.sub));
}

#[tokio::test]
async fn the_right_password_deletes_everything_and_revokes_every_session_at_once() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let other_device = h
        .service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Body, &meta())
        .await
        .unwrap();
    let bob = h.register("bob@example.com").await;
    let claims = claims_of(&h, &ada);
    {
        let mut state = h.store.lock();
        state
            .stored_passkeys
            .push(stored_passkey(claims.sub, "laptop", false, T0));
        state.totp.insert(
            claims.sub,
            StoredTotp {
                sealed_secret: vec![1; 8],
                last_used_step: 0,
            },
        );
        for hash in recovery::generate(claims.sub).stored {
            state.recovery_codes.push((claims.sub, hash, None));
        }
        // A failure left over from an earlier typo.
        state.throttle.insert(throttle_key("ada@example.com"), (1, T0));
    }
    h.clock.advance(Duration::seconds(30));

    delete(&h, &claims, PASSWORD).await.unwrap();

    for tokens in [&ada.tokens, &other_device.tokens] {
        assert!(
            matches!(
                h.service.authenticate(&tokens.access_token),
                Err(AuthError::SessionRevoked)
            ),
            "every access token is refused at once"
        );
        assert!(matches!(
            h.service.refresh(&tokens.refresh_token, &meta()).await,
            Err(AuthError::InvalidToken)
        ));
    }
    let published = h.published();
    for session in [ada.tokens.session_id, other_device.tokens.session_id] {
        assert!(
            published
                .iter()
                .any(|r| matches!(r, Revocation::Session { session_id, .. } if *session_id == session)),
            "told the other instances about {session}"
        );
    }
    {
        let state = h.store.lock();
        assert!(!state.users.contains_key(&claims.sub));
        assert!(state.sessions.values().all(|s| s.user_id != claims.sub));
        assert!(state.events.iter().all(|e| e.user_id != claims.sub));
        assert!(
            state.stored_passkeys.is_empty()
                && !state.totp.contains_key(&claims.sub)
                && state.recovery_codes.is_empty()
        );
        assert!(
            state.throttle.is_empty(),
            "the throttle row keyed to the address is gone"
        );
        let [deletion] = state.deletions.as_slice() else {
            panic!("one record: {:?}", state.deletions)
        };
        assert_eq!(deletion.account_id, claims.sub);
        assert_eq!(deletion.at, h.service.now());
        assert_eq!(deletion.session_id, Some(ada.tokens.session_id));
        assert_eq!(deletion.ip, meta().ip);
    }
    // Nobody else is touched.
    assert!(h.service.authenticate(&bob.tokens.access_token).is_ok());
    // The address is free again.
    h.register("ada@example.com").await;
}

#[tokio::test]
async fn a_missed_notice_is_healed_by_the_catch_up_poll() {
    // Another instance: the same store, its own service and revocation set.
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let peer = h.peer();
    assert!(peer.authenticate(&ada.tokens.access_token).is_ok());

    delete(&h, &claims_of(&h, &ada), PASSWORD).await.unwrap();
    // The notice never arrived; the poll reads the deletion record.
    peer.fill_revocations().await.unwrap();

    assert!(matches!(
        peer.authenticate(&ada.tokens.access_token),
        Err(AuthError::SessionRevoked)
    ));
}

#[tokio::test]
async fn a_deleted_callers_second_request_is_refused() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let claims = claims_of(&h, &ada);
    delete(&h, &claims, PASSWORD).await.unwrap();
    assert!(matches!(
        delete(&h, &claims, PASSWORD).await,
        Err(AuthError::SessionRevoked)
    ));
    assert!(matches!(
        h.service.export_account(&claims).await,
        Err(AuthError::SessionRevoked)
    ));
    assert_eq!(h.store.lock().deletions.len(), 1);
}

#[tokio::test]
async fn administrators_list_deletions_and_users_cannot() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let admin = h.register("root@example.com").await;
    let mut admin_user = admin.user.clone();
    admin_user.role = Role::Admin;
    h.store.set_user(admin_user);
    let admin = h
        .service
        .login_without_mfa("root@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    let bob = h.register("bob@example.com").await;
    delete(&h, &claims_of(&h, &ada), PASSWORD).await.unwrap();

    let page = h
        .service
        .admin_list_account_deletions(&claims_of(&h, &admin), None, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].account_id, ada.user.id);
    assert!(matches!(
        h.service
            .admin_list_account_deletions(&claims_of(&h, &bob), None, None)
            .await,
        Err(AuthError::Forbidden)
    ));
}

#[tokio::test]
async fn an_export_holds_every_event_however_many() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let claims = claims_of(&h, &ada);
    let many = 1_234;
    for _ in 0..many {
        h.store.lock().events.push(SecurityEvent::new(
            claims.sub,
            EventKind::LoginFailed,
            T0,
            &meta(),
            None,
        ));
    }
    h.register("bob@example.com").await;
    for hash in recovery::generate(claims.sub).stored.into_iter().take(3) {
        h.store.lock().recovery_codes.push((claims.sub, hash, None));
    }

    let export = h.service.export_account(&claims).await.unwrap();

    assert_eq!(export.user.id, claims.sub);
    assert_eq!(export.events.len(), many + 1, "the failures and account_created");
    assert!(export.events.iter().all(|e| e.user_id == claims.sub));
    assert!(
        export.events.windows(2).all(|pair| pair[0].id > pair[1].id),
        "newest first"
    );
    assert_eq!(export.sessions.len(), 1);
    assert!(export.sessions[0].current);
    assert_eq!(export.mfa.recovery_codes_left, 3);
    assert!(export.passkeys.is_empty());
}
