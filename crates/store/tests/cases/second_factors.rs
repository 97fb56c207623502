//! TOTP secrets, recovery codes and MFA challenges: every write a race could double is one
//! conditional statement, so of parallel uses exactly one wins; factor changes commit with their
//! event and notices.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tessera_auth_core::events::{EventKind, SecurityEvent};
use tessera_auth_core::mfa::challenge::{MAX_ATTEMPTS, MfaChallenge};
use tessera_auth_core::mfa::recovery::{self, RecoveryCodeHash};
use tessera_auth_core::ports::{
    CeremonyRepository, ChallengeCompletion, FactorChange, FactorSummaryRepository, MfaChallengeRepository,
    SecondFactorRepository, SessionRepository, StoreError, StoredTotp, UserRepository,
};
use tessera_auth_core::session::TokenDelivery;
use tessera_store::SeaStore;
use tessera_store::entity::mail_queue;
use tessera_store::testing::{TestDatabase, migrated_store};
use time::Duration;
use uuid::Uuid;

use super::support::{at, events_of, meta, new_session, password_notice, t0, user};

fn change(user_id: Uuid, kind: EventKind) -> FactorChange {
    FactorChange {
        user_id,
        at: t0(),
        event: SecurityEvent::new(user_id, kind, t0(), &meta(), None),
        notices: vec![password_notice(user_id)],
    }
}

fn totp(step: u64) -> StoredTotp {
    StoredTotp {
        sealed_secret: vec![0x5E; 60],
        last_used_step: step,
    }
}

async fn queued_for(store: &SeaStore, user_id: Uuid) -> u64 {
    mail_queue::Entity::find()
        .filter(mail_queue::Column::UserId.eq(user_id))
        .count(store.connection())
        .await
        .expect("count mail")
}

async fn kinds(store: &SeaStore, user_id: Uuid) -> Vec<EventKind> {
    events_of(store, user_id).await.into_iter().map(|e| e.kind).collect()
}

/// A user with TOTP at step 100 and a set of recovery codes; returns their digests.
async fn enabled(store: &SeaStore, user_id: Uuid) -> Vec<RecoveryCodeHash> {
    let codes = recovery::generate(user_id).stored;
    assert!(
        store
            .enable_totp(totp(100), &codes, change(user_id, EventKind::MfaEnabled))
            .await
            .expect("enable")
    );
    codes
}

async fn enabling_stores_the_secret_codes_event_and_notice_once(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    assert_eq!(store.find_totp(owner.id).await.expect("find"), None);
    enabled(&store, owner.id).await;

    assert_eq!(store.find_totp(owner.id).await.expect("find"), Some(totp(100)));
    let status = store.mfa_status(owner.id).await.expect("status");
    assert_eq!((status.totp, status.recovery_codes_left), (true, 10));
    assert_eq!(kinds(&store, owner.id).await, vec![EventKind::MfaEnabled]);
    assert_eq!(queued_for(&store, owner.id).await, 1);
    // A second enabling is refused by the primary key and writes nothing.
    let again = recovery::generate(owner.id).stored;
    assert!(
        !store
            .enable_totp(totp(200), &again, change(owner.id, EventKind::MfaEnabled))
            .await
            .expect("enable again")
    );
    assert_eq!(store.find_totp(owner.id).await.expect("find"), Some(totp(100)));
    assert_eq!(queued_for(&store, owner.id).await, 1);
    assert_eq!(kinds(&store, owner.id).await.len(), 1);
    assert!(
        !store
            .redeem_recovery_code(owner.id, &again[0], at(1))
            .await
            .expect("redeem")
    );
}

async fn parallel_uses_of_one_totp_step_have_one_winner(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    enabled(&store, owner.id).await;
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.use_totp_step(owner.id, 101).await })
        })
        .collect();
    let mut winners = 0;
    for attempt in attempts {
        if attempt.await.expect("join").expect("use step") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(
        store
            .find_totp(owner.id)
            .await
            .expect("find")
            .expect("some")
            .last_used_step,
        101
    );
    // The same or an earlier step is refused; a later one is taken.
    assert!(!store.use_totp_step(owner.id, 101).await.expect("same"));
    assert!(!store.use_totp_step(owner.id, 99).await.expect("earlier"));
    assert!(store.use_totp_step(owner.id, 103).await.expect("later"));
    // No secret, no step.
    assert!(!store.use_totp_step(Uuid::now_v7(), 500).await.expect("nobody"));
}

