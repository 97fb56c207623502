use tessera_auth_core::events::{EventKind, SecurityEvent};
use tessera_auth_core::ports::{SessionRepository, StoreError, UserRepository};
use tessera_store::testing::{TestDatabase, migrated_store};

use super::support::{at, meta, new_session, user};

async fn no_session_is_created_for_a_disabled_account(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    store
        .set_user_disabled(owner.id, true, at(1), &meta())
        .await
        .expect("disable")
        .expect("exists");
    let session = new_session(owner.id);
    let event = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, at(2), &meta(), Some(session.id));
    let result = store.create_session(session.clone(), event).await;
    assert!(matches!(result, Err(StoreError::AccountDisabled)), "{result:?}");
    assert!(
        store.find_session(session.id).await.expect("find").is_none(),
        "nothing written"
    );
}

tessera_store::backend_tests!(no_session_is_created_for_a_disabled_account);
