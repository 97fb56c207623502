//! Account-wide changes: disabling and enabling a user, changing a password. Each is one
//! transaction with the sessions it revokes and the event it records.

use std::collections::HashSet;

use tessera_auth_core::events::{EventKind, RequestMeta};
use tessera_auth_core::ports::{LockedSession, RefreshOutcome, SessionRepository, UserRepository};
use tessera_auth_core::refresh::{RefreshDecision, RefreshRejection};
use tessera_auth_core::session::RevocationReason;
use tessera_store::testing::{TestDatabase, migrated_store};
use uuid::Uuid;

use super::support::{at, events_of, fail_event_inserts, meta, session_at, stored_session, user};

fn admin_meta() -> RequestMeta {
    RequestMeta {
        ip: Some("192.0.2.200".to_owned()),
        user_agent: Some("AdminConsole/1".to_owned()),
    }
}

fn kinds(events: &[tessera_auth_core::events::SecurityEvent]) -> Vec<EventKind> {
    events.iter().map(|event| event.kind).collect()
}

async fn disabling_revokes_every_session_and_records_the_event_once(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let target = user(&store).await;
    let stranger = user(&store).await;
    let first = session_at(&store, target.id, at(0)).await;
    let second = session_at(&store, target.id, at(1)).await;
    let logged_out = session_at(&store, target.id, at(2)).await;
    let foreign = session_at(&store, stranger.id, at(3)).await;
    store
        .revoke_session(logged_out, RevocationReason::Logout, at(5), &meta(), EventKind::Logout)
        .await
        .expect("revoke")
        .expect("active");

    let change = store
        .set_user_disabled(target.id, true, at(10), &admin_meta())
        .await
        .expect("disable")
        .expect("user exists");
    assert!(change.user.disabled);
    assert_eq!((change.user.id, &change.user.email), (target.id, &target.email));
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(change.revoked_sessions, expected);
    assert_eq!(
        store.find_user(target.id).await.expect("find"),
        Some(change.user.clone())
    );
    for id in [first, second] {
        let session = stored_session(&store, id).await;
        assert_eq!(
            (session.revoked_at, session.revoked_reason),
            (Some(at(10)), Some(RevocationReason::UserDisabled))
        );
    }
    assert_eq!(
        stored_session(&store, logged_out).await.revoked_reason,
        Some(RevocationReason::Logout)
    );
    assert_eq!(stored_session(&store, foreign).await.revoked_at, None);
    let stranger_user = store.find_user(stranger.id).await.expect("find").expect("exists");
    assert!(!stranger_user.disabled);

    let events = events_of(&store, target.id).await;
    let disabled = events.last().expect("an event");
    assert_eq!(disabled.kind, EventKind::UserDisabled);
    assert_eq!((disabled.at, disabled.session_id), (at(10), None));
    assert_eq!(
        (disabled.ip.clone(), disabled.user_agent.clone()),
        (admin_meta().ip, admin_meta().user_agent)
    );

    // Disabling again: idempotent, nothing revoked, no second event.
    let again = store
        .set_user_disabled(target.id, true, at(20), &admin_meta())
        .await
        .expect("disable again")
        .expect("user exists");
    assert!(again.user.disabled);
    assert!(again.revoked_sessions.is_empty());
    assert_eq!(events_of(&store, target.id).await, events);
    assert_eq!(stored_session(&store, first).await.revoked_at, Some(at(10)));
}

async fn enabling_clears_the_flag_and_revokes_nothing(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let target = user(&store).await;
    let session = session_at(&store, target.id, at(5)).await;
    store
        .set_user_disabled(target.id, true, at(10), &admin_meta())
        .await
        .expect("disable")
        .expect("user exists");
    // No session can be created while disabled (create_session refuses), so the one from before
    // was revoked by the disable; enabling must neither revoke more nor bring it back.
    assert_eq!(stored_session(&store, session).await.revoked_at, Some(at(10)));
    let before = events_of(&store, target.id).await;

    let change = store
        .set_user_disabled(target.id, false, at(20), &admin_meta())
        .await
        .expect("enable")
        .expect("user exists");
    assert!(!change.user.disabled);
    assert!(change.revoked_sessions.is_empty());
    assert_eq!(store.find_user(target.id).await.expect("find"), Some(change.user));
    assert_eq!(
        stored_session(&store, session).await.revoked_at,
        Some(at(10)),
        "stays revoked"
    );
    assert_eq!(events_of(&store, target.id).await, before, "no event for enabling");

    // Enabling an enabled user changes nothing either.
    let again = store
        .set_user_disabled(target.id, false, at(30), &admin_meta())
        .await
        .expect("enable again")
        .expect("user exists");
    assert!(!again.user.disabled);
    assert!(again.revoked_sessions.is_empty());
}

