use tessera_auth_core::ports::{StoreError, UserRepository};
use tessera_auth_core::user::Role;
use tessera_store::testing::{TestDatabase, migrated_store};
use uuid::Uuid;

use super::support::{at, new_user, t0};

async fn users_are_listed_in_id_order_one_page_at_a_time(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut input = new_user(&format!("page-{i}@example.com"));
        // Creation times running backwards: the order is the id's, not the timestamp's.
        input.created_at = at(-i);
        ids.push(store.create_user(input).await.expect("create").id);
    }
    ids.sort();
    let page = |after: Option<Uuid>, limit: u64| {
        let store = store.clone();
        async move {
            store
                .list_users(after, limit)
                .await
                .expect("list")
                .into_iter()
                .map(|user| user.id)
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(page(None, 100).await, ids);
    assert_eq!(page(None, 2).await, ids[..2]);
    assert_eq!(page(Some(ids[1]), 2).await, ids[2..4]);
    assert_eq!(page(Some(ids[3]), 2).await, ids[4..]);
    assert_eq!(page(Some(ids[4]), 2).await, Vec::<Uuid>::new());
    assert_eq!(page(None, 0).await, Vec::<Uuid>::new());
    assert_eq!(page(Some(Uuid::nil()), 5).await, ids);
    assert_eq!(page(Some(Uuid::max()), 5).await, Vec::<Uuid>::new());

    // Listed users are complete domain users.
    let first = store.list_users(None, 1).await.expect("list");
    assert_eq!(
        first,
        vec![store.find_user(ids[0]).await.expect("find").expect("exists")]
    );
}

async fn roles_are_updated(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let user = store.create_user(new_user("role@example.com")).await.expect("create");
    let other = store.create_user(new_user("other@example.com")).await.expect("create");

    let promoted = store
        .update_user_role(user.id, Role::Admin, at(10))
        .await
        .expect("update")
        .expect("user exists");
    assert_eq!(promoted.role, Role::Admin);
    assert_eq!(
        (promoted.id, &promoted.email, promoted.created_at),
        (user.id, &user.email, user.created_at)
    );
    assert_eq!(store.find_user(user.id).await.expect("find"), Some(promoted));
    assert_eq!(
        store.find_user(other.id).await.expect("find"),
        Some(other),
        "only that user"
    );

    let demoted = store
        .update_user_role(user.id, Role::User, at(20))
        .await
        .expect("update")
        .expect("user exists");
    assert_eq!(demoted.role, Role::User);
    assert!(
        store
            .update_user_role(Uuid::new_v4(), Role::Admin, at(30))
            .await
            .expect("update")
            .is_none()
    );
}

async fn users_are_created_and_found(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let mut input = new_user("ada@example.com");
    input.role = Role::Admin;
    let id = input.id;
    let created = store.create_user(input).await.expect("create");
    assert_eq!(created.id, id);
    assert_eq!(created.email, "ada@example.com");
    assert_eq!(created.role, Role::Admin);
    assert!(!created.disabled);
    assert_eq!(created.created_at, t0());

    let by_id = store.find_user(id).await.expect("find").expect("exists");
    assert_eq!(by_id, created);
    let by_email = store
        .find_user_by_email("ada@example.com")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(by_email, created);

    assert!(store.find_user(Uuid::new_v4()).await.expect("find").is_none());
    assert!(
        store
            .find_user_by_email("nobody@example.com")
            .await
            .expect("find")
            .is_none()
    );
}

async fn a_duplicate_email_is_email_taken(db: &TestDatabase) {
    let store = migrated_store(db).await;
    store.create_user(new_user("dup@example.com")).await.expect("first");
    // Email::parse normalises, so a different case is the same address.
    let second = store.create_user(new_user("DUP@Example.com")).await;
    assert!(matches!(second, Err(StoreError::EmailTaken)), "{second:?}");
}

async fn concurrent_inserts_of_one_email_let_exactly_one_win(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create_user(new_user("race@example.com")).await })
        })
        .collect();
    let mut created = 0;
    let mut taken = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => created += 1,
            Err(StoreError::EmailTaken) => taken += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((created, taken), (1, 7));
}

async fn names_and_password_hashes_are_updated(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let user = store.create_user(new_user("grace@example.com")).await.expect("create");

    let renamed = store
        .update_user_name(user.id, "Grace Hopper", at(60))
        .await
        .expect("rename");
    let renamed = renamed.expect("user exists");
    assert_eq!(renamed.name, "Grace Hopper");
    assert_eq!(renamed.created_at, user.created_at);
    assert_eq!(store.find_user(user.id).await.expect("find"), Some(renamed));
    assert!(
        store
            .update_user_name(Uuid::new_v4(), "Nobody", at(60))
            .await
            .expect("rename")
            .is_none()
    );

    store
        .update_password_hash(user.id, "$argon2id$new", at(120))
        .await
        .expect("rehash");
    let reloaded = store.find_user(user.id).await.expect("find").expect("exists");
    assert_eq!(reloaded.password_hash, "$argon2id$new");
    assert_eq!(reloaded.name, "Grace Hopper");
}

tessera_store::backend_tests!(
    users_are_created_and_found,
    a_duplicate_email_is_email_taken,
    concurrent_inserts_of_one_email_let_exactly_one_win,
    names_and_password_hashes_are_updated,
    users_are_listed_in_id_order_one_page_at_a_time,
    roles_are_updated,
);
