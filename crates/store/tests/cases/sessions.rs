use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use tessera_auth_core::events::{EventKind, RequestMeta, SecurityEvent};
use tessera_auth_core::ports::{SessionRepository, StoreError};
use tessera_auth_core::refresh::RotationState;
use tessera_auth_core::session::{RevocationReason, SessionRecord, TokenDelivery};
use tessera_store::entity::{sessions, users};
use tessera_store::testing::{TestDatabase, migrated_store};
use time::macros::datetime;
use time::{Duration, UtcOffset};
use uuid::Uuid;

use super::support::{at, events_of, meta, new_session, t0, user};

async fn create_and_find_round_trip_every_field(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let mut input = new_session(owner.id);
    input.delivery = TokenDelivery::Body;
    input.rotation = RotationState {
        generation: 41,
        current_hash: [0x11; 32],
        previous_hash: Some([0x22; 32]),
        rotated_at: Some(at(-5)),
    };
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(input.id));
    store
        .create_session(input.clone(), login.clone())
        .await
        .expect("create");

    let found = store.find_session(input.id).await.expect("find").expect("exists");
    let expected = SessionRecord {
        id: input.id,
        user_id: owner.id,
        rotation: input.rotation.clone(),
        delivery: TokenDelivery::Body,
        created_at: t0(),
        last_used_at: t0(),
        absolute_expires_at: t0() + Duration::days(30),
        revoked_at: None,
        revoked_reason: None,
        user_agent: input.user_agent.clone(),
        ip: input.ip.clone(),
        auth_time: t0(),
        amr: input.amr,
    };
    assert_eq!(found, expected);
    assert_eq!(events_of(&store, owner.id).await, vec![login]);

    assert!(store.find_session(Uuid::new_v4()).await.expect("find").is_none());
}

async fn times_are_stored_as_utc_microseconds(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let mut input = new_session(owner.id);
    input.created_at = datetime!(2026-11-23 14:00:00.123456789 +02:00);
    input.absolute_expires_at = datetime!(2026-12-23 12:00:00.000000999 UTC);
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &RequestMeta::default(), None);
    store.create_session(input.clone(), login).await.expect("create");

    let found = store.find_session(input.id).await.expect("find").expect("exists");
    assert_eq!(found.created_at, datetime!(2026-11-23 12:00:00.123456 UTC));
    assert_eq!(found.created_at.offset(), UtcOffset::UTC);
    assert_eq!(found.last_used_at, found.created_at);
    assert_eq!(found.absolute_expires_at, datetime!(2026-12-23 12:00:00 UTC));
    assert_eq!(found.user_agent, input.user_agent);
}

async fn a_session_needs_an_existing_user(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let orphan = new_session(Uuid::new_v4());
    let login = SecurityEvent::new(
        orphan.user_id,
        EventKind::LoginSucceeded,
        t0(),
        &meta(),
        Some(orphan.id),
    );
    let result = store.create_session(orphan.clone(), login).await;
    // Refused before the insert: the owner must exist and be enabled.
    assert!(matches!(result, Err(StoreError::AccountDisabled)), "{result:?}");
    // Nothing half-written.
    assert!(store.find_session(orphan.id).await.expect("find").is_none());
}

async fn deleting_a_user_cascades_to_sessions_and_events(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let input = new_session(owner.id);
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(input.id));
    store.create_session(input.clone(), login).await.expect("create");
    users::Entity::delete_by_id(owner.id)
        .exec(store.connection())
        .await
        .expect("delete user");
    assert!(store.find_session(input.id).await.expect("find").is_none());
    assert!(events_of(&store, owner.id).await.is_empty());
}

async fn revoking_happens_once_and_records_the_event(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let input = new_session(owner.id);
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(input.id));
    store.create_session(input.clone(), login).await.expect("create");

    let logout_meta = RequestMeta {
        ip: Some("192.0.2.9".to_owned()),
        user_agent: None,
    };
    let revoked = store
        .revoke_session(
            input.id,
            RevocationReason::Logout,
            at(30),
            &logout_meta,
            EventKind::Logout,
        )
        .await
        .expect("revoke")
        .expect("was active");
    assert_eq!(revoked.id, input.id);
    assert_eq!(revoked.revoked_at, Some(at(30)));
    assert_eq!(revoked.revoked_reason, Some(RevocationReason::Logout));
    assert_eq!(store.find_session(input.id).await.expect("find"), Some(revoked));

    let again = store
        .revoke_session(
            input.id,
            RevocationReason::AdminRevoked,
            at(40),
            &meta(),
            EventKind::SessionRevoked,
        )
        .await
        .expect("revoke");
    assert!(again.is_none(), "already revoked");
    let unknown = store
        .revoke_session(
            Uuid::new_v4(),
            RevocationReason::Logout,
            at(40),
            &meta(),
            EventKind::Logout,
        )
        .await
        .expect("revoke");
    assert!(unknown.is_none());

    let events = events_of(&store, owner.id).await;
    let kinds: Vec<_> = events.iter().map(|event| event.kind).collect();
    assert_eq!(kinds, [EventKind::LoginSucceeded, EventKind::Logout]);
    let logout = &events[1];
    assert_eq!((logout.at, logout.session_id), (at(30), Some(input.id)));
    assert_eq!(
        (logout.ip.as_deref(), logout.user_agent.as_deref()),
        (Some("192.0.2.9"), None)
    );
}

