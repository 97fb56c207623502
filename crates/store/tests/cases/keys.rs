use tessera_auth_core::access::{SigningAlgorithm, StoredSigningKey};
use tessera_auth_core::ports::KeyRepository;
use tessera_store::testing::{TestDatabase, migrated_store};

use super::support::at;

fn key(kid: &str, created_secs: i64) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.to_owned(),
        algorithm: SigningAlgorithm::EdDSA,
        public_key: vec![0x42; 32],
        sealed_private_key: (0..=255u8).collect(),
        created_at: at(created_secs),
        retired_at: None,
    }
}

async fn signing_keys_are_added_listed_and_retired(db: &TestDatabase) {
    let store = migrated_store(db).await;
    assert!(store.list_signing_keys().await.expect("list").is_empty());

    store.add_signing_key(key("k1", 0)).await.expect("add k1");
    assert_eq!(store.list_signing_keys().await.expect("list"), vec![key("k1", 0)]);

    store.add_signing_key(key("k2", 3600)).await.expect("add k2");
    let retired_k1 = StoredSigningKey {
        retired_at: Some(at(3600)),
        ..key("k1", 0)
    };
    assert_eq!(
        store.list_signing_keys().await.expect("list"),
        vec![retired_k1.clone(), key("k2", 3600)]
    );

    // A third key retires only the active one; k1 keeps its original retirement.
    let mut hs = key("k3", 7200);
    hs.algorithm = SigningAlgorithm::HS256;
    store.add_signing_key(hs.clone()).await.expect("add k3");
    let retired_k2 = StoredSigningKey {
        retired_at: Some(at(7200)),
        ..key("k2", 3600)
    };
    assert_eq!(
        store.list_signing_keys().await.expect("list"),
        vec![retired_k1, retired_k2, hs]
    );
}

async fn a_duplicate_kid_changes_nothing(db: &TestDatabase) {
    let store = migrated_store(db).await;
    store.add_signing_key(key("k1", 0)).await.expect("add k1");
    store.add_signing_key(key("k2", 10)).await.expect("add k2");
    let before = store.list_signing_keys().await.expect("list");
    assert!(store.add_signing_key(key("k1", 20)).await.is_err());
    assert_eq!(store.list_signing_keys().await.expect("list"), before, "rolled back");
}

tessera_store::backend_tests!(
    signing_keys_are_added_listed_and_retired,
    a_duplicate_kid_changes_nothing
);
