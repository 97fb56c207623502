//! Passkeys and ceremonies: a credential id registered once, rename and delete scoped to the
//! owner, the counter written conditionally (racing assertions cannot move it back), the event
//! and notice in the transaction of the change; ceremonies taken once (their sweep: `ceremonies.rs`).

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tessera_auth_core::events::{EventKind, SecurityEvent};
use tessera_auth_core::mfa::ceremony::{Ceremony, CeremonyKind};
use tessera_auth_core::mfa::passkey::StoredPasskey;
use tessera_auth_core::ports::{
    CeremonyRepository, FactorSummaryRepository, NewPasskey, PasskeyRepository, PasskeyUse, StoreError,
};
use tessera_store::SeaStore;
use tessera_store::entity::{mail_queue, passkeys};
use tessera_store::testing::{TestDatabase, migrated_store};
use uuid::Uuid;

use super::support::{at, events_of, meta, password_notice, t0, user};

fn new_passkey(user_id: Uuid, credential_id: &[u8]) -> NewPasskey {
    NewPasskey {
        passkey: StoredPasskey {
            id: Uuid::now_v7(),
            user_id,
            credential_id: credential_id.to_vec(),
            credential: b"{\"cred\":1}".to_vec(),
            name: "Laptop".to_owned(),
            sign_count: 3,
            backup_eligible: false,
            backup_state: false,
            created_at: t0(),
            last_used_at: None,
        },
        user_verified: true,
        transports: vec!["internal".to_owned(), "hybrid".to_owned()],
    }
}

fn event(user_id: Uuid, kind: EventKind) -> SecurityEvent {
    SecurityEvent::new(user_id, kind, at(1), &meta(), None)
}

async fn add(store: &SeaStore, new: NewPasskey) -> Result<(), StoreError> {
    let user_id = new.passkey.user_id;
    store
        .add_passkey(new, event(user_id, EventKind::PasskeyAdded), password_notice(user_id))
        .await
}

async fn queued_for(store: &SeaStore, user_id: Uuid) -> u64 {
    mail_queue::Entity::find()
        .filter(mail_queue::Column::UserId.eq(user_id))
        .count(store.connection())
        .await
        .expect("count mail")
}

async fn a_passkey_is_stored_with_its_event_and_notice(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let ada = user(&store).await;
    let new = new_passkey(ada.id, b"cred-1");
    add(&store, new.clone()).await.expect("add passkey");
    assert_eq!(
        store.list_passkeys(ada.id).await.expect("list"),
        vec![new.passkey.clone()]
    );
    assert_eq!(
        store.find_passkey_by_credential_id(b"cred-1").await.expect("find"),
        Some(new.passkey.clone())
    );
    assert_eq!(
        store.find_passkey_by_credential_id(b"cred-2").await.expect("find"),
        None
    );
    let row = passkeys::Entity::find_by_id(new.passkey.id)
        .one(store.connection())
        .await
        .expect("load")
        .expect("row");
    assert_eq!((row.user_verified, row.transports.as_str()), (true, "internal hybrid"));
    let kinds: Vec<EventKind> = events_of(&store, ada.id).await.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::PasskeyAdded]);
    assert_eq!(queued_for(&store, ada.id).await, 1);
    // The export and GET /api/me/mfa read it.
    let summaries = store.list_passkey_summaries(ada.id).await.expect("summaries");
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].id, new.passkey.id);
    assert_eq!(store.mfa_status(ada.id).await.expect("status").passkeys, 1);
}

async fn a_credential_id_is_registered_once(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let ada = user(&store).await;
    let bob = user(&store).await;
    add(&store, new_passkey(ada.id, b"cred-1")).await.expect("add");
    for owner in [ada.id, bob.id] {
        let again = add(&store, new_passkey(owner, b"cred-1")).await;
        assert!(matches!(again, Err(StoreError::CredentialTaken)), "{again:?}");
    }
    // Nothing of the refused ones stayed: no passkey, no event, no mail.
    assert!(store.list_passkeys(bob.id).await.expect("list").is_empty());
    assert!(events_of(&store, bob.id).await.is_empty());
    assert_eq!(queued_for(&store, bob.id).await, 0);
    assert_eq!(store.list_passkeys(ada.id).await.expect("list").len(), 1);
}

