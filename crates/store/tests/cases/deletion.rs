//! Deleting an account (one transaction: the user and everything tied to them, the throttle row
//! of their address, and one `account_deleted` record kept), and the read-only queries an
//! export makes of the second-factor tables.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, Value};
use tessera_auth_core::account::{AccountDeletion, MfaStatus};
use tessera_auth_core::events::{EventKind, SecurityEvent};
use tessera_auth_core::ports::{
    AccountRepository, EventRepository, FactorSummaryRepository, LoginThrottleRepository, SessionRepository,
    UserRepository,
};
use tessera_auth_core::throttle::throttle_key;
use tessera_store::SeaStore;
use tessera_store::testing::{TestDatabase, migrated_store};
use uuid::Uuid;

use super::support::{at, meta, session_at, user};

/// Every table whose rows belong to a user, with the column naming the user.
const OWNED: [(&str, &str); 7] = [
    ("sessions", "user_id"),
    ("security_events", "user_id"),
    ("passkeys", "user_id"),
    ("totp_secrets", "user_id"),
    ("recovery_codes", "user_id"),
    ("ceremonies", "user_id"),
    ("mfa_challenges", "user_id"),
];

async fn count_where(store: &SeaStore, table: &str, column: &str, value: impl Into<Value>) -> i64 {
    let select = Query::select()
        .expr_as(Func::count(Expr::col(Alias::new(column))), Alias::new("n"))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new(column)).eq(value.into()))
        .to_owned();
    let row = store
        .connection()
        .query_one(&select)
        .await
        .expect("count")
        .expect("one row");
    row.try_get::<i64>("", "n").expect("a count")
}

/// Rows of `user_id` per table of [`OWNED`].
async fn owned_rows(store: &SeaStore, user_id: Uuid) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for (table, column) in OWNED {
        counts.push((table, count_where(store, table, column, user_id).await));
    }
    counts
}

async fn insert(store: &SeaStore, table: &str, columns: &[&str], values: Vec<SimpleExpr>) {
    let insert = Query::insert()
        .into_table(Alias::new(table))
        .columns(columns.iter().map(|column| Alias::new(*column)))
        .values(values)
        .expect("as many values as columns")
        .to_owned();
    store.connection().execute(&insert).await.expect("insert");
}

fn bytes(byte: u8, len: usize) -> SimpleExpr {
    Expr::val(vec![byte; len])
}

fn when(seconds: i64) -> SimpleExpr {
    Expr::val(at(seconds))
}

/// One row in each second-factor table for `user_id` (two passkeys, three recovery codes of
/// which one is used), `seed` keeping keys distinct between users.
async fn enrol_everything(store: &SeaStore, user_id: Uuid, seed: u8) -> Vec<Uuid> {
    let mut passkeys = Vec::new();
    for (n, name) in ["laptop", "phone"].into_iter().enumerate() {
        let id = Uuid::now_v7();
        passkeys.push(id);
        let n = u8::try_from(n).expect("small");
        insert(
            store,
            "passkeys",
            &[
                "id",
                "user_id",
                "credential_id",
                "credential",
                "name",
                "sign_count",
                "backup_eligible",
                "backup_state",
                "user_verified",
                "transports",
                "created_at",
                "last_used_at",
            ],
            vec![
                Expr::val(id),
                Expr::val(user_id),
                bytes(seed.wrapping_add(n), 16),
                bytes(0xC0, 64),
                Expr::val(name),
                Expr::val(7_i64),
                Expr::val(n == 1),
                Expr::val(n == 1),
                Expr::val(true),
                Expr::val("internal"),
                when(i64::from(n)),
                Expr::val(Some(at(100))),
            ],
        )
        .await;
    }
    insert(
        store,
        "totp_secrets",
        &["user_id", "sealed_secret", "last_used_step", "created_at"],
        vec![Expr::val(user_id), bytes(0x5E, 48), Expr::val(0_i64), when(0)],
    )
    .await;
    for n in 0..3u8 {
        let used = if n == 0 { Some(at(5)) } else { None };
        insert(
            store,
            "recovery_codes",
            &["code_hash", "user_id", "created_at", "used_at"],
            vec![
                bytes(seed.wrapping_add(0x80).wrapping_add(n), 32),
                Expr::val(user_id),
                when(0),
                Expr::val(used),
            ],
        )
        .await;
    }
    insert(
        store,
        "ceremonies",
        &["key", "kind", "user_id", "state", "created_at", "expires_at"],
        vec![
            bytes(seed, 32),
            Expr::val("passkey_registration"),
            Expr::val(user_id),
            bytes(0x57, 20),
            when(0),
            when(300),
        ],
    )
    .await;
    insert(
        store,
        "mfa_challenges",
        &["key", "user_id", "delivery", "attempts", "created_at", "expires_at"],
        vec![
            bytes(seed.wrapping_add(1), 32),
            Expr::val(user_id),
            Expr::val("cookie"),
            Expr::val(0_i32),
            when(0),
            when(300),
        ],
    )
    .await;
    passkeys
}

