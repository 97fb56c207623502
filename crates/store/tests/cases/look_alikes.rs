//! Look-alike addresses (issue 12, Low 5): the skeleton hash is unique, new accounts get it, and
//! rows from before its migration get it at start-up.

use sea_orm::{ActiveValue::NotSet, ActiveValue::Set, EntityTrait};
use tessera_auth_core::ports::{StoreError, UserRepository};
use tessera_migrations::MigratorTrait;
use tessera_store::SeaStore;
use tessera_store::entity::users;
use tessera_store::testing::{TestDatabase, migrated_store};
use uuid::Uuid;

use super::support::{new_user, t0};

async fn look_alike_addresses_are_refused(db: &TestDatabase) {
    let store = migrated_store(db).await;
    store.create_user(new_user("paypal@example.com")).await.expect("first");
    let taken = store.create_user(new_user("PayPal@example.com")).await;
    assert!(matches!(taken, Err(StoreError::EmailTaken)), "{taken:?}");
    for look_alike in [
        "p\u{430}ypal@example.com",
        "paypa1@example.com",
        "paypal@\u{435}xample.com",
    ] {
        let refused = store.create_user(new_user(look_alike)).await;
        assert!(
            matches!(refused, Err(StoreError::EmailConfusable)),
            "{look_alike}: {refused:?}"
        );
    }
    let other = store.create_user(new_user("paypal@example.org")).await;
    assert!(other.is_ok(), "{other:?}");
    // NFC on the way in: the decomposed spelling is the same address.
    let jose = store
        .create_user(new_user("jose\u{301}@example.com"))
        .await
        .expect("jose");
    assert_eq!(jose.email, "jos\u{e9}@example.com");
    let found = store.find_user_by_email("jos\u{e9}@example.com").await.expect("find");
    assert_eq!(found.map(|u| u.id), Some(jose.id));
}

/// A row as written before `m20261202_000006` (no skeleton column yet).
async fn old_row(store: &SeaStore, email: &str) -> Uuid {
    let id = Uuid::now_v7();
    let row = users::ActiveModel {
        id: Set(id),
        email: Set(email.to_owned()),
        email_skeleton_hash: NotSet,
        name: Set("Old".to_owned()),
        password_hash: Set("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        role: Set("user".to_owned()),
        disabled: Set(false),
        email_verified: NotSet,
        created_at: Set(t0()),
        updated_at: Set(t0()),
    };
    users::Entity::insert(row)
        .exec_without_returning(store.connection())
        .await
        .expect("insert an old row");
    id
}

async fn stored(store: &SeaStore, id: Uuid) -> users::Model {
    users::Entity::find_by_id(id)
        .all(store.connection())
        .await
        .expect("read")
        .pop()
        .expect("row")
}

/// A database with accounts from before the rules, migrated: the skeletons are filled, the
/// addresses normalised, and a look-alike pair keeps working with only the first holding it.
async fn accounts_from_before_the_rule_get_their_skeleton_at_start_up(db: &TestDatabase) {
    let store = SeaStore::connect(&db.url).await.expect("connect");
    let before = tessera_migrations::Migrator::migrations().len() - 1;
    tessera_migrations::Migrator::up(store.connection(), Some(u32::try_from(before).expect("few")))
        .await
        .expect("migrate to before the skeleton");
    let decomposed = old_row(&store, "jose\u{301}@example.com").await;
    let composed = old_row(&store, "jos\u{e9}@example.com").await;
    let paypal = old_row(&store, "paypal@example.com").await;
    let cyrillic = old_row(&store, "p\u{430}ypal@example.com").await;
    let zero_width = old_row(&store, "ad\u{200B}min@example.com").await;
    let plain = old_row(&store, "ada@example.com").await;

    store.migrate().await.expect("migrate and fill");

    let hash = |email: &str| Some(tessera_auth_core::user::email_skeleton_hash(email).to_vec());
    assert_eq!(
        stored(&store, paypal).await.email_skeleton_hash,
        hash("paypal@example.com")
    );
    assert_eq!(
        stored(&store, zero_width).await.email_skeleton_hash,
        hash("admin@example.com")
    );
    assert_eq!(stored(&store, plain).await.email_skeleton_hash, hash("ada@example.com"));
    // The decomposed twin came first but cannot take the composed spelling another account has:
    // both keep working as they were, one without a skeleton.
    let old_nfd = stored(&store, decomposed).await;
    assert_eq!(old_nfd.email, "jose\u{301}@example.com");
    assert_eq!(old_nfd.email_skeleton_hash, None);
    assert_eq!(
        stored(&store, composed).await.email_skeleton_hash,
        hash("josé@example.com")
    );
    assert_eq!(stored(&store, cyrillic).await.email_skeleton_hash, None);

    // Idempotent: a second start-up finds nothing to do (the pair stays as it is).
    assert_eq!(store.fill_email_skeletons().await.expect("again"), 0);
    store.migrate().await.expect("migrate again");

    // New look-alikes of old accounts are refused.
    for look_alike in ["admin@example.com", "p\u{430}ypa1@example.com", "\u{430}da@example.com"] {
        let refused = store.create_user(new_user(look_alike)).await;
        assert!(
            matches!(refused, Err(StoreError::EmailConfusable)),
            "{look_alike}: {refused:?}"
        );
    }
    let refused = store.create_user(new_user("Jose\u{301}@example.com")).await;
    assert!(matches!(refused, Err(StoreError::EmailTaken)), "{refused:?}");
}

/// An old address that was not NFC is rewritten in NFC when nothing else holds that spelling, so
/// the login lookup (NFC) keeps finding it.
async fn old_addresses_are_normalised_when_they_can_be(db: &TestDatabase) {
    let store = SeaStore::connect(&db.url).await.expect("connect");
    let before = tessera_migrations::Migrator::migrations().len() - 1;
    tessera_migrations::Migrator::up(store.connection(), Some(u32::try_from(before).expect("few")))
        .await
        .expect("migrate to before the skeleton");
    let id = old_row(&store, "rene\u{301}@example.com").await;
    store.migrate().await.expect("migrate and fill");
    let found = store.find_user_by_email("ren\u{e9}@example.com").await.expect("find");
    assert_eq!(found.map(|u| u.id), Some(id));
}

tessera_store::backend_tests!(
    look_alike_addresses_are_refused,
    accounts_from_before_the_rule_get_their_skeleton_at_start_up,
    old_addresses_are_normalised_when_they_can_be,
);