async fn concurrent_revocations_revoke_once(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let input = new_session(owner.id);
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(input.id));
    store.create_session(input.clone(), login).await.expect("create");

    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .revoke_session(
                        input.id,
                        RevocationReason::RevokedByUser,
                        at(i),
                        &meta(),
                        EventKind::SessionRevoked,
                    )
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if task.await.expect("task").expect("revoke").is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    let revocations = events_of(&store, owner.id)
        .await
        .into_iter()
        .filter(|e| e.kind == EventKind::SessionRevoked);
    assert_eq!(revocations.count(), 1);
}

async fn sessions_revoked_since_is_exact_to_the_microsecond(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let base = datetime!(2026-11-23 12:00:10 UTC);
    // Revocation instants around a second boundary, with and without fractions (on SQLite these
    // are texts of different lengths).
    let instants = [
        base - Duration::seconds(2),
        base - Duration::microseconds(1),
        base,
        base + Duration::microseconds(1),
        base + Duration::milliseconds(500),
        base + Duration::seconds(1),
    ];
    let mut ids = Vec::new();
    for revoked_at in instants {
        let input = new_session(owner.id);
        let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(input.id));
        store.create_session(input.clone(), login).await.expect("create");
        store
            .revoke_session(
                input.id,
                RevocationReason::Logout,
                revoked_at,
                &meta(),
                EventKind::Logout,
            )
            .await
            .expect("revoke")
            .expect("active");
        ids.push(input.id);
    }
    // One active session that must never be listed.
    let active = new_session(owner.id);
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(active.id));
    store.create_session(active, login).await.expect("create");

    let check = |since, expected: &[usize]| {
        let store = store.clone();
        let ids = ids.clone();
        let expected: Vec<_> = expected.iter().map(|&i| (ids[i], instants[i])).collect();
        async move {
            let mut listed = store.sessions_revoked_since(since).await.expect("list");
            listed.sort_by_key(|(_, at)| *at);
            assert_eq!(listed, expected, "since {since}");
        }
    };
    check(base - Duration::seconds(10), &[0, 1, 2, 3, 4, 5]).await;
    check(base, &[2, 3, 4, 5]).await;
    check(base + Duration::nanoseconds(1), &[3, 4, 5]).await;
    check(base + Duration::microseconds(1), &[3, 4, 5]).await;
    check(base + Duration::milliseconds(499), &[4, 5]).await;
    check(base + Duration::milliseconds(501), &[5]).await;
    check(base + Duration::seconds(2), &[]).await;
}

async fn corrupt_rows_are_reported_not_guessed(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let input = new_session(owner.id);
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(input.id));
    store.create_session(input.clone(), login).await.expect("create");

    let short_hash = sessions::ActiveModel {
        id: Set(input.id),
        current_hash: Set(vec![1; 31]),
        ..Default::default()
    };
    short_hash.update(store.connection()).await.expect("corrupt the hash");
    let found = store.find_session(input.id).await;
    assert!(matches!(found, Err(StoreError::Corrupt(_))), "{found:?}");

    let negative = sessions::ActiveModel {
        id: Set(input.id),
        current_hash: Set(vec![1; 32]),
        generation: Set(-1),
        ..Default::default()
    };
    negative
        .update(store.connection())
        .await
        .expect("corrupt the generation");
    let found = store.find_session(input.id).await;
    assert!(matches!(found, Err(StoreError::Corrupt(_))), "{found:?}");

    let unknown_reason = sessions::ActiveModel {
        id: Set(input.id),
        generation: Set(1),
        revoked_reason: Set(Some("nope".to_owned())),
        ..Default::default()
    };
    unknown_reason
        .update(store.connection())
        .await
        .expect("corrupt the reason");
    let found = store.find_session(input.id).await;
    assert!(matches!(found, Err(StoreError::Corrupt(_))), "{found:?}");
}

tessera_store::backend_tests!(
    create_and_find_round_trip_every_field,
    times_are_stored_as_utc_microseconds,
    a_session_needs_an_existing_user,
    deleting_a_user_cascades_to_sessions_and_events,
    revoking_happens_once_and_records_the_event,
    concurrent_revocations_revoke_once,
    sessions_revoked_since_is_exact_to_the_microsecond,
    corrupt_rows_are_reported_not_guessed,
);
