//! The durable mail queue: claims exclude each other (also across pools, i.e. instances), leases
//! expire, retries wait, sent and failed messages lose their payload, and mail queued with a
//! change commits or rolls back with it.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tessera_auth_core::events::{EventKind, SecurityEvent};
use tessera_auth_core::mail::{CLAIM_LEASE, MailIntent, MailKind, OutgoingMail, Recipient, SealedMail};
use tessera_auth_core::ports::MailQueue;
use tessera_auth_core::secret::MasterKey;
use tessera_store::SeaStore;
use tessera_store::entity::mail_queue;
use tessera_store::testing::{TestDatabase, migrated_store, record_event_with_mail};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::support::{at, events_of, meta, t0, user};

fn sealed(created_at: OffsetDateTime) -> SealedMail {
    let mail = OutgoingMail::new(
        None,
        Recipient {
            address: "ada@example.com".to_owned(),
            name: "Ada".to_owned(),
        },
        MailIntent::PasswordChanged { at: created_at },
        created_at,
    );
    MasterKey::generate().mail_sealing_key().seal(&mail)
}

async fn row(store: &SeaStore, id: Uuid) -> mail_queue::Model {
    mail_queue::Entity::find_by_id(id)
        .one(store.connection())
        .await
        .expect("read mail row")
        .expect("mail row exists")
}

async fn a_message_is_claimed_once_marked_sent_and_its_payload_erased(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let mail = sealed(t0());
    store.enqueue_mail(mail.clone()).await.expect("enqueue");
    let stats = store.mail_stats().await.expect("stats");
    assert_eq!((stats.queued, stats.sent, stats.failed), (1, 0, 0));
    assert_eq!(stats.oldest_queued_at, Some(t0()));

    let claimed = store.claim_mail(t0(), CLAIM_LEASE).await.expect("claim").expect("due");
    assert_eq!(claimed.claim.id, mail.id);
    assert_eq!((claimed.kind, claimed.attempts), (MailKind::PasswordChanged, 1));
    assert_eq!(
        (claimed.sealed.clone(), claimed.created_at),
        (mail.sealed.clone(), t0())
    );
    assert!(
        store.claim_mail(t0(), CLAIM_LEASE).await.expect("claim").is_none(),
        "a claimed message is not claimed again while the lease holds"
    );

    assert!(store.mark_mail_sent(claimed.claim, at(1)).await.expect("mark sent"));
    let stored = row(&store, mail.id).await;
    assert_eq!(stored.status, "sent");
    assert_eq!(
        stored.payload, None,
        "the payload (and any token in it) is erased once sent"
    );
    assert_eq!(stored.claim, None);
    assert!(!store.mark_mail_sent(claimed.claim, at(2)).await.expect("mark again"));
    assert!(store.claim_mail(at(3600), CLAIM_LEASE).await.expect("claim").is_none());
    let stats = store.mail_stats().await.expect("stats");
    assert_eq!(
        (stats.queued, stats.sent, stats.failed, stats.oldest_queued_at),
        (0, 1, 0, None)
    );
}

async fn a_lease_that_runs_out_lets_another_worker_claim_and_voids_the_first_claim(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let mail = sealed(t0());
    store.enqueue_mail(mail.clone()).await.expect("enqueue");
    assert!(
        store
            .claim_mail(t0() - Duration::seconds(1), CLAIM_LEASE)
            .await
            .expect("claim")
            .is_none(),
        "not due before it was queued"
    );
    let first = store.claim_mail(t0(), CLAIM_LEASE).await.expect("claim").expect("due");
    // The first worker dies. Just before the lease runs out nobody can claim it...
    let almost = t0() + CLAIM_LEASE - Duration::seconds(1);
    assert!(store.claim_mail(almost, CLAIM_LEASE).await.expect("claim").is_none());
    // ...then another worker can.
    let second = store
        .claim_mail(t0() + CLAIM_LEASE, CLAIM_LEASE)
        .await
        .expect("claim")
        .expect("due again after the lease");
    assert_eq!(second.claim.id, mail.id);
    assert_ne!(second.claim.claim, first.claim.claim);
    assert_eq!(second.attempts, 2);
    // A first worker that was only slow cannot mark what it no longer holds.
    assert!(!store.mark_mail_sent(first.claim, at(700)).await.expect("stale mark"));
    assert!(
        !store
            .retry_mail(first.claim, at(800), "late")
            .await
            .expect("stale retry")
    );
    assert!(!store.fail_mail(first.claim, at(800), "late").await.expect("stale fail"));
    assert_eq!(row(&store, mail.id).await.status, "queued");
    assert!(store.mark_mail_sent(second.claim, at(700)).await.expect("mark"));
}

