//! `rotate_if_current`: the one-statement rotation. It must write exactly when auth-core's
//! `ExpectedRotation::applies_to` says the row may rotate (the conditions under which `decide`
//! rotates), write nothing otherwise, and rotate a token at most once under concurrency.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tessera_auth_core::events::{EventKind, RequestMeta, SecurityEvent};
use tessera_auth_core::ports::{SessionRepository, UserRepository};
use tessera_auth_core::refresh::{ExpectedRotation, RefreshToken, RotationState};
use tessera_auth_core::secret::{MasterKey, RefreshKeys};
use tessera_auth_core::session::{RevocationReason, SessionPolicy};
use tessera_store::SeaStore;
use tessera_store::entity::users;
use tessera_store::testing::{TestDatabase, migrated_store};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::support::{at, meta, new_session, t0, user};

fn keys() -> RefreshKeys {
    MasterKey::from_bytes([7; 32]).refresh_keys()
}

/// A live session whose current refresh token is the returned one (generation 0).
async fn live_session(store: &SeaStore, absolute_expires_at: OffsetDateTime) -> RefreshToken {
    let owner = user(store).await;
    let mut input = new_session(owner.id);
    let token = RefreshToken::new_family(input.id);
    input.rotation = RotationState::initial(&token);
    input.absolute_expires_at = absolute_expires_at;
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(input.id));
    store.create_session(input, login).await.expect("create session");
    token
}

/// Tries the fast path and checks it against the reference: a rotation when (and only when)
/// `applies_to` holds for the row as it was, the row untouched otherwise.
async fn try_rotation(store: &SeaStore, token: &RefreshToken, now: OffsetDateTime, request: &RequestMeta) -> bool {
    let expected = ExpectedRotation::for_token(token, &SessionPolicy::default(), &keys(), now).expect("expected");
    let before = store.find_session(token.session_id).await.expect("find");
    let owner_disabled = match &before {
        Some(session) => {
            store
                .find_user(session.user_id)
                .await
                .expect("find user")
                .expect("owner")
                .disabled
        }
        None => false,
    };
    let should = before
        .as_ref()
        .is_some_and(|session| expected.applies_to(session, owner_disabled));
    let outcome = store.rotate_if_current(&expected, request).await.expect("rotate");
    let after = store.find_session(token.session_id).await.expect("find");
    assert_eq!(outcome.is_some(), should, "rotated exactly when applies_to says so");
    match outcome {
        None => assert_eq!(after, before, "a declined rotation writes nothing"),
        Some(locked) => {
            let before = before.expect("existed");
            let after = after.expect("exists");
            assert_eq!(after.rotation, expected.state);
            assert_eq!(after.last_used_at, now);
            assert_eq!(after.revoked_at, None);
            assert_eq!(
                after.ip,
                request.ip.clone().or(before.ip.clone()),
                "ip from the request when given"
            );
            assert_eq!(
                after.user_agent,
                request.user_agent.clone().or(before.user_agent.clone())
            );
            assert_eq!(
                (
                    after.created_at,
                    after.absolute_expires_at,
                    after.delivery,
                    after.user_id
                ),
                (
                    before.created_at,
                    before.absolute_expires_at,
                    before.delivery,
                    before.user_id
                )
            );
            assert_eq!(locked.session, after, "the outcome is the row as stored");
            assert_eq!(locked.user.id, after.user_id);
        }
    }
    should
}

async fn rotates_the_current_token_only(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let first = live_session(&store, t0() + Duration::days(30)).await;
    let request = RequestMeta {
        ip: Some("192.0.2.55".to_owned()),
        user_agent: Some("FastPath/1".to_owned()),
    };
    assert!(try_rotation(&store, &first, at(60), &request).await);
    // The same token again is no longer current: the locked path must judge it (grace/replay).
    assert!(!try_rotation(&store, &first, at(61), &request).await);
    // Its child is current; a grandchild (a generation never issued) is not.
    let second = first.child(&keys());
    let third = second.child(&keys());
    assert!(!try_rotation(&store, &third, at(62), &request).await);
    // Without request metadata the recorded ip and user agent stay.
    assert!(try_rotation(&store, &second, at(63), &RequestMeta::default()).await);
    assert!(try_rotation(&store, &third, at(64), &request).await);
    // A token naming no session.
    assert!(!try_rotation(&store, &RefreshToken::new_family(Uuid::now_v7()), at(65), &request).await);
}

async fn declines_ended_sessions_and_disabled_owners(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let policy = SessionPolicy::default();

    // Revoked.
    let token = live_session(&store, t0() + Duration::days(30)).await;
    store
        .revoke_session(
            token.session_id,
            RevocationReason::Logout,
            at(10),
            &meta(),
            EventKind::Logout,
        )
        .await
        .expect("revoke");
    assert!(!try_rotation(&store, &token, at(20), &meta()).await);

    // Owner disabled (the flag alone, without the revocation that disabling also does).
    let token = live_session(&store, t0() + Duration::days(30)).await;
    let owner = store
        .find_session(token.session_id)
        .await
        .expect("find")
        .expect("exists")
        .user_id;
    users::Entity::update_many()
        .col_expr(users::Column::Disabled, Expr::value(true))
        .filter(users::Column::Id.eq(owner))
        .exec(store.connection())
        .await
        .expect("disable");
    assert!(!try_rotation(&store, &token, at(20), &meta()).await);

    // Idle expiry: last used at t0, so live until t0 + idle_ttl.
    let token = live_session(&store, t0() + Duration::days(30)).await;
    assert!(!try_rotation(&store, &token, t0() + policy.idle_ttl + Duration::seconds(2), &meta()).await);
    assert!(try_rotation(&store, &token, t0() + policy.idle_ttl - Duration::seconds(2), &meta()).await);

    // Absolute expiry.
    let token = live_session(&store, at(3600)).await;
    assert!(!try_rotation(&store, &token, at(3602), &meta()).await);
    assert!(try_rotation(&store, &token, at(3598), &meta()).await);
}

async fn concurrent_fast_rotations_of_one_token_rotate_once(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let token = live_session(&store, t0() + Duration::days(30)).await;
    let now = at(60);
    let expected = ExpectedRotation::for_token(&token, &SessionPolicy::default(), &keys(), now).expect("expected");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let expected = expected.clone();
            tokio::spawn(async move { store.rotate_if_current(&expected, &meta()).await })
        })
        .collect();
    let mut rotated = 0;
    for task in tasks {
        if task.await.expect("task").expect("rotate").is_some() {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1);
    let after = store
        .find_session(token.session_id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(after.rotation, expected.state);
}

tessera_store::backend_tests!(
    rotates_the_current_token_only,
    declines_ended_sessions_and_disabled_owners,
    concurrent_fast_rotations_of_one_token_rotate_once,
);
