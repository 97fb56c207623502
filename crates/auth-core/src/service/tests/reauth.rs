//! `auth_time` and `amr` through login, refresh and re-authentication, and the step-up rule.

use super::*;
use crate::mfa::policy::{Amr, AmrSet, ReauthMethod};
use crate::reauth::ReauthCredential;
use crate::throttle::FREE_ATTEMPTS;

const NEW_PASSWORD: &str = "sapphire-walrus-lantern-77";

fn claims_of(h: &Harness, access_token: &str) -> AccessClaims {
    h.service.authenticate(access_token).unwrap()
}

fn pwd() -> AmrSet {
    AmrSet::of(&[Amr::Pwd])
}

async fn reauth(h: &Harness, claims: &AccessClaims, password: &str) -> Result<Reauthenticated, AuthError> {
    h.service
        .reauthenticate(claims, ReauthCredential::Password(password), &meta())
        .await
}

#[tokio::test]
async fn a_login_records_now_and_the_password_in_session_and_token() {
    let h = harness();
    h.register("ada@example.com").await;
    h.clock.advance(Duration::minutes(3));
    let login = h
        .service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    let session = h.store.session(login.tokens.session_id);
    assert_eq!(session.auth_time, T0 + Duration::minutes(3));
    assert_eq!(session.amr, pwd());
    let claims = claims_of(&h, &login.tokens.access_token);
    assert_eq!(claims.auth_time, (T0 + Duration::minutes(3)).unix_timestamp());
    assert_eq!(claims.amr, ["pwd"]);
    assert_eq!(claims.auth_time, claims.iat);
}

#[tokio::test]
async fn a_refresh_keeps_the_sessions_auth_time_and_amr() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    h.clock.advance(Duration::minutes(9));
    let refreshed = h
        .service
        .refresh(&registered.tokens.refresh_token, &meta())
        .await
        .unwrap();
    let claims = claims_of(&h, &refreshed.tokens.access_token);
    assert_eq!(claims.auth_time, T0.unix_timestamp(), "the refresh proved nothing");
    assert_eq!(claims.iat, (T0 + Duration::minutes(9)).unix_timestamp());
    assert_eq!(claims.amr, ["pwd"]);
    // And so does the next one, from the session row.
    h.clock.advance(Duration::minutes(9));
    let again = h
        .service
        .refresh(&refreshed.tokens.refresh_token, &meta())
        .await
        .unwrap();
    assert_eq!(claims_of(&h, &again.tokens.access_token).auth_time, T0.unix_timestamp());
}

#[tokio::test]
async fn a_profile_update_keeps_auth_time_too() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    h.clock.advance(Duration::minutes(2));
    let claims = claims_of(&h, &registered.tokens.access_token);
    let reissued = h.service.update_name(&claims, "Ada King").await.unwrap();
    let claims = claims_of(&h, &reissued.access_token);
    assert_eq!(claims.auth_time, T0.unix_timestamp());
    assert_eq!(claims.amr, ["pwd"]);
}

#[tokio::test]
async fn a_password_change_needs_a_proof_at_most_max_age_old() {
    let h = harness();
    let max_age = h.service.policy().reauth_max_age;
    let registered = h.register("ada@example.com").await;

    // One second past the maximum age: refused before the password is even looked at.
    h.clock.advance(max_age + Duration::seconds(1));
    let refreshed = h
        .service
        .refresh(&registered.tokens.refresh_token, &meta())
        .await
        .unwrap();
    let claims = claims_of(&h, &refreshed.tokens.access_token);
    let verifies = h.hasher.verifies.load(Ordering::SeqCst);
    let refused = h
        .service
        .change_password(&claims, PASSWORD, NEW_PASSWORD, &meta())
        .await;
    let Err(AuthError::ReauthRequired { methods }) = refused else {
        panic!("expected ReauthRequired: {refused:?}")
    };
    assert_eq!(methods, vec![ReauthMethod::Password]);
    assert_eq!(h.hasher.verifies.load(Ordering::SeqCst), verifies, "no password check");

    // Exactly the maximum age: still recent.
    let h = harness();
    let registered = h.register("ada@example.com").await;
    h.clock.advance(max_age);
    let refreshed = h
        .service
        .refresh(&registered.tokens.refresh_token, &meta())
        .await
        .unwrap();
    let claims = claims_of(&h, &refreshed.tokens.access_token);
    h.service
        .change_password(&claims, PASSWORD, NEW_PASSWORD, &meta())
        .await
        .unwrap();
}

