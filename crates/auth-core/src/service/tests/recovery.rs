//! Account recovery by mail: reset tokens (single use, expiry on the clock, purpose, killed by
//! any password change), the backoff a reset clears, the one-mail-a-minute rule, verification
//! and email change.

use super::*;
use crate::mail::{MailIntent, MailKind};

const NEW_PASSWORD: &str = "sapphire-walrus-lantern-77";

fn claims_of(h: &Harness, logged_in: &LoggedIn) -> AccessClaims {
    h.service.authenticate(&logged_in.tokens.access_token).unwrap()
}

async fn forgot(h: &Harness, email: &str) {
    h.service.request_password_reset(email, &meta()).await.unwrap();
}

async fn login(h: &Harness, email: &str, password: &str) -> Result<LoggedIn, AuthError> {
    h.service
        .login_without_mfa(email, password, TokenDelivery::Cookie, &meta())
        .await
}

#[tokio::test]
async fn a_reset_token_works_once_and_ends_every_session() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    forgot(&h, "ada@example.com").await;
    let token = h.mailed_token(MailKind::ResetPassword);
    assert!(h.store.kinds().contains(&EventKind::PasswordResetRequested));

    h.service.reset_password(&token, NEW_PASSWORD, &meta()).await.unwrap();
    assert!(matches!(
        h.service.authenticate(&registered.tokens.access_token),
        Err(AuthError::SessionRevoked)
    ));
    assert!(matches!(
        login(&h, "ada@example.com", PASSWORD).await,
        Err(AuthError::InvalidCredentials)
    ));
    login(&h, "ada@example.com", NEW_PASSWORD).await.unwrap();
    assert!(h.store.kinds().contains(&EventKind::PasswordReset));
    assert_eq!(h.mailed(MailKind::PasswordChanged).len(), 1, "the notice is queued");

    let replay = h
        .service
        .reset_password(&token, "another-fine-passphrase-31", &meta())
        .await;
    assert!(matches!(replay, Err(AuthError::MailTokenInvalid)), "{replay:?}");
}