async fn a_failed_attempt_waits_for_its_retry_and_giving_up_erases_the_payload(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let mail = sealed(t0());
    store.enqueue_mail(mail.clone()).await.expect("enqueue");
    let claimed = store.claim_mail(t0(), CLAIM_LEASE).await.expect("claim").expect("due");
    let retry_at = t0() + Duration::seconds(15);
    assert!(
        store
            .retry_mail(claimed.claim, retry_at, "connection refused")
            .await
            .expect("retry")
    );
    let stored = row(&store, mail.id).await;
    assert_eq!(
        (stored.status.as_str(), stored.last_error.as_deref()),
        ("queued", Some("connection refused"))
    );
    assert!(stored.payload.is_some(), "kept for the retry");
    assert!(
        store
            .claim_mail(retry_at - Duration::milliseconds(500), CLAIM_LEASE)
            .await
            .expect("claim")
            .is_none(),
        "not before its retry time (exactly, also within the same second)"
    );
    let again = store
        .claim_mail(retry_at, CLAIM_LEASE)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(again.attempts, 2);
    let long_error = "x".repeat(5_000);
    assert!(
        store
            .fail_mail(again.claim, at(90_000), &long_error)
            .await
            .expect("fail")
    );
    let stored = row(&store, mail.id).await;
    assert_eq!(stored.status, "failed");
    assert_eq!(stored.payload, None, "erased once given up");
    assert_eq!(
        stored.last_error.map(|e| e.chars().count()),
        Some(500),
        "error text bounded"
    );
    assert!(
        store
            .claim_mail(at(100_000), CLAIM_LEASE)
            .await
            .expect("claim")
            .is_none()
    );
    let stats = store.mail_stats().await.expect("stats");
    assert_eq!((stats.queued, stats.sent, stats.failed), (0, 0, 1));
}

async fn mail_queued_with_a_change_commits_and_rolls_back_with_it(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let user = user(&store).await;
    let event = |kind| SecurityEvent::new(user.id, kind, t0(), &meta(), None);
    let dropped = sealed(t0());
    record_event_with_mail(&store, event(EventKind::PasswordChanged), &dropped, false)
        .await
        .expect("rolled back");
    assert!(events_of(&store, user.id).await.is_empty());
    assert!(
        mail_queue::Entity::find_by_id(dropped.id)
            .one(store.connection())
            .await
            .expect("read")
            .is_none(),
        "no mail without its change"
    );
    let kept = sealed(t0());
    record_event_with_mail(&store, event(EventKind::PasswordChanged), &kept, true)
        .await
        .expect("committed");
    assert_eq!(events_of(&store, user.id).await.len(), 1);
    assert_eq!(row(&store, kept.id).await.status, "queued");
    // The commit woke the worker: a permit is waiting.
    tokio::time::timeout(std::time::Duration::from_secs(5), store.mail_wakeup().notified())
        .await
        .expect("the worker was woken");
}