async fn a_recovery_code_is_redeemed_once_even_in_parallel(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let other = user(&store).await;
    let codes = enabled(&store, owner.id).await;
    // Another user's id never matches (the digest is bound to the user, and so is the row).
    assert!(
        !store
            .redeem_recovery_code(other.id, &codes[0], at(1))
            .await
            .expect("other")
    );
    let code = codes[0];
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.redeem_recovery_code(owner.id, &code, at(1)).await })
        })
        .collect();
    let mut winners = 0;
    for attempt in attempts {
        if attempt.await.expect("join").expect("redeem") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(store.mfa_status(owner.id).await.expect("status").recovery_codes_left, 9);
    assert!(
        store
            .redeem_recovery_code(owner.id, &codes[1], at(2))
            .await
            .expect("next")
    );
    assert_eq!(store.mfa_status(owner.id).await.expect("status").recovery_codes_left, 8);
}

async fn regenerating_replaces_the_set_and_disabling_removes_everything(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let old = enabled(&store, owner.id).await;
    assert!(
        store
            .redeem_recovery_code(owner.id, &old[0], at(1))
            .await
            .expect("redeem")
    );
    let fresh = recovery::generate(owner.id).stored;
    assert!(
        store
            .replace_recovery_codes(&fresh, change(owner.id, EventKind::RecoveryCodesRegenerated))
            .await
            .expect("replace")
    );
    assert_eq!(
        store.mfa_status(owner.id).await.expect("status").recovery_codes_left,
        10
    );
    assert!(!store.redeem_recovery_code(owner.id, &old[1], at(2)).await.expect("old"));
    assert!(
        store
            .redeem_recovery_code(owner.id, &fresh[1], at(2))
            .await
            .expect("fresh")
    );

    assert!(
        store
            .disable_totp(change(owner.id, EventKind::MfaDisabled))
            .await
            .expect("disable")
    );
    let status = store.mfa_status(owner.id).await.expect("status");
    assert_eq!((status.totp, status.recovery_codes_left), (false, 0));
    assert_eq!(store.find_totp(owner.id).await.expect("find"), None);
    assert_eq!(
        kinds(&store, owner.id).await,
        vec![
            EventKind::MfaEnabled,
            EventKind::RecoveryCodesRegenerated,
            EventKind::MfaDisabled
        ]
    );
    assert_eq!(queued_for(&store, owner.id).await, 3);
    // Without TOTP, neither disabling nor regenerating writes anything.
    assert!(
        !store
            .disable_totp(change(owner.id, EventKind::MfaDisabled))
            .await
            .expect("again")
    );
    assert!(
        !store
            .replace_recovery_codes(&fresh, change(owner.id, EventKind::RecoveryCodesRegenerated))
            .await
            .expect("no factor")
    );
    assert_eq!(kinds(&store, owner.id).await.len(), 3);
    assert_eq!(queued_for(&store, owner.id).await, 3);
}

async fn an_administrators_removal_takes_every_factor(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let bystander = user(&store).await;
    enabled(&store, owner.id).await;
    enabled(&store, bystander.id).await;
    assert!(
        store
            .remove_second_factors(change(owner.id, EventKind::MfaDisabled))
            .await
            .expect("remove")
    );
    let status = store.mfa_status(owner.id).await.expect("status");
    assert_eq!(
        (status.totp, status.recovery_codes_left, status.passkeys),
        (false, 0, 0)
    );
    assert!(store.mfa_status(bystander.id).await.expect("status").totp);
    assert!(
        !store
            .remove_second_factors(change(owner.id, EventKind::MfaDisabled))
            .await
            .expect("nothing left")
    );
    assert_eq!(
        kinds(&store, owner.id).await,
        vec![EventKind::MfaEnabled, EventKind::MfaDisabled]
    );
}