#[tokio::test]
async fn a_reset_token_expires_at_its_ttl_on_the_clock() {
    for (offset, works) in [(-1, true), (0, false), (1, false)] {
        let h = harness();
        h.register("ada@example.com").await;
        forgot(&h, "ada@example.com").await;
        let token = h.mailed_token(MailKind::ResetPassword);
        h.clock
            .advance(MailPolicy::default().reset_ttl + Duration::seconds(offset));
        let result = h.service.reset_password(&token, NEW_PASSWORD, &meta()).await;
        assert_eq!(result.is_ok(), works, "ttl {offset:+} s: {result:?}");
        if !works {
            assert!(matches!(result, Err(AuthError::MailTokenInvalid)));
            login(&h, "ada@example.com", PASSWORD).await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_token_for_another_purpose_is_refused_and_not_consumed() {
    let h = harness();
    h.register("ada@example.com").await;
    let verification = h.mailed_token(MailKind::VerifyAddress);
    let refused = h.service.reset_password(&verification, NEW_PASSWORD, &meta()).await;
    assert!(matches!(refused, Err(AuthError::MailTokenInvalid)), "{refused:?}");
    let refused = h.service.confirm_email(&verification, &meta()).await;
    assert!(matches!(refused, Err(AuthError::MailTokenInvalid)), "{refused:?}");
    h.service.verify_email(&verification, &meta()).await.unwrap();

    forgot(&h, "ada@example.com").await;
    let reset = h.mailed_token(MailKind::ResetPassword);
    assert!(matches!(
        h.service.verify_email(&reset, &meta()).await,
        Err(AuthError::MailTokenInvalid)
    ));
    h.service.reset_password(&reset, NEW_PASSWORD, &meta()).await.unwrap();
}

#[tokio::test]
async fn malformed_and_unknown_tokens_are_token_invalid() {
    let h = harness();
    h.register("ada@example.com").await;
    let unknown = "A".repeat(crate::mail_token::TOKEN_TEXT_LEN);
    for token in ["", "short", "not a token at all!", &"x".repeat(300), &unknown] {
        assert!(matches!(
            h.service.reset_password(token, NEW_PASSWORD, &meta()).await,
            Err(AuthError::MailTokenInvalid)
        ));
        assert!(matches!(
            h.service.verify_email(token, &meta()).await,
            Err(AuthError::MailTokenInvalid)
        ));
        assert!(matches!(
            h.service.confirm_email(token, &meta()).await,
            Err(AuthError::MailTokenInvalid)
        ));
    }
}

#[tokio::test]
async fn a_weak_password_is_refused_and_leaves_the_token_usable() {
    let h = harness();
    h.register("ada@example.com").await;
    forgot(&h, "ada@example.com").await;
    let token = h.mailed_token(MailKind::ResetPassword);
    let weak = h.service.reset_password(&token, "password1234", &meta()).await;
    assert!(
        matches!(
            weak,
            Err(AuthError::Validation {
                field: "new_password",
                ..
            })
        ),
        "{weak:?}"
    );
    h.service.reset_password(&token, NEW_PASSWORD, &meta()).await.unwrap();
}

#[tokio::test]
async fn any_password_change_kills_outstanding_reset_tokens() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    forgot(&h, "ada@example.com").await;
    let first = h.mailed_token(MailKind::ResetPassword);
    h.clock.advance(Duration::seconds(61));
    forgot(&h, "ada@example.com").await;
    let second = h.mailed_token(MailKind::ResetPassword);
    assert_ne!(first, second);

    h.service
        .change_password(&claims_of(&h, &registered), PASSWORD, NEW_PASSWORD, &meta())
        .await
        .unwrap();
    assert_eq!(h.mailed(MailKind::PasswordChanged).len(), 1);
    for token in [first, second] {
        assert!(matches!(
            h.service
                .reset_password(&token, "another-fine-passphrase-31", &meta())
                .await,
            Err(AuthError::MailTokenInvalid)
        ));
    }

    // A reset kills the other reset tokens too.
    h.clock.advance(Duration::seconds(61));
    forgot(&h, "ada@example.com").await;
    let third = h.mailed_token(MailKind::ResetPassword);
    h.clock.advance(Duration::seconds(61));
    forgot(&h, "ada@example.com").await;
    let fourth = h.mailed_token(MailKind::ResetPassword);
    h.service
        .reset_password(&fourth, "another-fine-passphrase-31", &meta())
        .await
        .unwrap();
    assert!(matches!(
        h.service
            .reset_password(&third, "yet-another-passphrase-52", &meta())
            .await,
        Err(AuthError::MailTokenInvalid)
    ));
}

#[tokio::test]
async fn a_reset_clears_the_login_backoff() {
    let h = harness();
    h.register("ada@example.com").await;
    for _ in 0..=throttle::FREE_ATTEMPTS {
        let _ = login(&h, "ada@example.com", "wrong-password-entirely").await;
    }
    assert!(
        matches!(
            login(&h, "ada@example.com", PASSWORD).await,
            Err(AuthError::RateLimited { .. })
        ),
        "backing off after the failures"
    );
    forgot(&h, "ada@example.com").await;
    let token = h.mailed_token(MailKind::ResetPassword);
    h.service.reset_password(&token, NEW_PASSWORD, &meta()).await.unwrap();
    login(&h, "ada@example.com", NEW_PASSWORD).await.unwrap();
}

#[tokio::test]
async fn one_reset_mail_per_account_per_minute_and_none_for_unknown_addresses() {
    let h = harness();
    h.register("ada@example.com").await;
    forgot(&h, "ada@example.com").await;
    h.clock.advance(Duration::seconds(59));
    forgot(&h, "ADA@example.com ").await;
    assert_eq!(h.mailed(MailKind::ResetPassword).len(), 1, "skipped within the minute");
    h.clock.advance(Duration::seconds(1));
    forgot(&h, "ada@example.com").await;
    assert_eq!(h.mailed(MailKind::ResetPassword).len(), 2, "a minute later");

    forgot(&h, "nobody@example.com").await;
    forgot(&h, "").await;
    assert_eq!(h.mailed(MailKind::ResetPassword).len(), 2);
    let requested = h
        .store
        .kinds()
        .into_iter()
        .filter(|kind| *kind == EventKind::PasswordResetRequested)
        .count();
    assert_eq!(requested, 2);
}

#[tokio::test]
async fn the_verification_mail_of_register_does_not_count_toward_the_reset_rule() {
    let h = harness();
    h.register("ada@example.com").await;
    assert_eq!(h.mailed(MailKind::VerifyAddress).len(), 1);
    forgot(&h, "ada@example.com").await;
    assert_eq!(h.mailed(MailKind::ResetPassword).len(), 1);
}

#[tokio::test]
async fn verification_shows_in_the_next_refresh_and_cannot_be_asked_again() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    let claims = claims_of(&h, &registered);
    assert!(!claims.email_verified && !registered.user.email_verified);

    let resent = h.service.resend_verification(&claims).await;
    assert!(
        matches!(resent, Err(AuthError::RateLimited { retry_after_secs: 60 })),
        "register sent one just now: {resent:?}"
    );
    h.clock.advance(Duration::seconds(60));
    h.service.resend_verification(&claims).await.unwrap();
    assert_eq!(h.mailed(MailKind::VerifyAddress).len(), 2);

    let token = h.mailed_token(MailKind::VerifyAddress);
    h.service.verify_email(&token, &meta()).await.unwrap();
    assert!(h.store.kinds().contains(&EventKind::EmailVerified));
    let refreshed = h
        .service
        .refresh(&registered.tokens.refresh_token, &meta())
        .await
        .unwrap();
    assert!(claims_of(&h, &refreshed).email_verified);
    assert!(matches!(
        h.service.resend_verification(&claims).await,
        Err(AuthError::EmailAlreadyVerified)
    ));
    assert!(matches!(
        h.service.verify_email(&token, &meta()).await,
        Err(AuthError::MailTokenInvalid)
    ));
}

#[tokio::test]
async fn an_email_change_is_confirmed_at_the_new_address_and_keeps_only_the_asking_session() {
    let h = harness();
    let asking = h.register("ada@example.com").await;
    let other = login(&h, "ada@example.com", PASSWORD).await.unwrap();
    let claims = claims_of(&h, &asking);

    let wrong = h
        .service
        .request_email_change(&claims, "ada@new.example", "not-the-password", &meta())
        .await;
    assert!(
        matches!(
            wrong,
            Err(AuthError::Validation {
                field: "current_password",
                ..
            })
        ),
        "{wrong:?}"
    );
    h.register("bob@example.com").await;
    let taken = h
        .service
        .request_email_change(&claims, " BOB@example.com", PASSWORD, &meta())
        .await;
    assert!(matches!(taken, Err(AuthError::EmailTaken)), "{taken:?}");
    let invalid = h
        .service
        .request_email_change(&claims, "no-at-sign", PASSWORD, &meta())
        .await;
    assert!(matches!(invalid, Err(AuthError::Validation { field: "new_email", .. })));

    h.service
        .request_email_change(&claims, "Ada@New.Example", PASSWORD, &meta())
        .await
        .unwrap();
    let (to_new, _) = h.mailed(MailKind::ConfirmNewAddress).pop().unwrap();
    assert_eq!(to_new.address, "ada@new.example");
    let (to_old, notice) = h.mailed(MailKind::AddressChangeNotice).pop().unwrap();
    assert_eq!(to_old.address, "ada@example.com");
    assert_eq!(
        notice,
        MailIntent::AddressChangeNotice {
            new_address: "ada@new.example".into()
        }
    );
    assert_eq!(
        h.store.user_by_email("ada@example.com").id,
        asking.user.id,
        "nothing changed yet"
    );

    let token = h.mailed_token(MailKind::ConfirmNewAddress);
    h.service.confirm_email(&token, &meta()).await.unwrap();
    let moved = h.store.user_by_email("ada@new.example");
    assert!(moved.email_verified);
    assert!(h.store.kinds().contains(&EventKind::EmailChanged));
    assert!(
        h.service.authenticate(&asking.tokens.access_token).is_ok(),
        "the asking session stays"
    );
    assert!(matches!(
        h.service.authenticate(&other.tokens.access_token),
        Err(AuthError::SessionRevoked)
    ));
    login(&h, "ada@new.example", PASSWORD).await.unwrap();
}

#[tokio::test]
async fn a_required_verified_address_gives_no_session_until_verified() {
    let h = harness_with(MailPolicy {
        require_verified_email: true,
        ..MailPolicy::default()
    });
    let registered = h
        .service
        .register(registration("ada@example.com"), TokenDelivery::Cookie, &meta())
        .await;
    assert!(matches!(registered, Err(AuthError::EmailUnverified)), "{registered:?}");
    assert!(h.store.lock().sessions.is_empty());
    let token = h.mailed_token(MailKind::VerifyAddress);

    assert!(matches!(
        login(&h, "ada@example.com", "wrong-password-entirely").await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(
        login(&h, "ada@example.com", PASSWORD).await,
        Err(AuthError::EmailUnverified)
    ));
    h.service.verify_email(&token, &meta()).await.unwrap();
    let logged_in = login(&h, "ada@example.com", PASSWORD).await.unwrap();
    assert!(claims_of(&h, &logged_in).email_verified);
}
