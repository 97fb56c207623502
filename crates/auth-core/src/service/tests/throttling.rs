//! Per-account login backoff.

use super::*;
use crate::throttle::FREE_ATTEMPTS;

async fn fail(h: &Harness, email: &str) -> AuthError {
    h.service
        .login_without_mfa(email, "wrong-password-here", TokenDelivery::Cookie, &meta())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn repeated_failures_back_off_without_checking_the_password() {
    let h = harness();
    h.register("ada@example.com").await;
    for _ in 0..=FREE_ATTEMPTS {
        assert!(matches!(
            fail(&h, "ada@example.com").await,
            AuthError::InvalidCredentials
        ));
    }
    let verifies = h.hasher.verifies.load(Ordering::SeqCst);
    // Even the right password waits: the backoff is checked first.
    let blocked = h
        .service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await;
    let Err(AuthError::RateLimited { retry_after_secs }) = blocked else {
        panic!("expected a backoff: {blocked:?}")
    };
    assert_eq!(retry_after_secs, 1);
    assert_eq!(
        h.hasher.verifies.load(Ordering::SeqCst),
        verifies,
        "no argon2 work while backing off"
    );

    h.clock.advance(Duration::seconds(1));
    h.service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    // A success resets the count.
    assert!(matches!(
        fail(&h, "ada@example.com").await,
        AuthError::InvalidCredentials
    ));
}

#[tokio::test]
async fn unknown_emails_back_off_exactly_like_real_accounts() {
    let h = harness();
    h.register("ada@example.com").await;
    let mut real = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..FREE_ATTEMPTS + 3 {
        real.push(format!("{:?}", fail(&h, "ada@example.com").await));
        unknown.push(format!("{:?}", fail(&h, "nobody@example.com").await));
    }
    assert_eq!(real, unknown);
    assert!(real.last().unwrap().contains("RateLimited"));
}

#[tokio::test]
async fn the_backoff_is_capped_so_nobody_is_locked_out_for_good() {
    let h = harness();
    h.register("ada@example.com").await;
    for _ in 0..40 {
        let _ = fail(&h, "ada@example.com").await;
        h.clock.advance(crate::throttle::MAX_BACKOFF);
    }
    h.service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Every credential check shares the throttle (service::credentials).

async fn wrong_current_password(h: &Harness, claims: &AccessClaims) -> AuthError {
    h.service
        .change_password(claims, "not-the-current-one", "sapphire-walrus-lantern-77", &meta())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn password_change_guesses_back_off_and_the_next_login_meets_it() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    let claims = h.service.authenticate(&registered.tokens.access_token).unwrap();
    for attempt in 0..=FREE_ATTEMPTS {
        let error = wrong_current_password(&h, &claims).await;
        assert!(
            matches!(
                &error,
                AuthError::Validation {
                    field: "current_password",
                    ..
                }
            ),
            "attempt {attempt}: {error:?}"
        );
    }
    let verifies = h.hasher.verifies.load(Ordering::SeqCst);
    let Err(AuthError::RateLimited { retry_after_secs }) = h
        .service
        .change_password(&claims, PASSWORD, "sapphire-walrus-lantern-77", &meta())
        .await
    else {
        panic!("the password change must back off")
    };
    assert_eq!(retry_after_secs, 1);
    // The account's backoff is shared: a login (in any spelling of the address) meets it too.
    let login = h
        .service
        .login_without_mfa(" ADA@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await;
    assert!(matches!(login, Err(AuthError::RateLimited { .. })), "{login:?}");
    assert_eq!(
        h.hasher.verifies.load(Ordering::SeqCst),
        verifies,
        "no argon2 work while backing off"
    );

    // After the wait, the right password gets through and clears the count.
    h.clock.advance(Duration::seconds(1));
    h.service
        .change_password(&claims, PASSWORD, "sapphire-walrus-lantern-77", &meta())
        .await
        .unwrap();
    for _ in 0..FREE_ATTEMPTS {
        assert!(matches!(
            wrong_current_password(&h, &claims).await,
            AuthError::Validation { .. }
        ));
    }
}

#[tokio::test]
async fn login_failures_count_toward_the_password_change_backoff() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    let claims = h.service.authenticate(&registered.tokens.access_token).unwrap();
    for _ in 0..=FREE_ATTEMPTS {
        let _ = fail(&h, "ada@example.com").await;
    }
    assert!(matches!(
        wrong_current_password(&h, &claims).await,
        AuthError::RateLimited { retry_after_secs: 1 }
    ));
}

#[tokio::test]
async fn every_credential_check_takes_from_the_client_allowance_first() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    let claims = h.service.authenticate(&registered.tokens.access_token).unwrap();
    let taken = h.limiter.taken.load(Ordering::SeqCst);
    let _ = fail(&h, "ada@example.com").await;
    let _ = wrong_current_password(&h, &claims).await;
    assert_eq!(h.limiter.taken.load(Ordering::SeqCst), taken + 2);

    h.limiter.exhausted.store(true, Ordering::SeqCst);
    let verifies = h.hasher.verifies.load(Ordering::SeqCst);
    let dummies = h.hasher.dummy_verifies.load(Ordering::SeqCst);
    let login = h
        .service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await;
    assert!(
        matches!(login, Err(AuthError::RateLimited { retry_after_secs: 7 })),
        "{login:?}"
    );
    let unknown = h
        .service
        .login_without_mfa("nobody@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await;
    assert!(matches!(unknown, Err(AuthError::RateLimited { retry_after_secs: 7 })));
    assert!(matches!(
        wrong_current_password(&h, &claims).await,
        AuthError::RateLimited { retry_after_secs: 7 }
    ));
    assert_eq!(h.hasher.verifies.load(Ordering::SeqCst), verifies);
    assert_eq!(h.hasher.dummy_verifies.load(Ordering::SeqCst), dummies);
    // Refused by the client's allowance, not counted against the account.
    h.limiter.exhausted.store(false, Ordering::SeqCst);
    let failures = h.store.lock().throttle.values().next().map(|(n, _)| *n);
    assert_eq!(failures, Some(2), "the two wrong guesses, nothing more");
}

/// A check for a code (an MFA code, later) reuses the mechanism with one call.
#[tokio::test]
async fn any_check_can_run_under_the_throttle() {
    let h = harness();
    let key = crate::throttle::throttle_key("ada@example.com");
    for _ in 0..=FREE_ATTEMPTS {
        let guess = h
            .service
            .throttled(&key, &meta(), async { Ok::<_, AuthError>(Guess::<()>::Wrong) })
            .await
            .unwrap();
        assert_eq!(guess, Guess::Wrong);
    }
    let ran = AtomicUsize::new(0);
    let blocked = h
        .service
        .throttled(&key, &meta(), async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, AuthError>(Guess::Right(()))
        })
        .await;
    assert!(matches!(blocked, Err(AuthError::RateLimited { .. })));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the check is not run while backing off");
    // The same account's login meets the backoff the code check built.
    assert!(matches!(
        fail(&h, "ada@example.com").await,
        AuthError::RateLimited { .. }
    ));
    h.clock.advance(Duration::seconds(1));
    let right = h
        .service
        .throttled(&key, &meta(), async { Ok::<_, AuthError>(Guess::Right(42)) })
        .await
        .unwrap();
    assert_eq!(right, Guess::Right(42));
    assert!(h.store.lock().throttle.is_empty(), "a right answer clears the count");
}

/// Two attempts that read the same count: only one is counted and runs; the other reads again
/// and here meets the backoff the first one's failure started.
#[tokio::test]
async fn an_attempt_that_loses_the_claim_reads_the_count_again() {
    let h = harness();
    let key = crate::throttle::throttle_key("ada@example.com");
    h.store.lock().throttle.insert(key, (FREE_ATTEMPTS, T0));
    // The conditional write refuses a stale count.
    assert!(
        !h.store
            .claim_login_attempt(&key, Some(FREE_ATTEMPTS - 1), T0)
            .await
            .unwrap()
    );
    assert!(!h.store.claim_login_attempt(&key, None, T0).await.unwrap());
    assert_eq!(h.store.lock().throttle.get(&key), Some(&(FREE_ATTEMPTS, T0)));

    // Another attempt is counted between our read and our claim.
    h.store.steal_counts.store(true, Ordering::SeqCst);
    h.store.lose_claims.store(1, Ordering::SeqCst);
    let ran = AtomicUsize::new(0);
    let guess = h
        .service
        .throttled(&key, &meta(), async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, AuthError>(Guess::Right(()))
        })
        .await;
    assert!(
        matches!(guess, Err(AuthError::RateLimited { retry_after_secs: 1 })),
        "{guess:?}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(h.store.lock().throttle.get(&key), Some(&(FREE_ATTEMPTS + 1, T0)));
}

/// An account with failures whose claims keep losing is under a parallel attack: refuse rather
/// than spin.
/// A successful login of an account without failures writes nothing to the count.
#[tokio::test]
async fn a_clean_account_is_not_written_to_by_a_right_answer() {
    let h = harness();
    let key = crate::throttle::throttle_key("ada@example.com");
    h.store.lose_claims.store(usize::MAX, Ordering::SeqCst);
    let guess = h
        .service
        .throttled(&key, &meta(), async { Ok::<_, AuthError>(Guess::Right(())) })
        .await;
    assert_eq!(guess.unwrap(), Guess::Right(()));
    assert_eq!(
        h.store.lose_claims.load(Ordering::SeqCst),
        usize::MAX,
        "no claim was tried"
    );
    assert!(h.store.lock().throttle.is_empty());
    let wrong = h
        .service
        .throttled(&key, &meta(), async { Ok::<_, AuthError>(Guess::<()>::Wrong) })
        .await;
    assert_eq!(wrong.unwrap(), Guess::Wrong);
    assert_eq!(
        h.store.lock().throttle.get(&key),
        Some(&(1, T0)),
        "counted after the check"
    );
}

#[tokio::test]
async fn claims_that_keep_losing_are_refused() {
    let h = harness();
    let key = crate::throttle::throttle_key("ada@example.com");
    h.store.lock().throttle.insert(key, (1, T0));
    h.store.lose_claims.store(usize::MAX, Ordering::SeqCst);
    let guess = h
        .service
        .throttled(&key, &meta(), async { Ok::<_, AuthError>(Guess::Right(())) })
        .await;
    assert!(matches!(guess, Err(AuthError::RateLimited { retry_after_secs: 1 })));
    // A lost claim or two is retried.
    h.store.lose_claims.store(2, Ordering::SeqCst);
    let guess = h
        .service
        .throttled(&key, &meta(), async { Ok::<_, AuthError>(Guess::Right(())) })
        .await;
    assert_eq!(guess.unwrap(), Guess::Right(()));
}
