use tessera_auth_core::ports::LoginThrottleRepository;
use tessera_store::testing::{TestDatabase, migrated_store};

use super::support::at;

async fn failures_are_counted_and_cleared_per_key(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let ada = [1u8; 32];
    let bob = [2u8; 32];
    assert_eq!(store.login_failures(&ada).await.expect("read"), None);
    store.record_login_failure(&ada, at(10)).await.expect("first");
    store.record_login_failure(&ada, at(20)).await.expect("second");
    store.record_login_failure(&bob, at(30)).await.expect("other key");
    assert_eq!(store.login_failures(&ada).await.expect("read"), Some((2, at(20))));
    assert_eq!(store.login_failures(&bob).await.expect("read"), Some((1, at(30))));
    store.clear_login_failures(&ada).await.expect("clear");
    assert_eq!(store.login_failures(&ada).await.expect("read"), None);
    assert_eq!(
        store.login_failures(&bob).await.expect("read"),
        Some((1, at(30))),
        "other keys untouched"
    );
    store
        .clear_login_failures(&ada)
        .await
        .expect("clearing nothing is fine");
}

async fn concurrent_failures_are_all_counted(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let key = [7u8; 32];
    let attempts = (0..12).map(|i| {
        let store = store.clone();
        async move { store.record_login_failure(&key, at(i)).await }
    });
    for result in futures_join_all(attempts).await {
        result.expect("recorded");
    }
    assert_eq!(
        store.login_failures(&key).await.expect("read").map(|(n, _)| n),
        Some(12)
    );
}

async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

tessera_store::backend_tests!(
    failures_are_counted_and_cleared_per_key,
    concurrent_failures_are_all_counted
);