async fn deleting_removes_every_dependent_row_and_keeps_one_record(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let doomed = user(&store).await;
    let bystander = user(&store).await;
    let live = session_at(&store, doomed.id, at(0)).await;
    let second = session_at(&store, doomed.id, at(1)).await;
    let logged_out = session_at(&store, doomed.id, at(2)).await;
    store
        .revoke_session(
            logged_out,
            tessera_auth_core::session::RevocationReason::Logout,
            at(3),
            &meta(),
            EventKind::Logout,
        )
        .await
        .expect("revoke")
        .expect("active");
    session_at(&store, bystander.id, at(0)).await;
    enrol_everything(&store, doomed.id, 0x10).await;
    enrol_everything(&store, bystander.id, 0x20).await;
    let doomed_key = throttle_key(&doomed.email);
    let bystander_key = throttle_key(&bystander.email);
    store.record_login_failure(&doomed_key, at(4)).await.expect("failure");
    store
        .record_login_failure(&bystander_key, at(4))
        .await
        .expect("failure");
    // A notice already queued for the account must still go out.
    insert(
        &store,
        "mail_queue",
        &[
            "id",
            "kind",
            "user_id",
            "payload",
            "status",
            "attempts",
            "created_at",
            "next_attempt_at",
        ],
        vec![
            Expr::val(Uuid::now_v7()),
            Expr::val("password_changed"),
            Expr::val(doomed.id),
            bytes(0x99, 40),
            Expr::val("queued"),
            Expr::val(0_i32),
            when(4),
            when(4),
        ],
    )
    .await;

    let before = owned_rows(&store, doomed.id).await;
    assert_eq!(
        before,
        vec![
            ("sessions", 3),
            // three logins and one logout
            ("security_events", 4),
            ("passkeys", 2),
            ("totp_secrets", 1),
            ("recovery_codes", 3),
            ("ceremonies", 1),
            ("mfa_challenges", 1),
        ]
    );
    let bystander_before = owned_rows(&store, bystander.id).await;

    let deletion = AccountDeletion::new(doomed.id, at(10), &meta(), Some(live));
    let mut revoked = store
        .delete_account(&deletion, &doomed_key)
        .await
        .expect("delete")
        .expect("the user existed");
    revoked.sort();
    let mut expected = vec![live, second];
    expected.sort();
    assert_eq!(revoked, expected, "the sessions that were not revoked yet");

    let after = owned_rows(&store, doomed.id).await;
    assert!(after.iter().all(|(_, n)| *n == 0), "{after:?}");
    assert_eq!(
        owned_rows(&store, bystander.id).await,
        bystander_before,
        "nobody else's rows"
    );
    assert_eq!(store.find_user(doomed.id).await.expect("find"), None);
    assert!(store.find_user(bystander.id).await.expect("find").is_some());
    assert_eq!(store.login_failures(&doomed_key).await.expect("read"), None);
    assert!(store.login_failures(&bystander_key).await.expect("read").is_some());
    assert_eq!(
        count_where(&store, "mail_queue", "user_id", doomed.id).await,
        1,
        "queued mail stays"
    );
    assert!(store.list_events(doomed.id, None, 100).await.expect("list").is_empty());

    let kept = store.list_account_deletions(None, 10).await.expect("list");
    assert_eq!(kept, vec![deletion.clone()]);
    assert_eq!(count_where(&store, "security_events", "account_id", doomed.id).await, 1);
    assert_eq!(
        store.accounts_deleted_since(at(10)).await.expect("since"),
        vec![deletion.clone()]
    );
    assert!(
        store
            .accounts_deleted_since(at(10) + time::Duration::microseconds(1))
            .await
            .expect("since")
            .is_empty()
    );

    // The address can be registered again; the record stays.
    let again = store
        .create_user(super::support::new_user(&doomed.email))
        .await
        .expect("the address is free");
    assert_ne!(again.id, doomed.id);
    assert_eq!(
        store.list_account_deletions(None, 10).await.expect("list"),
        vec![deletion]
    );
}