async fn disabling_an_unknown_user_is_none(db: &TestDatabase) {
    let store = migrated_store(db).await;
    for disabled in [true, false] {
        let change = store
            .set_user_disabled(Uuid::new_v4(), disabled, at(0), &admin_meta())
            .await
            .expect("set disabled");
        assert!(change.is_none());
    }
}

async fn disabling_is_one_transaction(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let target = user(&store).await;
    let session = session_at(&store, target.id, at(0)).await;
    fail_event_inserts(&store, EventKind::UserDisabled).await;

    let result = store.set_user_disabled(target.id, true, at(10), &admin_meta()).await;
    assert!(result.is_err(), "{result:?}");
    let reloaded = store.find_user(target.id).await.expect("find").expect("exists");
    assert!(!reloaded.disabled, "the flag is rolled back");
    assert_eq!(
        stored_session(&store, session).await.revoked_at,
        None,
        "so are the revocations"
    );
}

async fn changing_the_password_revokes_every_other_session(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let stranger = user(&store).await;
    let current = session_at(&store, owner.id, at(0)).await;
    let laptop = session_at(&store, owner.id, at(1)).await;
    let phone = session_at(&store, owner.id, at(2)).await;
    let logged_out = session_at(&store, owner.id, at(3)).await;
    let foreign = session_at(&store, stranger.id, at(4)).await;
    store
        .revoke_session(logged_out, RevocationReason::Logout, at(5), &meta(), EventKind::Logout)
        .await
        .expect("revoke")
        .expect("active");

    let request = RequestMeta {
        ip: Some("198.51.100.77".to_owned()),
        user_agent: Some("Settings/3".to_owned()),
    };
    let revoked = store
        .change_password(
            owner.id,
            "$argon2id$changed",
            current,
            at(10),
            &request,
            super::support::password_notice(owner.id),
        )
        .await
        .expect("change password")
        .expect("the user exists");
    let mut expected = vec![laptop, phone];
    expected.sort();
    assert_eq!(revoked, expected);

    let reloaded = store.find_user(owner.id).await.expect("find").expect("exists");
    assert_eq!(reloaded.password_hash, "$argon2id$changed");
    assert_eq!(
        stored_session(&store, current).await.revoked_at,
        None,
        "the kept session"
    );
    for id in [laptop, phone] {
        let session = stored_session(&store, id).await;
        assert_eq!(
            (session.revoked_at, session.revoked_reason),
            (Some(at(10)), Some(RevocationReason::PasswordChanged))
        );
    }
    assert_eq!(
        stored_session(&store, logged_out).await.revoked_reason,
        Some(RevocationReason::Logout)
    );
    assert_eq!(stored_session(&store, foreign).await.revoked_at, None);
    let stranger_user = store.find_user(stranger.id).await.expect("find").expect("exists");
    assert_eq!(stranger_user.password_hash, stranger.password_hash);

    let event = events_of(&store, owner.id).await.pop().expect("an event");
    assert_eq!(event.kind, EventKind::PasswordChanged);
    assert_eq!((event.at, event.session_id), (at(10), Some(current)));
    assert_eq!((event.ip, event.user_agent), (request.ip, request.user_agent));

    // A `keep` that is not one of the user's sessions keeps nothing.
    let fresh = session_at(&store, owner.id, at(20)).await;
    let revoked = store
        .change_password(
            owner.id,
            "$argon2id$again",
            Uuid::new_v4(),
            at(30),
            &meta(),
            super::support::password_notice(owner.id),
        )
        .await
        .expect("change password")
        .expect("the user exists");
    let mut expected = vec![current, fresh];
    expected.sort();
    assert_eq!(revoked, expected);
}

