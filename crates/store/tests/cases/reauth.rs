//! `sessions.auth_time` and `sessions.amr`: filled for sessions from before the migration, and
//! moved by a re-authentication.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, Query};
use tessera_auth_core::access::Authentication;
use tessera_auth_core::events::{EventKind, SecurityEvent};
use tessera_auth_core::mfa::policy::{Amr, AmrSet};
use tessera_auth_core::ports::SessionRepository;
use tessera_auth_core::session::RevocationReason;
use tessera_migrations::{Migrator, MigratorTrait};
use tessera_store::testing::{TestDatabase, migrated_store};
use uuid::Uuid;

use super::support::{at, events_of, meta, session_at, stored_session, t0, user};

/// The migrations before `m20261202_000009_add_sessions_auth_time`.
const BEFORE_AUTH_TIME: u32 = 8;

/// A session written the way the store wrote them before the migration (no `auth_time`, no
/// `amr`) is read back afterwards as a password login at its creation time.
async fn the_migration_fills_existing_sessions_as_password_logins(db: &TestDatabase) {
    let store = tessera_store::SeaStore::connect(&db.url).await.expect("connect");
    Migrator::up(store.connection(), Some(BEFORE_AUTH_TIME))
        .await
        .expect("migrate to before auth_time");
    // The user too is written as the schema of then had it (the store of today writes columns
    // that later migrations add).
    let owner_id = Uuid::now_v7();
    let user_row = Query::insert()
        .into_table(Alias::new("users"))
        .columns(
            [
                "id",
                "email",
                "name",
                "password_hash",
                "role",
                "disabled",
                "created_at",
                "updated_at",
            ]
            .map(Alias::new),
        )
        .values([
            Expr::val(owner_id),
            Expr::val("old-session@example.com"),
            Expr::val("Old Session"),
            Expr::val("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
            Expr::val("user"),
            Expr::val(false),
            Expr::val(at(-7_200)),
            Expr::val(at(-7_200)),
        ])
        .expect("one value per column")
        .to_owned();
    let backend = store.connection().get_database_backend();
    store
        .connection()
        .execute_raw(backend.build(&user_row))
        .await
        .expect("insert an old user");
    let id = Uuid::now_v7();
    let created_at = at(-3_600);
    let insert = Query::insert()
        .into_table(Alias::new("sessions"))
        .columns(
            [
                "id",
                "user_id",
                "generation",
                "current_hash",
                "delivery",
                "created_at",
                "last_used_at",
                "absolute_expires_at",
            ]
            .map(Alias::new),
        )
        .values([
            Expr::val(id),
            Expr::val(owner_id),
            Expr::val(0i64),
            Expr::val(vec![0xA0u8; 32]),
            Expr::val("cookie"),
            Expr::val(created_at),
            Expr::val(t0()),
            Expr::val(created_at + time::Duration::days(30)),
        ])
        .expect("one value per column")
        .to_owned();
    store
        .connection()
        .execute_raw(backend.build(&insert))
        .await
        .expect("insert an old session");

    assert_eq!(
        store.migrate().await.expect("migrate the rest"),
        Migrator::migrations().len() - BEFORE_AUTH_TIME as usize,
        "the migrations since"
    );
    let session = stored_session(&store, id).await;
    assert_eq!(session.auth_time, created_at);
    assert_eq!(session.amr, AmrSet::of(&[Amr::Pwd]));
    assert_eq!(session.created_at, created_at);
    assert_eq!(session.last_used_at, t0());
}

async fn new_sessions_keep_their_auth_time_and_amr(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let mut input = super::support::new_session(owner.id);
    input.auth_time = at(-2);
    input.amr = AmrSet::of(&[Amr::Pwd, Amr::Otp, Amr::Mfa]);
    let login = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(input.id));
    store.create_session(input.clone(), login).await.expect("create");
    let found = stored_session(&store, input.id).await;
    assert_eq!(found.auth_time, at(-2));
    assert_eq!(found.amr.to_claim(), ["pwd", "otp", "mfa"]);
}

async fn reauthentication_moves_auth_time_and_amr_and_records_the_event(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let id = session_at(&store, owner.id, t0()).await;
    let before = stored_session(&store, id).await;

    let now = at(900);
    let authentication = Authentication {
        auth_time: now,
        amr: AmrSet::of(&[Amr::Pwd]),
    };
    let event = SecurityEvent::new(owner.id, EventKind::Reauthenticated, now, &meta(), Some(id));
    let after = store
        .reauthenticate_session(id, owner.id, authentication, event.clone())
        .await
        .expect("reauthenticate")
        .expect("the session is live");
    assert_eq!(after.auth_time, now);
    assert_eq!(after.amr, AmrSet::of(&[Amr::Pwd]));
    // Nothing else about the session changes: same rotation, same lifetimes.
    let expected = tessera_auth_core::session::SessionRecord {
        auth_time: now,
        ..before
    };
    assert_eq!(after, expected);
    assert_eq!(stored_session(&store, id).await, expected);
    let events = events_of(&store, owner.id).await;
    assert_eq!(events.last(), Some(&event));
}

async fn reauthentication_refuses_revoked_and_foreign_sessions(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let stranger = user(&store).await;
    let id = session_at(&store, owner.id, t0()).await;
    let authentication = Authentication {
        auth_time: at(60),
        amr: AmrSet::of(&[Amr::Pwd]),
    };
    let event = |user_id| SecurityEvent::new(user_id, EventKind::Reauthenticated, at(60), &meta(), Some(id));

    // Another user's session: nothing written.
    let foreign = store
        .reauthenticate_session(id, stranger.id, authentication, event(stranger.id))
        .await
        .expect("reauthenticate");
    assert!(foreign.is_none());
    assert_eq!(stored_session(&store, id).await.auth_time, t0());
    assert!(events_of(&store, stranger.id).await.is_empty());

    store
        .revoke_session(id, RevocationReason::Logout, at(30), &meta(), EventKind::Logout)
        .await
        .expect("revoke")
        .expect("was live");
    let events_before = events_of(&store, owner.id).await.len();
    let revoked = store
        .reauthenticate_session(id, owner.id, authentication, event(owner.id))
        .await
        .expect("reauthenticate");
    assert!(revoked.is_none(), "a revoked session gains no new proof");
    assert_eq!(stored_session(&store, id).await.auth_time, t0());
    assert_eq!(events_of(&store, owner.id).await.len(), events_before);
}

tessera_store::backend_tests!(
    the_migration_fills_existing_sessions_as_password_logins,
    new_sessions_keep_their_auth_time_and_amr,
    reauthentication_moves_auth_time_and_amr_and_records_the_event,
    reauthentication_refuses_revoked_and_foreign_sessions,
);
