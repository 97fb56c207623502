//! Session management and administration use cases.

use super::*;

async fn second_login(h: &Harness, email: &str) -> LoggedIn {
    h.service
        .login_without_mfa(email, PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap()
}

fn claims_of(h: &Harness, logged_in: &LoggedIn) -> AccessClaims {
    h.service.authenticate(&logged_in.tokens.access_token).unwrap()
}

async fn make_admin(h: &Harness, email: &str) -> LoggedIn {
    let registered = h.register(email).await;
    let mut user = registered.user.clone();
    user.role = Role::Admin;
    h.store.set_user(user);
    second_login(h, email).await
}

#[tokio::test]
async fn sessions_are_listed_with_the_current_one_flagged() {
    let h = harness();
    let first = h.register("ada@example.com").await;
    h.clock.advance(Duration::minutes(1));
    let second = second_login(&h, "ada@example.com").await;
    let other = h.register("bob@example.com").await;

    let listed = h.service.list_sessions(&claims_of(&h, &second)).await.unwrap();
    let ids: Vec<Uuid> = listed.iter().map(|s| s.record.id).collect();
    assert_eq!(
        ids,
        vec![second.tokens.session_id, first.tokens.session_id],
        "most recent first"
    );
    assert!(listed[0].current && !listed[1].current);
    assert!(!ids.contains(&other.tokens.session_id));
    assert_eq!(listed[0].expires_at, listed[0].record.expires_at(h.service.policy()));
}

#[tokio::test]
async fn revoking_an_own_session_refuses_its_tokens_at_once() {
    let h = harness();
    let first = h.register("ada@example.com").await;
    let second = second_login(&h, "ada@example.com").await;
    h.service
        .revoke_own_session(&claims_of(&h, &second), first.tokens.session_id, &meta())
        .await
        .unwrap();
    assert!(matches!(
        h.service.authenticate(&first.tokens.access_token),
        Err(AuthError::SessionRevoked)
    ));
    assert!(h.service.authenticate(&second.tokens.access_token).is_ok());
    assert!(matches!(
        h.service.refresh(&first.tokens.refresh_token, &meta()).await,
        Err(AuthError::SessionRevoked)
    ));
    assert!(h.store.kinds().contains(&EventKind::SessionRevoked));
    assert!(
        h.published()
            .iter()
            .any(|r| matches!(r, Revocation::Session { session_id, .. } if *session_id == first.tokens.session_id))
    );
}

#[tokio::test]
async fn another_users_session_is_not_found_and_untouched() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let bob = h.register("bob@example.com").await;
    let result = h
        .service
        .revoke_own_session(&claims_of(&h, &ada), bob.tokens.session_id, &meta())
        .await;
    assert!(matches!(result, Err(AuthError::NotFound)));
    assert!(h.service.authenticate(&bob.tokens.access_token).is_ok());
    let unknown = h
        .service
        .revoke_own_session(&claims_of(&h, &ada), Uuid::new_v4(), &meta())
        .await;
    assert!(matches!(unknown, Err(AuthError::NotFound)));
}

#[tokio::test]
async fn logout_all_ends_every_session_including_the_current_one() {
    let h = harness();
    let first = h.register("ada@example.com").await;
    let second = second_login(&h, "ada@example.com").await;
    let bob = h.register("bob@example.com").await;
    h.service.logout_all(&claims_of(&h, &second), &meta()).await.unwrap();
    for tokens in [&first.tokens, &second.tokens] {
        assert!(matches!(
            h.service.authenticate(&tokens.access_token),
            Err(AuthError::SessionRevoked)
        ));
    }
    assert!(h.service.authenticate(&bob.tokens.access_token).is_ok());
    assert_eq!(
        h.store
            .kinds()
            .iter()
            .filter(|k| **k == EventKind::AllSessionsRevoked)
            .count(),
        1
    );
}

#[tokio::test]
async fn password_change_keeps_the_current_session_and_ends_the_others() {
    let h = harness();
    let first = h.register("ada@example.com").await;
    let current = second_login(&h, "ada@example.com").await;
    let new_password = "sapphire-walrus-lantern-77";
    h.service
        .change_password(&claims_of(&h, &current), PASSWORD, new_password, &meta())
        .await
        .unwrap();
    assert!(h.service.authenticate(&current.tokens.access_token).is_ok());
    assert!(matches!(
        h.service.authenticate(&first.tokens.access_token),
        Err(AuthError::SessionRevoked)
    ));
    assert!(matches!(
        h.service
            .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
            .await,
        Err(AuthError::InvalidCredentials)
    ));
    h.service
        .login_without_mfa("ada@example.com", new_password, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    assert!(h.store.kinds().contains(&EventKind::PasswordChanged));
}

#[tokio::test]
async fn password_change_needs_the_current_password_and_a_strong_new_one() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let claims = claims_of(&h, &ada);
    let wrong = h
        .service
        .change_password(&claims, "not-my-password-at-all", "sapphire-walrus-lantern-77", &meta())
        .await;
    assert!(matches!(
        wrong,
        Err(AuthError::Validation {
            field: "current_password",
            ..
        })
    ));
    let weak = h
        .service
        .change_password(&claims, PASSWORD, "password1234", &meta())
        .await;
    assert!(matches!(
        weak,
        Err(AuthError::Validation {
            field: "new_password",
            ..
        })
    ));
    // Nothing changed: the old password still works and the session is alive.
    h.service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    assert!(h.service.authenticate(&ada.tokens.access_token).is_ok());
}

