//! `refresh_session`: the decision is made under the row lock and persisted as decided.
//! Decisions are built here (not by auth-core's `decide`): the store's job is to lock, load,
//! ask and persist.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tessera_auth_core::events::{EventKind, RequestMeta, SecurityEvent};
use tessera_auth_core::ports::{LockedSession, RefreshOutcome, SessionRepository};
use tessera_auth_core::refresh::{RefreshDecision, RefreshRejection, RefreshToken, RotationState};
use tessera_auth_core::session::{NewSession, RevocationReason, SessionRecord};
use tessera_store::SeaStore;
use tessera_store::testing::{TestDatabase, migrated_store};
use time::Duration;
use uuid::Uuid;

use super::support::{at, events_of, meta, new_session, t0, user};

async fn session_at_generation(store: &SeaStore, generation: u64) -> NewSession {
    let owner = user(store).await;
    let mut input = new_session(owner.id);
    input.rotation = RotationState {
        generation,
        current_hash: [generation as u8; 32],
        previous_hash: Some([generation as u8 - 1; 32]),
        rotated_at: Some(t0()),
    };
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(input.id));
    store
        .create_session(input.clone(), login)
        .await
        .expect("create session");
    input
}

fn rotated(generation: u64, now: time::OffsetDateTime) -> RotationState {
    RotationState {
        generation: generation + 1,
        current_hash: [generation as u8 + 1; 32],
        previous_hash: Some([generation as u8; 32]),
        rotated_at: Some(now),
    }
}

fn decided(outcome: RefreshOutcome) -> (RefreshDecision, LockedSession) {
    match outcome {
        RefreshOutcome::Decided { decision, locked } => (decision, locked),
        RefreshOutcome::NoSession => panic!("expected a decision, got NoSession"),
    }
}

async fn rotate_persists_the_new_state(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let input = session_at_generation(&store, 7).await;
    let before = store.find_session(input.id).await.expect("find").expect("exists");
    let now = at(90);
    let child = RefreshToken::new_family(input.id);
    let seen = Mutex::new(None);
    let decide = |locked: &LockedSession| {
        *seen.lock().expect("lock") = Some(locked.clone());
        RefreshDecision::Rotate {
            child: child.clone(),
            state: rotated(7, now),
        }
    };
    let request = RequestMeta {
        ip: Some("192.0.2.44".to_owned()),
        user_agent: Some("Refresher/2".to_owned()),
    };
    let (decision, locked) = decided(
        store
            .refresh_session(input.id, now, &request, &decide)
            .await
            .expect("refresh"),
    );

    // `decide` saw the row and its owner as stored.
    let seen = seen.into_inner().expect("lock").expect("decide was called");
    assert_eq!(seen.session, before);
    assert_eq!(seen.user.id, input.user_id);
    assert!(matches!(decision, RefreshDecision::Rotate { .. }));

    let after = store.find_session(input.id).await.expect("find").expect("exists");
    let expected = SessionRecord {
        rotation: rotated(7, now),
        last_used_at: now,
        ip: Some("192.0.2.44".to_owned()),
        user_agent: Some("Refresher/2".to_owned()),
        ..before.clone()
    };
    assert_eq!(after, expected);
    // The outcome carries the session as committed.
    assert_eq!(locked.session, after);

    // Without request metadata, the recorded ip/user agent stay.
    let later = at(120);
    let decide = |_: &LockedSession| RefreshDecision::Rotate {
        child: child.clone(),
        state: rotated(8, later),
    };
    store
        .refresh_session(input.id, later, &RequestMeta::default(), &decide)
        .await
        .expect("refresh");
    let after = store.find_session(input.id).await.expect("find").expect("exists");
    assert_eq!(after.rotation, rotated(8, later));
    assert_eq!(after.last_used_at, later);
    assert_eq!(after.ip.as_deref(), Some("192.0.2.44"));
    assert_eq!(after.user_agent.as_deref(), Some("Refresher/2"));
    // Only the login event: a rotation is not a security event.
    assert_eq!(events_of(&store, input.user_id).await.len(), 1);
}

async fn replay_revokes_and_records_the_event(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let input = session_at_generation(&store, 3).await;
    let now = at(600);
    let (decision, locked) = decided(
        store
            .refresh_session(input.id, now, &meta(), &|_: &LockedSession| RefreshDecision::Replay)
            .await
            .expect("refresh"),
    );
    assert_eq!(decision, RefreshDecision::Replay);

    let after = store.find_session(input.id).await.expect("find").expect("exists");
    assert_eq!(after.revoked_at, Some(now));
    assert_eq!(after.revoked_reason, Some(RevocationReason::RefreshReused));
    assert_eq!(after.rotation.generation, 3, "a replay rotates nothing");
    assert_eq!(locked.session, after);

    let events = events_of(&store, input.user_id).await;
    let reuse = events.last().expect("an event");
    assert_eq!(reuse.kind, EventKind::RefreshReuseDetected);
    assert_eq!(reuse.at, now);
    assert_eq!(reuse.session_id, Some(input.id));
    assert_eq!(
        (reuse.ip.clone(), reuse.user_agent.clone()),
        (meta().ip, meta().user_agent)
    );
    assert_eq!(
        store.sessions_revoked_since(now).await.expect("list"),
        vec![(input.id, now)]
    );
}

