//! A write whose COMMIT fails must be reported as failed and leave the database as it was.
//!
//! A full disk, a read-only or an I/O-failing file make SQLite fail when a transaction commits,
//! after its statements have run (and, for `UPDATE … RETURNING`, after its rows were returned).
//! The same moment is reached here without root or a full disk: triggers on every table insert a
//! row that breaks a DEFERRED foreign key, which both backends check only at COMMIT (SQLite: when
//! an autocommit statement ends). Every write method of the store must then return `Err` and
//! change nothing. The fast rotation once returned the rotated row as a success while SQLite
//! rolled the rotation back, so a refresh answered 200 with tokens that were never stored.

use sea_orm::{ConnectionTrait, EntityTrait};
use tessera_auth_core::access::{SigningAlgorithm, StoredSigningKey};
use tessera_auth_core::events::{EventKind, SecurityEvent};
use tessera_auth_core::ports::{
    EventRepository, KeyRepository, LockedSession, LoginThrottleRepository, SessionRepository, StoreError,
    UserRepository,
};
use tessera_auth_core::refresh::{ExpectedRotation, RefreshDecision, RefreshToken, RotationState};
use tessera_auth_core::secret::{MasterKey, RefreshKeys};
use tessera_auth_core::session::{RevocationReason, SessionPolicy};
use tessera_auth_core::user::Role;
use tessera_store::entity::{login_throttle, security_events, sessions, signing_keys, users};
use tessera_store::testing::{TestDatabase, migrated_store};
use tessera_store::{Backend, SeaStore};
use uuid::Uuid;

use super::support::{at, meta, new_session, new_user, t0, user};

const TABLES: [&str; 5] = ["users", "sessions", "security_events", "signing_keys", "login_throttle"];

/// From now on every insert, update or delete on Tessera's tables makes its transaction fail at
/// COMMIT (and only there).
async fn fail_every_commit(store: &SeaStore) {
    let mut statements = vec![
        "CREATE TABLE commit_guard_parent (id INTEGER PRIMARY KEY)".to_owned(),
        "CREATE TABLE commit_guard (parent INTEGER REFERENCES commit_guard_parent (id) \
         DEFERRABLE INITIALLY DEFERRED)"
            .to_owned(),
    ];
    match store.backend() {
        Backend::Sqlite => {
            for table in TABLES {
                for event in ["INSERT", "UPDATE", "DELETE"] {
                    statements.push(format!(
                        "CREATE TRIGGER commit_guard_{table}_{event} AFTER {event} ON {table} \
                         BEGIN INSERT INTO commit_guard VALUES (1); END"
                    ));
                }
            }
        }
        Backend::Postgres => {
            statements.push(
                "CREATE FUNCTION commit_guard() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN INSERT INTO commit_guard VALUES (1); RETURN NULL; END $$"
                    .to_owned(),
            );
            for table in TABLES {
                statements.push(format!(
                    "CREATE TRIGGER commit_guard AFTER INSERT OR UPDATE OR DELETE ON {table} \
                     FOR EACH ROW EXECUTE FUNCTION commit_guard()"
                ));
            }
        }
    }
    for sql in statements {
        store
            .connection()
            .execute_unprepared(&sql)
            .await
            .expect("install the commit guard");
    }
}

/// Every row of every table, to compare before and after.
#[derive(Debug, PartialEq)]
struct Snapshot {
    users: Vec<users::Model>,
    sessions: Vec<sessions::Model>,
    events: Vec<security_events::Model>,
    keys: Vec<signing_keys::Model>,
    throttle: Vec<login_throttle::Model>,
}

async fn snapshot(store: &SeaStore) -> Snapshot {
    let db = store.connection();
    let mut snapshot = Snapshot {
        users: users::Entity::find().all(db).await.expect("users"),
        sessions: sessions::Entity::find().all(db).await.expect("sessions"),
        events: security_events::Entity::find().all(db).await.expect("events"),
        keys: signing_keys::Entity::find().all(db).await.expect("keys"),
        throttle: login_throttle::Entity::find().all(db).await.expect("throttle"),
    };
    snapshot.users.sort_by_key(|row| row.id);
    snapshot.sessions.sort_by_key(|row| row.id);
    snapshot.events.sort_by_key(|row| row.id);
    snapshot.keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    snapshot.throttle.sort_by(|a, b| a.key.cmp(&b.key));
    snapshot
}

fn keys() -> RefreshKeys {
    MasterKey::from_bytes([9; 32]).refresh_keys()
}

fn signing_key(kid: &str) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.to_owned(),
        algorithm: SigningAlgorithm::EdDSA,
        public_key: vec![0x42; 32],
        sealed_private_key: vec![0x17; 64],
        created_at: t0(),
        retired_at: None,
    }
}

