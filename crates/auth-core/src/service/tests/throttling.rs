//! Per-account login backoff.

use super::*;
use crate::throttle::FREE_ATTEMPTS;

async fn fail(h: &Harness, email: &str) -> AuthError {
    h.service
        .login(email, "wrong-password-here", TokenDelivery::Cookie, &meta())
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
        .login("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
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
        .login("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
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
        .login("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
}
