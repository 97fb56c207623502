//! Ceremonies: stored by one request (or instance), taken once by the next, swept when expired.

use std::sync::Arc;

use sea_orm::{ActiveValue::Set, EntityTrait, PaginatorTrait};
use tessera_auth_core::mfa::ceremony::{CEREMONY_TTL, Ceremony, CeremonyKey, CeremonyKind};
use tessera_auth_core::ports::{CeremonyRepository, UserRepository};
use tessera_store::entity::{mfa_challenges, users};
use tessera_store::testing::{TestDatabase, migrated_store};
use time::Duration;

use super::support::{at, user};

async fn a_ceremony_is_taken_once_whole(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let registration = Ceremony::new(
        CeremonyKind::PasskeyRegistration,
        Some(owner.id),
        b"challenge-1",
        b"{\"rs\":\"state\"}".to_vec(),
        at(0),
    );
    let login = Ceremony::new(
        CeremonyKind::PasskeyLogin,
        None,
        b"challenge-2",
        vec![0, 1, 2, 255],
        at(0),
    );
    store.put_ceremony(registration.clone()).await.expect("put");
    store.put_ceremony(login.clone()).await.expect("put");

    let unknown = CeremonyKey::derive(CeremonyKind::PasskeyLogin, b"challenge-1");
    assert_eq!(store.take_ceremony(&unknown).await.expect("take"), None);
    assert_eq!(
        store.take_ceremony(&registration.key).await.expect("take"),
        Some(registration.clone())
    );
    assert_eq!(store.take_ceremony(&registration.key).await.expect("take again"), None);
    assert_eq!(store.take_ceremony(&login.key).await.expect("take"), Some(login));
}

async fn a_new_totp_enrolment_replaces_the_pending_one(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let handle = owner.id.as_bytes().to_vec();
    let first = Ceremony::new(CeremonyKind::TotpEnrolment, Some(owner.id), &handle, vec![1], at(0));
    let second = Ceremony::new(CeremonyKind::TotpEnrolment, Some(owner.id), &handle, vec![2], at(60));
    assert_eq!(first.key, CeremonyKey::totp_enrolment(owner.id));
    store.put_ceremony(first).await.expect("put");
    store.put_ceremony(second.clone()).await.expect("put again");
    assert_eq!(
        store.take_ceremony(&second.key).await.expect("take"),
        Some(second.clone())
    );
    assert_eq!(store.take_ceremony(&second.key).await.expect("take"), None);
}

async fn racing_takes_get_the_ceremony_once(db: &TestDatabase) {
    let store = Arc::new(migrated_store(db).await);
    let owner = user(&store).await;
    let ceremony = Ceremony::new(CeremonyKind::PasskeyReauth, Some(owner.id), b"race", vec![9; 64], at(0));
    store.put_ceremony(ceremony.clone()).await.expect("put");
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let key = ceremony.key;
            tokio::spawn(async move { store.take_ceremony(&key).await.expect("take") })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        if let Some(taken) = racer.await.expect("join") {
            assert_eq!(taken, ceremony);
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

async fn the_sweep_deletes_expired_ceremonies_and_challenges_only(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let old = Ceremony::new(CeremonyKind::PasskeyLogin, None, b"old", vec![1], at(0));
    let live = Ceremony::new(CeremonyKind::PasskeyLogin, None, b"live", vec![2], at(240));
    store.put_ceremony(old.clone()).await.expect("put");
    store.put_ceremony(live.clone()).await.expect("put");
    // Two MFA challenges, written as the schema has them (their repository is the MFA login's).
    for (key, expires) in [(1u8, at(300)), (2u8, at(900))] {
        let challenge = mfa_challenges::ActiveModel {
            key: Set(vec![key; 32]),
            user_id: Set(owner.id),
            delivery: Set("cookie".to_owned()),
            attempts: Set(0),
            created_at: Set(at(0)),
            expires_at: Set(expires),
        };
        mfa_challenges::Entity::insert(challenge)
            .exec_without_returning(store.connection())
            .await
            .expect("insert a challenge");
    }

    // One second past the first ceremony's and the first challenge's expiry.
    let now = at(0) + CEREMONY_TTL + Duration::seconds(1);
    assert_eq!(store.sweep_expired_ceremonies(now).await.expect("sweep"), 2);
    assert_eq!(store.take_ceremony(&old.key).await.expect("take"), None);
    assert_eq!(store.take_ceremony(&live.key).await.expect("take"), Some(live));
    let left = mfa_challenges::Entity::find()
        .count(store.connection())
        .await
        .expect("count");
    assert_eq!(left, 1);
    assert_eq!(store.sweep_expired_ceremonies(now).await.expect("sweep again"), 0);
}

async fn a_user_s_ceremonies_go_with_the_account(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let ceremony = Ceremony::new(
        CeremonyKind::TotpEnrolment,
        Some(owner.id),
        owner.id.as_bytes(),
        vec![1],
        at(0),
    );
    store.put_ceremony(ceremony.clone()).await.expect("put");
    users::Entity::delete_by_id(owner.id)
        .exec(store.connection())
        .await
        .expect("delete the user");
    assert_eq!(store.find_user(owner.id).await.expect("find"), None);
    assert_eq!(store.take_ceremony(&ceremony.key).await.expect("take"), None);
}

tessera_store::backend_tests!(
    a_ceremony_is_taken_once_whole,
    a_new_totp_enrolment_replaces_the_pending_one,
    racing_takes_get_the_ceremony_once,
    the_sweep_deletes_expired_ceremonies_and_challenges_only,
    a_user_s_ceremonies_go_with_the_account,
);