async fn changing_the_password_of_an_unknown_user_writes_nothing(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let nobody = Uuid::new_v4();
    let result = store
        .change_password(
            nobody,
            "$argon2id$x",
            Uuid::new_v4(),
            at(0),
            &meta(),
            super::support::password_notice(nobody),
        )
        .await
        .expect("not an error");
    assert_eq!(result, None);
    assert!(events_of(&store, nobody).await.is_empty());
}

async fn changing_the_password_is_one_transaction(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let current = session_at(&store, owner.id, at(0)).await;
    let other = session_at(&store, owner.id, at(1)).await;
    fail_event_inserts(&store, EventKind::PasswordChanged).await;

    let result = store
        .change_password(
            owner.id,
            "$argon2id$changed",
            current,
            at(10),
            &meta(),
            super::support::password_notice(Uuid::nil()),
        )
        .await;
    assert!(result.is_err(), "{result:?}");
    let reloaded = store.find_user(owner.id).await.expect("find").expect("exists");
    assert_eq!(reloaded.password_hash, owner.password_hash, "the hash is rolled back");
    assert_eq!(
        stored_session(&store, other).await.revoked_at,
        None,
        "so are the revocations"
    );
}

/// Every way of revoking, at once, on one user's sessions: nothing deadlocks or fails, each
/// session is reported revoked by exactly one of them, and the user is disabled exactly once.
async fn concurrent_revocations_report_each_session_once(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let target = user(&store).await;
    let mut sessions = Vec::new();
    for i in 0..12 {
        sessions.push(session_at(&store, target.id, at(i)).await);
    }

    let mut tasks = Vec::new();
    for i in 0..3 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let change = store
                .set_user_disabled(target.id, true, at(100 + i), &admin_meta())
                .await
                .expect("disable")
                .expect("user exists");
            change.revoked_sessions
        }));
    }
    for i in 0..3 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .revoke_user_sessions(
                    target.id,
                    RevocationReason::AdminRevoked,
                    at(100 + i),
                    &admin_meta(),
                    EventKind::AllSessionsRevoked,
                    None,
                )
                .await
                .expect("revoke all")
                .expect("the user exists")
        }));
    }
    for &id in sessions.iter().take(4) {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let revoked = store
                .revoke_session(
                    id,
                    RevocationReason::RevokedByUser,
                    at(100),
                    &meta(),
                    EventKind::SessionRevoked,
                )
                .await
                .expect("revoke one");
            revoked.map(|session| session.id).into_iter().collect()
        }));
    }
    // Replays hold their session row while recording an event for the user.
    for &id in sessions.iter().skip(4).take(4) {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let decide = |locked: &LockedSession| {
                if locked.session.revoked_at.is_some() {
                    RefreshDecision::Reject(RefreshRejection::Revoked)
                } else {
                    RefreshDecision::Replay
                }
            };
            match store
                .refresh_session(id, at(100), &meta(), &decide)
                .await
                .expect("refresh")
            {
                RefreshOutcome::Decided {
                    decision: RefreshDecision::Replay,
                    ..
                } => vec![id],
                _ => Vec::new(),
            }
        }));
    }

    let mut reported = Vec::new();
    for task in tasks {
        reported.extend(task.await.expect("task"));
    }
    let unique: HashSet<_> = reported.iter().copied().collect();
    assert_eq!(unique.len(), reported.len(), "a session reported twice: {reported:?}");
    assert_eq!(unique, sessions.iter().copied().collect::<HashSet<_>>());
    for id in sessions {
        assert!(stored_session(&store, id).await.revoked_at.is_some());
    }
    let events = events_of(&store, target.id).await;
    let count = |kind| kinds(&events).into_iter().filter(|k| *k == kind).count();
    assert_eq!(count(EventKind::UserDisabled), 1);
    assert_eq!(count(EventKind::AllSessionsRevoked), 3);
}

tessera_store::backend_tests!(
    disabling_revokes_every_session_and_records_the_event_once,
    enabling_clears_the_flag_and_revokes_nothing,
    disabling_an_unknown_user_is_none,
    disabling_is_one_transaction,
    changing_the_password_revokes_every_other_session,
    changing_the_password_of_an_unknown_user_writes_nothing,
    changing_the_password_is_one_transaction,
    concurrent_revocations_report_each_session_once,
);
