//! A user row deleted behind Tessera's back (an operator's `DELETE FROM users`): every use case
//! that finds the caller's account gone ends the session with `SessionRevoked`, and the session's
//! access tokens stop working at once. Never a store error (which the api answers with a 500).

use super::*;

/// Registers, then deletes the user with everything of theirs, as `ON DELETE CASCADE` does.
async fn deleted_caller(h: &Harness) -> (LoggedIn, AccessClaims) {
    let logged_in = h.register("ada@example.com").await;
    let claims = h.service.authenticate(&logged_in.tokens.access_token).unwrap();
    let mut state = h.store.lock();
    let user_id = logged_in.user.id;
    state.users.remove(&user_id);
    state.sessions.retain(|_, session| session.user_id != user_id);
    state.events.retain(|event| event.user_id != user_id);
    drop(state);
    (logged_in, claims)
}

fn assert_session_over(h: &Harness, logged_in: &LoggedIn) {
    assert!(matches!(
        h.service.authenticate(&logged_in.tokens.access_token),
        Err(AuthError::SessionRevoked)
    ));
}

#[tokio::test]
async fn logout_all_of_a_deleted_user_ends_the_session() {
    let h = harness();
    let (logged_in, claims) = deleted_caller(&h).await;
    let result = h.service.logout_all(&claims, &meta()).await;
    assert!(matches!(result, Err(AuthError::SessionRevoked)), "{result:?}");
    assert_session_over(&h, &logged_in);
    assert!(h.store.events().is_empty(), "no event for a user that does not exist");
}

#[tokio::test]
async fn a_profile_change_of_a_deleted_user_ends_the_session() {
    let h = harness();
    let (logged_in, claims) = deleted_caller(&h).await;
    let result = h.service.update_name(&claims, "Nobody").await;
    assert!(matches!(result, Err(AuthError::SessionRevoked)), "{result:?}");
    assert_session_over(&h, &logged_in);
}

#[tokio::test]
async fn a_password_change_of_a_deleted_user_ends_the_session() {
    let h = harness();
    let (logged_in, claims) = deleted_caller(&h).await;
    let result = h
        .service
        .change_password(&claims, PASSWORD, "sapphire-walrus-lantern-77", &meta())
        .await;
    assert!(matches!(result, Err(AuthError::SessionRevoked)), "{result:?}");
    assert_session_over(&h, &logged_in);
}

#[tokio::test]
async fn an_admin_acting_on_a_deleted_user_gets_not_found() {
    let h = harness();
    let admin = h.register("root@example.com").await;
    let mut user = admin.user.clone();
    user.role = Role::Admin;
    h.store.set_user(user);
    let admin = h
        .service
        .login_without_mfa("root@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    let claims = h.service.authenticate(&admin.tokens.access_token).unwrap();
    let (gone, _) = deleted_caller(&h).await;
    let revoke = h.service.admin_revoke_sessions(&claims, gone.user.id, &meta()).await;
    assert!(matches!(revoke, Err(AuthError::NotFound)), "{revoke:?}");
    let change = UserChange {
        role: Some(Role::Admin),
        disabled: None,
    };
    let update = h
        .service
        .admin_update_user(&claims, gone.user.id, change, &meta())
        .await;
    assert!(matches!(update, Err(AuthError::NotFound)), "{update:?}");
    assert!(h.service.authenticate(&admin.tokens.access_token).is_ok());
}

#[tokio::test]
async fn revoking_a_session_of_a_deleted_user_ends_the_caller_session() {
    let h = harness();
    let (logged_in, claims) = deleted_caller(&h).await;
    let result = h
        .service
        .revoke_own_session(&claims, logged_in.tokens.session_id, &meta())
        .await;
    assert!(matches!(result, Err(AuthError::SessionRevoked)), "{result:?}");
    assert_session_over(&h, &logged_in);
}

#[tokio::test]
async fn a_wrong_session_id_of_a_live_user_is_still_not_found() {
    let h = harness();
    let logged_in = h.register("ada@example.com").await;
    let claims = h.service.authenticate(&logged_in.tokens.access_token).unwrap();
    let result = h.service.revoke_own_session(&claims, Uuid::new_v4(), &meta()).await;
    assert!(matches!(result, Err(AuthError::NotFound)), "{result:?}");
    assert!(h.service.authenticate(&logged_in.tokens.access_token).is_ok());
}

#[tokio::test]
async fn listing_the_sessions_of_a_deleted_user_ends_the_session() {
    let h = harness();
    let (logged_in, claims) = deleted_caller(&h).await;
    let result = h.service.list_sessions(&claims).await;
    assert!(matches!(result, Err(AuthError::SessionRevoked)), "{result:?}");
    assert_session_over(&h, &logged_in);
}
