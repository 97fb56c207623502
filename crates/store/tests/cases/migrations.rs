use sea_orm::{ConnectionTrait, Statement};
use tessera_store::testing::{TestDatabase, migrated_store};

async fn count(store: &tessera_store::SeaStore, table: &str) -> i64 {
    let backend = store.connection().get_database_backend();
    let row = store
        .connection()
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("count rows")
        .expect("one row");
    row.try_get::<i64>("", "n").expect("a count")
}

fn migration_count() -> i64 {
    use tessera_migrations::MigratorTrait;
    i64::try_from(tessera_migrations::Migrator::migrations().len()).expect("a few migrations")
}

async fn migrations_apply_on_a_fresh_database_and_rerun_as_no_op(db: &TestDatabase) {
    let fresh = tessera_store::SeaStore::connect(&db.url).await.expect("connect");
    let first = fresh.migrate().await.expect("first migrate");
    assert_eq!(i64::try_from(first).expect("small"), migration_count(), "all applied");
    let store = migrated_store(db).await;
    assert_eq!(store.backend(), db.backend);
    store.ping().await.expect("ping");
    for table in [
        "users",
        "sessions",
        "signing_keys",
        "security_events",
        "login_throttle",
        "mail_queue",
    ] {
        assert_eq!(count(&store, table).await, 0, "{table} exists and is empty");
    }
    let applied = count(&store, "seaql_migrations").await;
    assert_eq!(applied, migration_count());

    assert_eq!(
        store.migrate().await.expect("second migrate is a no-op"),
        0,
        "applied none"
    );
    assert_eq!(count(&store, "seaql_migrations").await, applied);
}

async fn concurrent_migrations_from_two_pools_both_succeed(db: &TestDatabase) {
    let a = tessera_store::SeaStore::connect(&db.url).await.expect("connect a");
    let b = tessera_store::SeaStore::connect(&db.url).await.expect("connect b");
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let applied = ra.expect("first migrate") + rb.expect("second migrate");
    assert_eq!(
        i64::try_from(applied).expect("small"),
        migration_count(),
        "each applied once, by one of them"
    );
    assert_eq!(count(&a, "seaql_migrations").await, migration_count());
}

tessera_store::backend_tests!(
    migrations_apply_on_a_fresh_database_and_rerun_as_no_op,
    concurrent_migrations_from_two_pools_both_succeed,
);