async fn reject_and_reissue_write_nothing(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let input = session_at_generation(&store, 2).await;
    let before = store.find_session(input.id).await.expect("find").expect("exists");
    let child = RefreshToken::new_family(input.id);
    let decisions = [
        RefreshDecision::Reject(RefreshRejection::Unrecognised),
        RefreshDecision::Reject(RefreshRejection::Expired),
        RefreshDecision::Reissue { child },
    ];
    for decision in decisions {
        let returned = decision.clone();
        let outcome = store
            .refresh_session(input.id, at(5), &meta(), &move |_: &LockedSession| returned.clone())
            .await
            .expect("refresh");
        let (got, locked) = decided(outcome);
        assert_eq!(got, decision);
        assert_eq!(locked.session, before);
        assert_eq!(store.find_session(input.id).await.expect("find"), Some(before.clone()));
    }
    assert_eq!(events_of(&store, input.user_id).await.len(), 1, "only the login event");
}

async fn an_unknown_session_is_no_session(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let called = AtomicUsize::new(0);
    let decide = |_: &LockedSession| {
        called.fetch_add(1, Ordering::SeqCst);
        RefreshDecision::Replay
    };
    let outcome = store
        .refresh_session(Uuid::new_v4(), at(1), &meta(), &decide)
        .await
        .expect("refresh");
    assert!(matches!(outcome, RefreshOutcome::NoSession));
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

/// 16 refreshes of one session at once, each rotating only if it sees the generation it
/// expects: with the row locked before the read, exactly one sees it.
async fn concurrent_refreshes_rotate_exactly_once(db: &TestDatabase) {
    const CALLERS: usize = 16;
    let store = migrated_store(db).await;
    let input = session_at_generation(&store, 5).await;
    let child = RefreshToken::new_family(input.id);
    let now = at(30);

    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let store = store.clone();
            let child = child.clone();
            tokio::spawn(async move {
                let decide = move |locked: &LockedSession| {
                    // Widen the window between read and write: without the lock, others would
                    // read generation 5 meanwhile.
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    if locked.session.rotation.generation == 5 {
                        RefreshDecision::Rotate {
                            child: child.clone(),
                            state: rotated(5, now),
                        }
                    } else {
                        RefreshDecision::Reissue { child: child.clone() }
                    }
                };
                store.refresh_session(input.id, now, &meta(), &decide).await
            })
        })
        .collect();

    let (mut rotations, mut reissues) = (0, 0);
    for task in tasks {
        match decided(task.await.expect("task").expect("refresh")).0 {
            RefreshDecision::Rotate { .. } => rotations += 1,
            RefreshDecision::Reissue { .. } => reissues += 1,
            other => panic!("unexpected decision {other:?}"),
        }
    }
    assert_eq!((rotations, reissues), (1, CALLERS - 1));
    let after = store.find_session(input.id).await.expect("find").expect("exists");
    assert_eq!(after.rotation, rotated(5, now));
    assert_eq!(after.last_used_at, now);
}

/// Refreshes of different sessions do not wait on each other's row (PostgreSQL), and all
/// persist (both).
async fn concurrent_refreshes_of_different_sessions_all_rotate(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let mut sessions = Vec::new();
    for _ in 0..6 {
        sessions.push(session_at_generation(&store, 1).await);
    }
    let now = at(10) + Duration::milliseconds(1);
    let tasks: Vec<_> = sessions
        .iter()
        .map(|input| {
            let store = store.clone();
            let id = input.id;
            tokio::spawn(async move {
                let child = RefreshToken::new_family(id);
                let decide = move |_: &LockedSession| RefreshDecision::Rotate {
                    child: child.clone(),
                    state: rotated(1, now),
                };
                store.refresh_session(id, now, &meta(), &decide).await
            })
        })
        .collect();
    for task in tasks {
        decided(task.await.expect("task").expect("refresh"));
    }
    for input in sessions {
        let after = store.find_session(input.id).await.expect("find").expect("exists");
        assert_eq!(after.rotation.generation, 2);
    }
}

tessera_store::backend_tests!(
    rotate_persists_the_new_state,
    replay_revokes_and_records_the_event,
    reject_and_reissue_write_nothing,
    an_unknown_session_is_no_session,
    concurrent_refreshes_rotate_exactly_once,
    concurrent_refreshes_of_different_sessions_all_rotate,
);
