use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Statement};
use tessera_auth_core::ports::UserRepository;
use tessera_store::testing::{TestDatabase, migrated_store};
use uuid::Uuid;

use super::support::{new_user, t0};

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
        "totp_secrets",
        "recovery_codes",
        "passkeys",
        "ceremonies",
        "mfa_challenges",
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

async fn insert(store: &tessera_store::SeaStore, table: &str, columns: &[(&str, Expr)]) -> Result<(), sea_orm::DbErr> {
    let mut statement = Query::insert();
    statement
        .into_table(Alias::new(table))
        .columns(columns.iter().map(|(name, _)| Alias::new(*name)));
    statement
        .values(columns.iter().map(|(_, value)| value.clone()))
        .expect("one value per column");
    let backend = store.connection().get_database_backend();
    store
        .connection()
        .execute_raw(backend.build(&statement))
        .await
        .map(|_| ())
}

/// The second-factor tables (written before their store code): a credential id is registered
/// once, recovery codes are unique, and every row goes when its user goes.
async fn second_factor_tables_keep_credential_ids_unique_and_go_with_their_user(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let user = store
        .create_user(new_user("factors@example.com"))
        .await
        .expect("create");
    let other = store.create_user(new_user("other@example.com")).await.expect("create");
    let now = t0();
    let passkey = |owner: Uuid, credential_id: Vec<u8>| {
        vec![
            ("id", Expr::val(Uuid::now_v7())),
            ("user_id", Expr::val(owner)),
            ("credential_id", Expr::val(credential_id)),
            ("credential", Expr::val(b"{}".to_vec())),
            ("name", Expr::val("laptop")),
            ("sign_count", Expr::val(0i64)),
            ("backup_eligible", Expr::val(false)),
            ("backup_state", Expr::val(false)),
            ("user_verified", Expr::val(true)),
            ("transports", Expr::val("internal hybrid")),
            ("created_at", Expr::val(now)),
        ]
    };
    insert(&store, "passkeys", &passkey(user.id, vec![1, 2, 3]))
        .await
        .expect("a passkey");
    insert(&store, "passkeys", &passkey(user.id, vec![1, 2, 4]))
        .await
        .expect("another passkey");
    // The same credential id, for the same or another user: refused.
    assert!(
        insert(&store, "passkeys", &passkey(user.id, vec![1, 2, 3]))
            .await
            .is_err()
    );
    assert!(
        insert(&store, "passkeys", &passkey(other.id, vec![1, 2, 3]))
            .await
            .is_err()
    );
    insert(&store, "passkeys", &passkey(other.id, vec![9]))
        .await
        .expect("other's passkey");

    let code = |owner: Uuid, hash: [u8; 32]| {
        vec![
            ("code_hash", Expr::val(hash.to_vec())),
            ("user_id", Expr::val(owner)),
            ("created_at", Expr::val(now)),
        ]
    };
    insert(&store, "recovery_codes", &code(user.id, [1; 32]))
        .await
        .expect("a code");
    assert!(insert(&store, "recovery_codes", &code(user.id, [1; 32])).await.is_err());
    insert(
        &store,
        "totp_secrets",
        &[
            ("user_id", Expr::val(user.id)),
            ("sealed_secret", Expr::val(vec![0u8; 60])),
            ("last_used_step", Expr::val(59_000_000i64)),
            ("created_at", Expr::val(now)),
        ],
    )
    .await
    .expect("a TOTP secret");
    let expires = now + time::Duration::minutes(5);
    insert(
        &store,
        "ceremonies",
        &[
            ("key", Expr::val(vec![2u8; 32])),
            ("kind", Expr::val("passkey_registration")),
            ("user_id", Expr::val(user.id)),
            ("state", Expr::val(b"{}".to_vec())),
            ("created_at", Expr::val(now)),
            ("expires_at", Expr::val(expires)),
        ],
    )
    .await
    .expect("a ceremony");
    insert(
        &store,
        "ceremonies",
        &[
            ("key", Expr::val(vec![3u8; 32])),
            ("kind", Expr::val("passkey_login")),
            ("user_id", Expr::val(Option::<Uuid>::None)),
            ("state", Expr::val(b"{}".to_vec())),
            ("created_at", Expr::val(now)),
            ("expires_at", Expr::val(expires)),
        ],
    )
    .await
    .expect("a usernameless ceremony");
    insert(
        &store,
        "mfa_challenges",
        &[
            ("key", Expr::val(vec![4u8; 32])),
            ("user_id", Expr::val(user.id)),
            ("delivery", Expr::val("cookie")),
            ("attempts", Expr::val(0i32)),
            ("created_at", Expr::val(now)),
            ("expires_at", Expr::val(expires)),
        ],
    )
    .await
    .expect("a challenge");
    // A row for a user that does not exist: refused.
    assert!(
        insert(&store, "recovery_codes", &code(Uuid::now_v7(), [5; 32]))
            .await
            .is_err()
    );

    let backend = store.connection().get_database_backend();
    let delete = Query::delete()
        .from_table(Alias::new("users"))
        .and_where(Expr::col(Alias::new("id")).eq(user.id))
        .to_owned();
    store
        .connection()
        .execute_raw(backend.build(&delete))
        .await
        .expect("delete the user");
    assert_eq!(
        count(&store, "passkeys").await,
        1,
        "only the other user's passkey is left"
    );
    for table in ["recovery_codes", "totp_secrets", "mfa_challenges"] {
        assert_eq!(count(&store, table).await, 0, "{table} went with the user");
    }
    assert_eq!(
        count(&store, "ceremonies").await,
        1,
        "the usernameless ceremony belongs to nobody"
    );
}

tessera_store::backend_tests!(
    migrations_apply_on_a_fresh_database_and_rerun_as_no_op,
    concurrent_migrations_from_two_pools_both_succeed,
    second_factor_tables_keep_credential_ids_unique_and_go_with_their_user,
);