async fn deleting_an_unknown_user_writes_nothing(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let deletion = AccountDeletion::new(Uuid::now_v7(), at(0), &meta(), None);
    assert_eq!(
        store
            .delete_account(&deletion, &throttle_key("nobody@example.com"))
            .await
            .expect("delete"),
        None
    );
    assert!(store.list_account_deletions(None, 10).await.expect("list").is_empty());
}

async fn deletions_are_listed_newest_first_by_page(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let mut records = Vec::new();
    for n in 0..3 {
        let doomed = user(&store).await;
        // An ordinary event, which is not a deletion record.
        store
            .record_event(SecurityEvent::new(
                doomed.id,
                EventKind::LoginFailed,
                at(n),
                &meta(),
                None,
            ))
            .await
            .expect("event");
        let deletion = AccountDeletion::new(doomed.id, at(10 + n), &meta(), None);
        store
            .delete_account(&deletion, &throttle_key(&doomed.email))
            .await
            .expect("delete")
            .expect("exists");
        records.push(deletion);
    }
    records.reverse();
    let first = store.list_account_deletions(None, 2).await.expect("list");
    assert_eq!(first, records[..2]);
    let rest = store
        .list_account_deletions(Some(first[1].event_id), 2)
        .await
        .expect("list");
    assert_eq!(rest, records[2..]);
    let recent = store.accounts_deleted_since(at(11)).await.expect("since");
    assert_eq!(recent.len(), 2);
}

async fn factor_summaries_show_no_secret(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let ada = user(&store).await;
    let nobody = user(&store).await;
    let passkeys = enrol_everything(&store, ada.id, 0x30).await;

    let summaries = store.list_passkey_summaries(ada.id).await.expect("list");
    assert_eq!(
        summaries.iter().map(|p| p.id).collect::<Vec<_>>(),
        passkeys,
        "oldest first"
    );
    assert_eq!(summaries[0].name, "laptop");
    assert_eq!(summaries[0].created_at, at(0));
    assert_eq!(summaries[0].last_used_at, Some(at(100)));
    assert!(!summaries[0].backup_eligible && !summaries[0].backup_state);
    assert!(summaries[1].backup_eligible && summaries[1].backup_state);
    assert_eq!(
        store.mfa_status(ada.id).await.expect("status"),
        MfaStatus {
            totp: true,
            recovery_codes_left: 2,
            passkeys: 2,
        }
    );
    assert!(store.list_passkey_summaries(nobody.id).await.expect("list").is_empty());
    assert_eq!(store.mfa_status(nobody.id).await.expect("status"), MfaStatus::default());
}

tessera_store::backend_tests!(
    deleting_removes_every_dependent_row_and_keeps_one_record,
    deleting_an_unknown_user_writes_nothing,
    deletions_are_listed_newest_first_by_page,
    factor_summaries_show_no_secret,
);
