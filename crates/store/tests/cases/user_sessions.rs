//! A user's sessions as a set: listing the active ones, revoking them all.

use tessera_auth_core::events::{EventKind, RequestMeta};
use tessera_auth_core::ports::SessionRepository;
use tessera_auth_core::session::RevocationReason;
use tessera_store::testing::{TestDatabase, migrated_store};
use time::Duration;
use time::macros::datetime;
use uuid::Uuid;

use super::support::{at, events_of, fail_event_inserts, meta, session_at, stored_session, user};

async fn active_sessions_exclude_expired_revoked_and_foreign_ones(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let stranger = user(&store).await;
    // A fractional `now`: on SQLite the stored texts around it have different lengths.
    let now = datetime!(2026-11-23 12:00:10.5 UTC);
    let idle = Duration::seconds(10);
    let micro = Duration::microseconds(1);

    let idle_barely_alive = session_at(&store, owner.id, now - idle + micro).await;
    let _idle_ends_now = session_at(&store, owner.id, now - idle).await;
    let _idle_ended = session_at(&store, owner.id, now - idle - micro).await;
    let absolute_ends_now = session_at(&store, owner.id, now - Duration::seconds(1)).await;
    let absolute_barely_alive = session_at(&store, owner.id, now - Duration::seconds(1)).await;
    let revoked = session_at(&store, owner.id, now - Duration::seconds(2)).await;
    let most_recent = session_at(&store, owner.id, now - Duration::milliseconds(500)).await;
    let _foreign = session_at(&store, stranger.id, now - Duration::seconds(1)).await;

    set_absolute_expiry(&store, absolute_ends_now, now).await;
    set_absolute_expiry(&store, absolute_barely_alive, now + micro).await;
    store
        .revoke_session(
            revoked,
            RevocationReason::Logout,
            now - Duration::seconds(1),
            &meta(),
            EventKind::Logout,
        )
        .await
        .expect("revoke")
        .expect("active");

    let active = store.list_active_sessions(owner.id, now, idle).await.expect("list");
    let ids: Vec<_> = active.iter().map(|session| session.id).collect();
    // Most recently used first.
    assert_eq!(ids, [most_recent, absolute_barely_alive, idle_barely_alive]);
    assert_eq!(active[0], stored_session(&store, most_recent).await, "complete records");

    // Later, everything has idled out.
    let later = store
        .list_active_sessions(owner.id, now + idle, idle)
        .await
        .expect("list");
    assert!(later.is_empty(), "{later:?}");
    assert!(
        store
            .list_active_sessions(Uuid::new_v4(), now, idle)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn set_absolute_expiry(store: &tessera_store::SeaStore, id: Uuid, expires_at: time::OffsetDateTime) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    use tessera_store::entity::sessions;

    sessions::ActiveModel {
        id: Set(id),
        absolute_expires_at: Set(expires_at),
        ..Default::default()
    }
    .update(store.connection())
    .await
    .expect("set the absolute expiry");
}

async fn revoking_all_sessions_revokes_only_the_unrevoked_ones_of_that_user(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let stranger = user(&store).await;
    let first = session_at(&store, owner.id, at(0)).await;
    let second = session_at(&store, owner.id, at(1)).await;
    let earlier = session_at(&store, owner.id, at(2)).await;
    let foreign = session_at(&store, stranger.id, at(3)).await;
    store
        .revoke_session(earlier, RevocationReason::Logout, at(5), &meta(), EventKind::Logout)
        .await
        .expect("revoke")
        .expect("active");

    let request = RequestMeta {
        ip: Some("192.0.2.1".to_owned()),
        user_agent: Some("Everywhere/1".to_owned()),
    };
    let revoked = store
        .revoke_user_sessions(
            owner.id,
            RevocationReason::LogoutAll,
            at(10),
            &request,
            EventKind::AllSessionsRevoked,
            Some(first),
        )
        .await
        .expect("revoke all")
        .expect("the user exists");
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(revoked, expected);

    for id in [first, second] {
        let session = stored_session(&store, id).await;
        assert_eq!(
            (session.revoked_at, session.revoked_reason),
            (Some(at(10)), Some(RevocationReason::LogoutAll))
        );
    }
    let kept = stored_session(&store, earlier).await;
    assert_eq!(
        (kept.revoked_at, kept.revoked_reason),
        (Some(at(5)), Some(RevocationReason::Logout)),
        "an earlier revocation stands"
    );
    assert_eq!(stored_session(&store, foreign).await.revoked_at, None);

    let event = events_of(&store, owner.id).await.pop().expect("an event");
    assert_eq!(event.kind, EventKind::AllSessionsRevoked);
    assert_eq!((event.at, event.session_id), (at(10), Some(first)));
    assert_eq!(
        (event.ip, event.user_agent),
        (request.ip.clone(), request.user_agent.clone())
    );
    assert!(
        events_of(&store, stranger.id)
            .await
            .iter()
            .all(|event| event.kind == EventKind::LoginSucceeded)
    );

    // Nothing left to revoke: the event is still recorded (the user asked), nothing else changes.
    let again = store
        .revoke_user_sessions(
            owner.id,
            RevocationReason::AdminRevoked,
            at(20),
            &request,
            EventKind::SessionRevoked,
            None,
        )
        .await
        .expect("revoke all again")
        .expect("the user exists");
    assert!(again.is_empty());
    assert_eq!(stored_session(&store, first).await.revoked_at, Some(at(10)));
    let kinds: Vec<_> = events_of(&store, owner.id).await.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.last(), Some(&EventKind::SessionRevoked));
}

async fn revoking_all_sessions_of_an_unknown_user_writes_nothing(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let nobody = Uuid::new_v4();
    let result = store
        .revoke_user_sessions(
            nobody,
            RevocationReason::AdminRevoked,
            at(0),
            &meta(),
            EventKind::AllSessionsRevoked,
            None,
        )
        .await
        .expect("not an error");
    assert_eq!(result, None);
    assert!(events_of(&store, nobody).await.is_empty());
}

async fn revoking_all_sessions_and_its_event_are_one_transaction(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let session = session_at(&store, owner.id, at(0)).await;
    fail_event_inserts(&store, EventKind::AllSessionsRevoked).await;

    let result = store
        .revoke_user_sessions(
            owner.id,
            RevocationReason::LogoutAll,
            at(10),
            &meta(),
            EventKind::AllSessionsRevoked,
            Some(session),
        )
        .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(stored_session(&store, session).await.revoked_at, None, "rolled back");
}

tessera_store::backend_tests!(
    active_sessions_exclude_expired_revoked_and_foreign_ones,
    revoking_all_sessions_revokes_only_the_unrevoked_ones_of_that_user,
    revoking_all_sessions_of_an_unknown_user_writes_nothing,
    revoking_all_sessions_and_its_event_are_one_transaction,
);