async fn challenge_attempts_are_counted_once_each_and_not_after_expiry(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let (_, challenge) = MfaChallenge::issue(owner.id, TokenDelivery::Body, t0());
    store.insert_mfa_challenge(&challenge).await.expect("insert");
    assert_eq!(
        store.find_mfa_challenge(&challenge.key).await.expect("find"),
        Some(challenge.clone())
    );
    // Eight parallel first attempts: one counts, the rest lost the race.
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let key = challenge.key;
            tokio::spawn(async move { store.record_mfa_attempt(&key, 1, at(1)).await })
        })
        .collect();
    let mut counted = 0;
    for attempt in attempts {
        if attempt.await.expect("join").expect("attempt") {
            counted += 1;
        }
    }
    assert_eq!(counted, 1);
    for n in 2..=MAX_ATTEMPTS {
        assert!(
            store
                .record_mfa_attempt(&challenge.key, n, at(2))
                .await
                .expect("attempt")
        );
    }
    let stored = store
        .find_mfa_challenge(&challenge.key)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(stored.attempts, MAX_ATTEMPTS);
    // Expired (exactly at expires_at, to the microsecond): not counted.
    let (_, late) = MfaChallenge::issue(owner.id, TokenDelivery::Cookie, t0());
    store.insert_mfa_challenge(&late).await.expect("insert");
    assert!(
        !store
            .record_mfa_attempt(&late.key, 1, late.expires_at)
            .await
            .expect("late")
    );
    assert!(
        store
            .record_mfa_attempt(&late.key, 1, late.expires_at - Duration::milliseconds(1))
            .await
            .expect("just in time")
    );
    // Swept once expired, with the ceremonies.
    assert_eq!(
        store
            .sweep_expired_ceremonies(late.expires_at + Duration::seconds(2))
            .await
            .expect("sweep"),
        2
    );
    assert_eq!(store.find_mfa_challenge(&late.key).await.expect("find"), None);
}

async fn completing_a_challenge_creates_one_session_and_consumes_it(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let (_, challenge) = MfaChallenge::issue(owner.id, TokenDelivery::Cookie, t0());
    store.insert_mfa_challenge(&challenge).await.expect("insert");
    let attempts: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let key = challenge.key;
            let session = new_session(owner.id);
            let event = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(session.id));
            tokio::spawn(async move { (session.id, store.complete_mfa_challenge(&key, session, event).await) })
        })
        .collect();
    let mut sessions = Vec::new();
    for attempt in attempts {
        let (id, outcome) = attempt.await.expect("join");
        match outcome.expect("complete") {
            ChallengeCompletion::Completed => sessions.push(id),
            ChallengeCompletion::Gone => {
                assert_eq!(store.find_session(id).await.expect("find"), None);
            }
        }
    }
    assert_eq!(sessions.len(), 1, "exactly one session");
    assert!(store.find_session(sessions[0]).await.expect("find").is_some());
    assert_eq!(store.find_mfa_challenge(&challenge.key).await.expect("find"), None);
    assert_eq!(kinds(&store, owner.id).await, vec![EventKind::LoginSucceeded]);

    // A disabled owner: refused, and the challenge stays (the transaction rolled back).
    let (_, kept) = MfaChallenge::issue(owner.id, TokenDelivery::Cookie, t0());
    store.insert_mfa_challenge(&kept).await.expect("insert");
    store
        .set_user_disabled(owner.id, true, at(3), &meta())
        .await
        .expect("disable")
        .expect("exists");
    let session = new_session(owner.id);
    let event = SecurityEvent::new(owner.id, EventKind::LoginSucceeded, t0(), &meta(), Some(session.id));
    assert!(matches!(
        store.complete_mfa_challenge(&kept.key, session, event).await,
        Err(StoreError::AccountDisabled)
    ));
    assert!(store.find_mfa_challenge(&kept.key).await.expect("find").is_some());
}

tessera_store::backend_tests!(
    enabling_stores_the_secret_codes_event_and_notice_once,
    parallel_uses_of_one_totp_step_have_one_winner,
    a_recovery_code_is_redeemed_once_even_in_parallel,
    regenerating_replaces_the_set_and_disabling_removes_everything,
    an_administrators_removal_takes_every_factor,
    challenge_attempts_are_counted_once_each_and_not_after_expiry,
    completing_a_challenge_creates_one_session_and_consumes_it,
);