async fn rename_and_delete_touch_only_the_owners_passkey(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let ada = user(&store).await;
    let bob = user(&store).await;
    let new = new_passkey(ada.id, b"cred-1");
    let id = new.passkey.id;
    add(&store, new).await.expect("add");

    assert_eq!(store.rename_passkey(bob.id, id, "Mine").await.expect("rename"), None);
    let renamed = store
        .rename_passkey(ada.id, id, "Phone")
        .await
        .expect("rename")
        .expect("ada's");
    assert_eq!(renamed.name, "Phone");
    assert_eq!(store.list_passkeys(ada.id).await.expect("list")[0].name, "Phone");

    let foreign = store
        .delete_passkey(
            bob.id,
            id,
            event(bob.id, EventKind::PasskeyRemoved),
            password_notice(bob.id),
        )
        .await
        .expect("delete");
    assert!(!foreign);
    assert!(events_of(&store, bob.id).await.is_empty());
    assert_eq!(queued_for(&store, bob.id).await, 0);
    assert_eq!(store.list_passkeys(ada.id).await.expect("list").len(), 1);

    let deleted = store
        .delete_passkey(
            ada.id,
            id,
            event(ada.id, EventKind::PasskeyRemoved),
            password_notice(ada.id),
        )
        .await
        .expect("delete");
    assert!(deleted);
    assert!(store.list_passkeys(ada.id).await.expect("list").is_empty());
    let kinds: Vec<EventKind> = events_of(&store, ada.id).await.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::PasskeyAdded, EventKind::PasskeyRemoved]);
    assert_eq!(queued_for(&store, ada.id).await, 2);
}

async fn a_use_cannot_move_the_counter_back(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let ada = user(&store).await;
    let new = new_passkey(ada.id, b"cred-1");
    let passkey = new.passkey.clone();
    add(&store, new).await.expect("add");
    let used = |sign_count: u32, require_increase: bool| PasskeyUse {
        passkey_id: passkey.id,
        user_id: ada.id,
        sign_count,
        require_increase,
        backup_eligible: false,
        backup_state: false,
        credential: Some(format!("{{\"counter\":{sign_count}}}").into_bytes()),
        at: at(30),
    };
    // Two assertions verified against counter 3: the one that counted further lands first.
    assert!(store.record_passkey_use(&used(9, true)).await.expect("use"));
    assert!(!store.record_passkey_use(&used(5, true)).await.expect("use"));
    // The same count again is refused where the key must count up, allowed where it need not.
    assert!(!store.record_passkey_use(&used(9, true)).await.expect("use"));
    assert!(store.record_passkey_use(&used(9, false)).await.expect("use"));
    let stored = store.list_passkeys(ada.id).await.expect("list").remove(0);
    assert_eq!(stored.sign_count, 9);
    assert_eq!(stored.credential, b"{\"counter\":9}");
    assert_eq!(stored.last_used_at, Some(at(30)));

    // Another user's id, or a passkey gone: nothing written.
    let bob = user(&store).await;
    let foreign = PasskeyUse {
        user_id: bob.id,
        ..used(20, true)
    };
    assert!(!store.record_passkey_use(&foreign).await.expect("use"));
    let gone = PasskeyUse {
        passkey_id: Uuid::now_v7(),
        ..used(20, true)
    };
    assert!(!store.record_passkey_use(&gone).await.expect("use"));
    assert_eq!(store.list_passkeys(ada.id).await.expect("list")[0].sign_count, 9);

    // Flags change with a use; no new credential keeps the stored one.
    let synced = PasskeyUse {
        backup_eligible: true,
        backup_state: true,
        credential: None,
        ..used(9, false)
    };
    assert!(store.record_passkey_use(&synced).await.expect("use"));
    let stored = store.list_passkeys(ada.id).await.expect("list").remove(0);
    assert!(stored.backup_eligible && stored.backup_state);
    assert_eq!(stored.credential, b"{\"counter\":9}");
}

async fn a_ceremony_is_taken_once(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let ada = user(&store).await;
    let ceremony = Ceremony::new(
        CeremonyKind::PasskeyRegistration,
        Some(ada.id),
        b"challenge-1",
        b"state".to_vec(),
        t0(),
    );
    let login = Ceremony::new(
        CeremonyKind::PasskeyLogin,
        None,
        b"challenge-1",
        b"login".to_vec(),
        t0(),
    );
    store.put_ceremony(ceremony.clone()).await.expect("put");
    store.put_ceremony(login.clone()).await.expect("put");
    let (a, b) = tokio::join!(store.take_ceremony(&ceremony.key), store.take_ceremony(&ceremony.key));
    let taken: Vec<Ceremony> = [a.expect("take"), b.expect("take")].into_iter().flatten().collect();
    assert_eq!(taken, vec![ceremony.clone()], "exactly one of two racing takes gets it");
    assert_eq!(store.take_ceremony(&login.key).await.expect("take"), Some(login));

    // A TOTP enrolment started again replaces the pending one.
    let first = Ceremony::new(
        CeremonyKind::TotpEnrolment,
        Some(ada.id),
        ada.id.as_bytes(),
        vec![1],
        t0(),
    );
    let second = Ceremony::new(
        CeremonyKind::TotpEnrolment,
        Some(ada.id),
        ada.id.as_bytes(),
        vec![2],
        at(60),
    );
    store.put_ceremony(first).await.expect("put");
    store.put_ceremony(second.clone()).await.expect("put");
    assert_eq!(store.take_ceremony(&second.key).await.expect("take"), Some(second));
}

tessera_store::backend_tests!(
    a_passkey_is_stored_with_its_event_and_notice,
    a_credential_id_is_registered_once,
    rename_and_delete_touch_only_the_owners_passkey,
    a_use_cannot_move_the_counter_back,
    a_ceremony_is_taken_once,
);