#[tokio::test]
async fn events_are_the_callers_own_newest_first_and_paginated() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    h.register("bob@example.com").await;
    for _ in 0..4 {
        let _ = h
            .service
            .login_without_mfa("ada@example.com", "wrong-password-here", TokenDelivery::Cookie, &meta())
            .await;
    }
    let claims = claims_of(&h, &ada);
    let first = h.service.list_events(&claims, None, Some(3)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(first.items.iter().all(|e| e.user_id == claims.sub));
    assert!(first.items.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let rest = h
        .service
        .list_events(&claims, first.next_cursor, Some(3))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 2, "4 failures + the registration = 5 events");
    assert_eq!(rest.next_cursor, None);
    assert_eq!(rest.items.last().unwrap().kind, EventKind::AccountCreated);
}

#[tokio::test]
async fn admin_operations_need_the_admin_role() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let bob = h.register("bob@example.com").await;
    let claims = claims_of(&h, &ada);
    assert!(matches!(
        h.service.admin_list_users(&claims, None, None).await,
        Err(AuthError::Forbidden)
    ));
    let change = UserChange {
        disabled: Some(true),
        role: None,
    };
    assert!(matches!(
        h.service.admin_update_user(&claims, bob.user.id, change, &meta()).await,
        Err(AuthError::Forbidden)
    ));
    assert!(matches!(
        h.service.admin_revoke_sessions(&claims, bob.user.id, &meta()).await,
        Err(AuthError::Forbidden)
    ));
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_logins() {
    let h = harness();
    let admin = make_admin(&h, "root@example.com").await;
    let bob = h.register("bob@example.com").await;
    let admin_claims = claims_of(&h, &admin);
    let change = UserChange {
        disabled: Some(true),
        role: None,
    };
    let updated = h
        .service
        .admin_update_user(&admin_claims, bob.user.id, change, &meta())
        .await
        .unwrap();
    assert!(updated.disabled);
    assert!(matches!(
        h.service.authenticate(&bob.tokens.access_token),
        Err(AuthError::SessionRevoked)
    ));
    assert!(matches!(
        h.service.refresh(&bob.tokens.refresh_token, &meta()).await,
        Err(AuthError::SessionRevoked)
    ));
    assert!(matches!(
        h.service
            .login_without_mfa("bob@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
            .await,
        Err(AuthError::InvalidCredentials)
    ));
    // Re-enabling lets them log in again.
    let change = UserChange {
        disabled: Some(false),
        role: None,
    };
    h.service
        .admin_update_user(&admin_claims, bob.user.id, change, &meta())
        .await
        .unwrap();
    h.service
        .login_without_mfa("bob@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_role_change_ends_sessions_so_tokens_carry_the_new_role() {
    let h = harness();
    let admin = make_admin(&h, "root@example.com").await;
    let bob = h.register("bob@example.com").await;
    let change = UserChange {
        role: Some(Role::Admin),
        disabled: None,
    };
    let updated = h
        .service
        .admin_update_user(&claims_of(&h, &admin), bob.user.id, change, &meta())
        .await
        .unwrap();
    assert_eq!(updated.role, Role::Admin);
    assert!(matches!(
        h.service.authenticate(&bob.tokens.access_token),
        Err(AuthError::SessionRevoked)
    ));
    let again = second_login(&h, "bob@example.com").await;
    assert_eq!(claims_of(&h, &again).role(), Some(Role::Admin));
}

#[tokio::test]
async fn administrators_cannot_lock_themselves_out() {
    let h = harness();
    let admin = make_admin(&h, "root@example.com").await;
    let claims = claims_of(&h, &admin);
    for change in [
        UserChange {
            disabled: Some(true),
            role: None,
        },
        UserChange {
            role: Some(Role::User),
            disabled: None,
        },
    ] {
        let result = h.service.admin_update_user(&claims, claims.sub, change, &meta()).await;
        assert!(matches!(result, Err(AuthError::Validation { .. })), "{change:?}");
    }
    assert!(h.service.authenticate(&admin.tokens.access_token).is_ok());
}

#[tokio::test]
async fn admin_lists_users_in_pages_and_revokes_sessions() {
    let h = harness();
    let admin = make_admin(&h, "root@example.com").await;
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(h.register(&format!("user{i}@example.com")).await);
    }
    let claims = claims_of(&h, &admin);
    let page = h.service.admin_list_users(&claims, None, Some(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let mut seen: Vec<Uuid> = page.items.iter().map(|u| u.id).collect();
    let mut cursor = page.next_cursor;
    while let Some(after) = cursor {
        let next = h.service.admin_list_users(&claims, Some(after), Some(2)).await.unwrap();
        seen.extend(next.items.iter().map(|u| u.id));
        cursor = next.next_cursor;
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "creation order, no repeats");

    let target = &others[0];
    h.service
        .admin_revoke_sessions(&claims, target.user.id, &meta())
        .await
        .unwrap();
    assert!(matches!(
        h.service.authenticate(&target.tokens.access_token),
        Err(AuthError::SessionRevoked)
    ));
    assert!(h.service.authenticate(&others[1].tokens.access_token).is_ok());
    let missing = h.service.admin_revoke_sessions(&claims, Uuid::now_v7(), &meta()).await;
    assert!(matches!(missing, Err(AuthError::NotFound)));
}

#[tokio::test]
async fn create_account_applies_registration_rules_with_a_role() {
    let h = harness();
    let input = Registration {
        email: " Root@Example.com ".into(),
        name: "Root".into(),
        password: PASSWORD.into(),
    };
    let user = h.service.create_account(input, Role::Admin).await.unwrap();
    assert_eq!((user.email.as_str(), user.role), ("root@example.com", Role::Admin));
    let weak = Registration {
        email: "x@example.com".into(),
        name: "X".into(),
        password: "short".into(),
    };
    assert!(matches!(
        h.service.create_account(weak, Role::User).await,
        Err(AuthError::Validation { field: "password", .. })
    ));
}