#[tokio::test]
async fn reauthentication_moves_auth_time_and_satisfies_the_step_up() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    h.clock.advance(Duration::minutes(30));
    let refreshed = h
        .service
        .refresh(&registered.tokens.refresh_token, &meta())
        .await
        .unwrap();
    let old_token = refreshed.tokens.access_token.clone();
    let claims = claims_of(&h, &old_token);

    let reauthenticated = reauth(&h, &claims, PASSWORD).await.unwrap();
    let now = T0 + Duration::minutes(30);
    assert_eq!(reauthenticated.session_id, registered.tokens.session_id);
    assert_eq!(reauthenticated.auth_time, now);
    let session = h.store.session(registered.tokens.session_id);
    assert_eq!(session.auth_time, now);
    assert_eq!(session.amr, pwd());
    let event = h.store.events().pop().unwrap();
    assert_eq!(event.kind, EventKind::Reauthenticated);
    assert_eq!(event.session_id, Some(registered.tokens.session_id));

    let fresh = claims_of(&h, &reauthenticated.access_token);
    assert_eq!(fresh.auth_time, now.unix_timestamp());
    assert_eq!(fresh.sid, claims.sid);
    // A token issued before keeps its old auth_time and is still refused the step-up.
    assert_eq!(claims_of(&h, &old_token).auth_time, T0.unix_timestamp());
    assert!(matches!(
        h.service
            .change_password(&claims_of(&h, &old_token), PASSWORD, NEW_PASSWORD, &meta())
            .await,
        Err(AuthError::ReauthRequired { .. })
    ));
    h.service
        .change_password(&fresh, PASSWORD, NEW_PASSWORD, &meta())
        .await
        .unwrap();

    // The next refresh carries the new auth_time on.
    h.clock.advance(Duration::minutes(1));
    let later = h
        .service
        .refresh(&refreshed.tokens.refresh_token, &meta())
        .await
        .unwrap();
    assert_eq!(
        claims_of(&h, &later.tokens.access_token).auth_time,
        now.unix_timestamp()
    );
}

#[tokio::test]
async fn a_wrong_password_is_invalid_credentials_and_counts_toward_the_backoff() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    let claims = claims_of(&h, &registered.tokens.access_token);
    for attempt in 0..=FREE_ATTEMPTS {
        let error = reauth(&h, &claims, "not-the-password").await.unwrap_err();
        assert!(
            matches!(error, AuthError::InvalidCredentials),
            "attempt {attempt}: {error:?}"
        );
    }
    assert!(h.store.kinds().contains(&EventKind::LoginFailed));
    assert_eq!(h.store.session(registered.tokens.session_id).auth_time, T0);
    // The account backs off now: reauth, and a login, even with the right password.
    assert!(matches!(
        reauth(&h, &claims, PASSWORD).await,
        Err(AuthError::RateLimited { .. })
    ));
    let login = h
        .service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await;
    assert!(matches!(login, Err(AuthError::RateLimited { .. })), "{login:?}");
    // And the per-client allowance is taken like a login's.
    assert!(h.limiter.taken.load(Ordering::SeqCst) > FREE_ATTEMPTS as usize);
}

#[tokio::test]
async fn a_revoked_session_cannot_reauthenticate() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    let claims = claims_of(&h, &registered.tokens.access_token);
    h.service.logout(claims.sid, &meta()).await.unwrap();
    assert!(matches!(
        reauth(&h, &claims, PASSWORD).await,
        Err(AuthError::SessionRevoked)
    ));
    // Past its absolute lifetime (the access token itself would have expired long before; the
    // claims are checked here as they stand).
    let other = h.register("bob@example.com").await;
    let claims = claims_of(&h, &other.tokens.access_token);
    h.clock.advance(h.service.policy().absolute_ttl + Duration::seconds(1));
    assert!(matches!(
        reauth(&h, &claims, PASSWORD).await,
        Err(AuthError::SessionRevoked)
    ));
}

#[tokio::test]
async fn an_admin_change_needs_recent_auth_only_when_something_changes() {
    let h = harness();
    let target = h.register("bob@example.com").await.user;
    let registered = h.register("ada@example.com").await;
    let mut admin = registered.user.clone();
    admin.role = Role::Admin;
    h.store.set_user(admin);
    let login = h
        .service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    h.clock.advance(Duration::minutes(11));
    let refreshed = h.service.refresh(&login.tokens.refresh_token, &meta()).await.unwrap();
    let caller = claims_of(&h, &refreshed.tokens.access_token);

    // Setting what already is: no change, no step-up.
    let same = UserChange {
        role: Some(Role::User),
        disabled: Some(false),
    };
    h.service
        .admin_update_user(&caller, target.id, same, &meta())
        .await
        .unwrap();
    for change in [
        UserChange {
            role: Some(Role::Admin),
            disabled: None,
        },
        UserChange {
            role: None,
            disabled: Some(true),
        },
    ] {
        let refused = h.service.admin_update_user(&caller, target.id, change, &meta()).await;
        assert!(matches!(refused, Err(AuthError::ReauthRequired { .. })), "{refused:?}");
    }
    let unchanged = h.store.lock().users.get(&target.id).cloned().unwrap();
    assert_eq!((unchanged.role, unchanged.disabled), (Role::User, false));

    let reauthenticated = reauth(&h, &caller, PASSWORD).await.unwrap();
    let caller = claims_of(&h, &reauthenticated.access_token);
    let changed = h
        .service
        .admin_update_user(
            &caller,
            target.id,
            UserChange {
                role: None,
                disabled: Some(true),
            },
            &meta(),
        )
        .await
        .unwrap();
    assert!(changed.disabled);
}
