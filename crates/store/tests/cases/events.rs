use tessera_auth_core::events::{EventKind, RequestMeta, SecurityEvent};
use tessera_auth_core::ports::EventRepository;
use tessera_store::testing::{TestDatabase, migrated_store};
use uuid::Uuid;

use super::support::{at, events_of, meta, user};

async fn events_are_listed_newest_first_one_page_at_a_time(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let stranger = user(&store).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        // Interleaved with another user's events, which must never show.
        let theirs = SecurityEvent::new(stranger.id, EventKind::LoginFailed, at(i), &meta(), None);
        store.record_event(theirs).await.expect("record");
        // Event times running backwards: the order is the id's (v7, time-ordered), not `at`'s.
        let mine = SecurityEvent::new(owner.id, EventKind::ALL[i as usize], at(-i), &meta(), None);
        ids.push(mine.id);
        store.record_event(mine).await.expect("record");
    }
    ids.sort();
    ids.reverse();
    let page = |before: Option<Uuid>, limit: u64| {
        let store = store.clone();
        async move {
            store
                .list_events(owner.id, before, limit)
                .await
                .expect("list")
                .into_iter()
                .map(|event| event.id)
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(page(None, 100).await, ids);
    assert_eq!(page(None, 2).await, ids[..2]);
    assert_eq!(page(Some(ids[1]), 2).await, ids[2..4]);
    assert_eq!(page(Some(ids[3]), 2).await, ids[4..]);
    assert_eq!(page(Some(ids[4]), 2).await, Vec::<Uuid>::new());
    assert_eq!(page(None, 0).await, Vec::<Uuid>::new());
    assert_eq!(page(Some(Uuid::max()), 5).await, ids);
    assert_eq!(page(Some(Uuid::nil()), 5).await, Vec::<Uuid>::new());

    // Complete events, as recorded.
    let mut all = events_of(&store, owner.id).await;
    all.sort_by_key(|event| std::cmp::Reverse(event.id));
    assert_eq!(store.list_events(owner.id, None, 100).await.expect("list"), all);
    assert!(
        store
            .list_events(Uuid::new_v4(), None, 10)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn every_event_kind_is_recorded_and_read_back(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let mut recorded = Vec::new();
    for (i, kind) in EventKind::ALL.into_iter().enumerate() {
        let session = (i % 2 == 0).then(Uuid::now_v7);
        let request = if i % 3 == 0 { RequestMeta::default() } else { meta() };
        let event = SecurityEvent::new(owner.id, kind, at(i as i64), &request, session);
        store.record_event(event.clone()).await.expect("record");
        recorded.push(event);
    }
    assert_eq!(events_of(&store, owner.id).await, recorded);
}

async fn an_event_needs_an_existing_user(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let event = SecurityEvent::new(Uuid::new_v4(), EventKind::LoginFailed, at(0), &meta(), None);
    assert!(store.record_event(event).await.is_err());
}

tessera_store::backend_tests!(
    every_event_kind_is_recorded_and_read_back,
    an_event_needs_an_existing_user,
    events_are_listed_newest_first_one_page_at_a_time,
);
