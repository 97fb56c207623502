//! Builders for domain values with literal hashes and fixed instants.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use tessera_auth_core::events::{EventKind, RequestMeta, SecurityEvent};
use tessera_auth_core::ports::{SessionRepository, UserRepository};
use tessera_auth_core::refresh::RotationState;
use tessera_auth_core::session::{NewSession, SessionRecord, TokenDelivery};
use tessera_auth_core::user::{Email, NewUser, Role, User};
use tessera_store::entity::security_events;
use tessera_store::{Backend, SeaStore};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A fixed instant with microsecond precision (what both backends keep).
pub fn t0() -> OffsetDateTime {
    datetime!(2026-11-23 12:00:00.250000 UTC)
}

pub fn at(seconds: i64) -> OffsetDateTime {
    t0() + Duration::seconds(seconds)
}

pub fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("203.0.113.7".to_owned()),
        user_agent: Some("Mozilla/5.0 (test)".to_owned()),
    }
}

pub fn new_user(email: &str) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        email: Email::parse(email).expect("valid email"),
        name: "Ada Lovelace".to_owned(),
        role: Role::User,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        created_at: t0(),
    }
}

pub async fn user(store: &SeaStore) -> User {
    let email = format!("user-{}@example.com", Uuid::new_v4().simple());
    store.create_user(new_user(&email)).await.expect("create user")
}

pub fn new_session(user_id: Uuid) -> NewSession {
    NewSession {
        id: Uuid::now_v7(),
        user_id,
        rotation: RotationState {
            generation: 0,
            current_hash: [0xA0; 32],
            previous_hash: None,
            rotated_at: None,
        },
        delivery: TokenDelivery::Cookie,
        created_at: t0(),
        absolute_expires_at: t0() + Duration::days(30),
        user_agent: Some("Mozilla/5.0 (login)".to_owned()),
        ip: Some("198.51.100.1".to_owned()),
    }
}

/// Every event of `user_id`, oldest first.
pub async fn events_of(store: &SeaStore, user_id: Uuid) -> Vec<SecurityEvent> {
    let mut events = security_events::Entity::find()
        .filter(security_events::Column::UserId.eq(user_id))
        .all(store.connection())
        .await
        .expect("list events")
        .into_iter()
        .map(|model| SecurityEvent::try_from(model).expect("readable event"))
        .collect::<Vec<_>>();
    events.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
    events
}

/// Creates an active session of `user_id` created (and last used) at `created_at`; its id.
pub async fn session_at(store: &SeaStore, user_id: Uuid, created_at: OffsetDateTime) -> Uuid {
    let mut input = new_session(user_id);
    input.created_at = created_at;
    input.absolute_expires_at = created_at + Duration::days(30);
    let login = SecurityEvent::new(user_id, EventKind::LoginSucceeded, created_at, &meta(), Some(input.id));
    store
        .create_session(input.clone(), login)
        .await
        .expect("create session");
    input.id
}

/// The stored session `id`, which must exist.
pub async fn stored_session(store: &SeaStore, id: Uuid) -> SessionRecord {
    store
        .find_session(id)
        .await
        .expect("find session")
        .expect("session exists")
}

/// From now on every insert of a `kind` event fails inside the database (a trigger), so a
/// change that records one must roll back as a whole.
pub async fn fail_event_inserts(store: &SeaStore, kind: EventKind) {
    let kind = kind.as_str();
    let statements = match store.backend() {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER fail_events BEFORE INSERT ON security_events WHEN NEW.kind = '{kind}' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        Backend::Postgres => vec![
            "CREATE FUNCTION fail_event() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER fail_events BEFORE INSERT ON security_events FOR EACH ROW \
                 WHEN (NEW.kind = '{kind}') EXECUTE FUNCTION fail_event()"
            ),
        ],
    };
    for sql in statements {
        store
            .connection()
            .execute_unprepared(&sql)
            .await
            .expect("install the failing trigger");
    }
}

/// A sealed "your password was changed" notice for `user_id` (what a password change queues).
pub fn password_notice(user_id: Uuid) -> tessera_auth_core::mail::SealedMail {
    use tessera_auth_core::mail::{MailIntent, OutgoingMail, Recipient};
    let mail = OutgoingMail::new(
        Some(user_id),
        Recipient {
            address: "ada@example.com".to_owned(),
            name: "Ada".to_owned(),
        },
        MailIntent::PasswordChanged { at: t0() },
        t0(),
    );
    tessera_auth_core::secret::MasterKey::from_bytes([7; 32])
        .mail_sealing_key()
        .seal(&mail)
}
