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

async fn claims_count_only_from_the_count_they_read(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let key = [3u8; 32];
    assert!(store.claim_login_attempt(&key, None, at(10)).await.expect("first"));
    assert!(
        !store
            .claim_login_attempt(&key, None, at(11))
            .await
            .expect("stale: no row"),
        "the row exists now"
    );
    assert_eq!(store.login_failures(&key).await.expect("read"), Some((1, at(10))));
    assert!(
        !store
            .claim_login_attempt(&key, Some(0), at(12))
            .await
            .expect("stale count")
    );
    assert!(store.claim_login_attempt(&key, Some(1), at(13)).await.expect("second"));
    assert_eq!(store.login_failures(&key).await.expect("read"), Some((2, at(13))));
    // Plain failures and claims count on the same row.
    store.record_login_failure(&key, at(14)).await.expect("failure");
    assert!(!store.claim_login_attempt(&key, Some(2), at(15)).await.expect("stale"));
    assert!(store.claim_login_attempt(&key, Some(3), at(15)).await.expect("third"));
    store.clear_login_failures(&key).await.expect("clear");
    assert!(
        store
            .claim_login_attempt(&key, None, at(16))
            .await
            .expect("after a clear")
    );
}

/// Parallel attempts that read the same count: exactly one is counted (the others read again),
/// so a burst of guesses cannot all pass one backoff decision.
async fn parallel_claims_from_one_count_let_exactly_one_through(db: &TestDatabase) {
    let store = migrated_store(db).await;
    for seen in [None, Some(1)] {
        let key = [9u8; 32];
        let claims = (0..12).map(|i| {
            let store = store.clone();
            async move { store.claim_login_attempt(&key, seen, at(i)).await }
        });
        let won = futures_join_all(claims)
            .await
            .into_iter()
            .map(|result| result.expect("claim"))
            .filter(|won| *won)
            .count();
        assert_eq!(won, 1, "from {seen:?}");
    }
    assert_eq!(
        store.login_failures(&[9u8; 32]).await.expect("read").map(|(n, _)| n),
        Some(2)
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
    concurrent_failures_are_all_counted,
    claims_count_only_from_the_count_they_read,
    parallel_claims_from_one_count_let_exactly_one_through
);