async fn concurrent_claims_from_two_pools_never_share_a_message(db: &TestDatabase) {
    let a = migrated_store(db).await;
    let b = SeaStore::connect(&db.url).await.expect("second pool");
    let mut queued = HashSet::new();
    for i in 0..40 {
        let mail = sealed(at(i));
        queued.insert(mail.id);
        a.enqueue_mail(mail).await.expect("enqueue");
    }
    let now = at(100);
    let workers = (0..6).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(claimed) = store.claim_mail(now, CLAIM_LEASE).await.expect("claim") {
                assert!(store.mark_mail_sent(claimed.claim, now).await.expect("mark"));
                mine.push(claimed.claim.id);
            }
            mine
        })
    });
    let mut claimed = Vec::new();
    for worker in workers {
        claimed.extend(worker.await.expect("worker"));
    }
    let distinct: HashSet<Uuid> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), 40, "every message claimed exactly once");
    assert_eq!(distinct, queued);
    assert_eq!(a.mail_stats().await.expect("stats").sent, 40);
}

async fn messages_are_claimed_oldest_due_first_and_old_sent_ones_pruned(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let older = sealed(at(0));
    let newer = sealed(at(5));
    store.enqueue_mail(newer.clone()).await.expect("enqueue");
    store.enqueue_mail(older.clone()).await.expect("enqueue");
    let first = store
        .claim_mail(at(10), CLAIM_LEASE)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(first.claim.id, older.id);
    assert!(store.mark_mail_sent(first.claim, at(10)).await.expect("mark"));
    let second = store
        .claim_mail(at(10), CLAIM_LEASE)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(second.claim.id, newer.id);
    assert!(store.mark_mail_sent(second.claim, at(3600)).await.expect("mark"));
    assert_eq!(store.prune_sent_mail(at(60)).await.expect("prune"), 1);
    let left: Vec<Uuid> = mail_queue::Entity::find()
        .filter(mail_queue::Column::Status.eq("sent"))
        .all(store.connection())
        .await
        .expect("rows")
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(left, vec![newer.id]);
}

tessera_store::backend_tests!(
    a_message_is_claimed_once_marked_sent_and_its_payload_erased,
    a_lease_that_runs_out_lets_another_worker_claim_and_voids_the_first_claim,
    a_failed_attempt_waits_for_its_retry_and_giving_up_erases_the_payload,
    mail_queued_with_a_change_commits_and_rolls_back_with_it,
    concurrent_claims_from_two_pools_never_share_a_message,
    messages_are_claimed_oldest_due_first_and_old_sent_ones_pruned,
);

/// PostgreSQL: a message whose row another instance holds locked (it is claiming it right now) is
/// skipped, not waited for: the claim takes the next one at once (`FOR UPDATE SKIP LOCKED`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_skips_a_message_another_instance_holds_locked() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(db) = TestDatabase::postgres() else {
        eprintln!("skipped: TEST_DATABASE_URL not set");
        return;
    };
    let store = migrated_store(&db).await;
    let first = sealed(at(0));
    let second = sealed(at(1));
    store.enqueue_mail(first.clone()).await.expect("enqueue");
    store.enqueue_mail(second.clone()).await.expect("enqueue");
    let other = SeaStore::connect(&db.url).await.expect("other instance");
    let txn = other.connection().begin().await.expect("begin");
    txn.execute_unprepared(&format!(
        "SELECT id FROM mail_queue WHERE id = '{}' FOR UPDATE",
        first.id
    ))
    .await
    .expect("lock the oldest message");
    let claimed = tokio::time::timeout(std::time::Duration::from_secs(5), store.claim_mail(at(10), CLAIM_LEASE))
        .await
        .expect("the claim does not wait for the locked row")
        .expect("claim")
        .expect("the other message is due");
    assert_eq!(claimed.claim.id, second.id);
    txn.rollback().await.expect("rollback");
    let next = store
        .claim_mail(at(10), CLAIM_LEASE)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(next.claim.id, first.id, "once released, the locked one is claimed");
}