/// What the database holds when the commits start failing: two users, live sessions (one of
/// them refreshable with `token`), a signing key and a throttle row.
struct World {
    owner: Uuid,
    other_session: Uuid,
    token: RefreshToken,
    throttle_key: [u8; 32],
}

async fn world(store: &SeaStore) -> World {
    let owner = user(store).await;
    user(store).await;
    let mut input = new_session(owner.id);
    let token = RefreshToken::new_family(input.id);
    input.rotation = RotationState::initial(&token);
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(input.id));
    store.create_session(input, login).await.expect("session");
    let other = new_session(owner.id);
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(other.id));
    store.create_session(other.clone(), login).await.expect("session");
    store.add_signing_key(signing_key("k1")).await.expect("key");
    let throttle_key = [3; 32];
    store.record_login_failure(&throttle_key, t0()).await.expect("throttle");
    World {
        owner: owner.id,
        other_session: other.id,
        token,
        throttle_key,
    }
}

/// Asserts that `result` failed and that nothing changed.
async fn refused<T: std::fmt::Debug>(store: &SeaStore, before: &Snapshot, what: &str, result: Result<T, StoreError>) {
    assert!(
        result.is_err(),
        "{what}: a write whose commit failed was reported as a success: {result:?}"
    );
    assert_eq!(
        &snapshot(store).await,
        before,
        "{what}: the failed write left changes behind"
    );
}

async fn a_failed_commit_is_an_error_and_changes_nothing(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let world = world(&store).await;
    fail_every_commit(&store).await;
    let before = snapshot(&store).await;
    let now = at(60);

    // Refresh: the one-statement fast path, then the locked path's rotation and replay.
    let expected =
        ExpectedRotation::for_token(&world.token, &SessionPolicy::default(), &keys(), now).expect("expected");
    let result = store.rotate_if_current(&expected, &meta()).await;
    refused(&store, &before, "rotate_if_current", result).await;
    let rotate = |_: &LockedSession| RefreshDecision::Rotate {
        child: expected.child.clone(),
        state: expected.state.clone(),
    };
    let result = store
        .refresh_session(world.token.session_id, now, &meta(), &rotate)
        .await;
    refused(&store, &before, "refresh_session (rotate)", result).await;
    let replay = |_: &LockedSession| RefreshDecision::Replay;
    let result = store
        .refresh_session(world.token.session_id, now, &meta(), &replay)
        .await;
    refused(&store, &before, "refresh_session (replay)", result).await;

    // Sessions.
    let result = store
        .create_session(
            new_session(world.owner),
            SecurityEvent::new(world.owner, EventKind::LoginSucceeded, now, &meta(), None),
        )
        .await;
    refused(&store, &before, "create_session", result).await;
    let result = store
        .revoke_session(
            world.other_session,
            RevocationReason::Logout,
            now,
            &meta(),
            EventKind::Logout,
        )
        .await;
    refused(&store, &before, "revoke_session", result).await;
    let result = store
        .revoke_user_sessions(
            world.owner,
            RevocationReason::LogoutAll,
            now,
            &meta(),
            EventKind::AllSessionsRevoked,
            None,
        )
        .await;
    refused(&store, &before, "revoke_user_sessions", result).await;

    // Users.
    let result = store.create_user(new_user("new@example.com")).await;
    refused(&store, &before, "create_user", result).await;
    let result = store.update_user_name(world.owner, "Grace", now).await;
    refused(&store, &before, "update_user_name", result).await;
    let result = store.update_password_hash(world.owner, "$argon2id$new", now).await;
    refused(&store, &before, "update_password_hash", result).await;
    let result = store.update_user_role(world.owner, Role::Admin, now).await;
    refused(&store, &before, "update_user_role", result).await;
    let result = store.set_user_disabled(world.owner, true, now, &meta()).await;
    refused(&store, &before, "set_user_disabled", result).await;
    let result = store
        .change_password(
            world.owner,
            "$argon2id$new",
            world.other_session,
            now,
            &meta(),
            super::support::password_notice(Uuid::nil()),
        )
        .await;
    refused(&store, &before, "change_password", result).await;

    // Keys, events, throttle.
    let result = store.add_signing_key(signing_key("k2")).await;
    refused(&store, &before, "add_signing_key", result).await;
    let result = store
        .record_event(SecurityEvent::new(
            world.owner,
            EventKind::LoginFailed,
            now,
            &meta(),
            None,
        ))
        .await;
    refused(&store, &before, "record_event", result).await;
    let result = store.record_login_failure(&world.throttle_key, now).await;
    refused(&store, &before, "record_login_failure", result).await;
    let result = store.record_login_failure(&[4; 32], now).await;
    refused(&store, &before, "record_login_failure (first)", result).await;
    let result = store.clear_login_failures(&world.throttle_key).await;
    refused(&store, &before, "clear_login_failures", result).await;
}

tessera_store::backend_tests!(a_failed_commit_is_an_error_and_changes_nothing);
