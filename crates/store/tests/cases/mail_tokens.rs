//! Mail tokens and the flows that consume them: single use under concurrency, purpose and expiry
//! checked without consuming, the mail queued in the same transaction, the spacing of mails,
//! and an email change that another account beat to the address.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tessera_auth_core::events::{EventKind, SecurityEvent};
use tessera_auth_core::mail::{MailIntent, OutgoingMail, Recipient, SealedMail};
use tessera_auth_core::mail_token::{MailTokenHash, MailTokenPurpose, NewMailToken};
use tessera_auth_core::ports::{
    EmailConfirmation, LoginThrottleRepository, MailTokenRepository, PasswordReset, TokenIssue, UserRepository,
};
use tessera_auth_core::secret::MasterKey;
use tessera_auth_core::session::RevocationReason;
use tessera_auth_core::user::{Email, User};
use tessera_store::SeaStore;
use tessera_store::entity::mail_queue;
use tessera_store::testing::{TestDatabase, migrated_store};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::support::{at, events_of, meta, new_user, session_at, stored_session, t0, user};

fn notice(user_id: Uuid, at: OffsetDateTime) -> SealedMail {
    let mail = OutgoingMail::new(
        Some(user_id),
        Recipient {
            address: "ada@example.com".to_owned(),
            name: "Ada".to_owned(),
        },
        MailIntent::PasswordChanged { at },
        at,
    );
    MasterKey::from_bytes([7; 32]).mail_sealing_key().seal(&mail)
}

fn token(user_id: Uuid, purpose: MailTokenPurpose, seed: u8, created_at: OffsetDateTime) -> NewMailToken {
    NewMailToken {
        hash: MailTokenHash([seed; 32]),
        user_id,
        purpose,
        new_email: None,
        session_id: None,
        created_at,
        expires_at: created_at + Duration::minutes(30),
    }
}

async fn issue(store: &SeaStore, token: NewMailToken) -> TokenIssue {
    let created_at = token.created_at;
    let mail = notice(token.user_id, created_at);
    store
        .issue_mail_token(token, vec![mail], None, created_at - Duration::seconds(60))
        .await
        .expect("issue token")
}

async fn queued_for(store: &SeaStore, user_id: Uuid) -> u64 {
    mail_queue::Entity::find()
        .filter(mail_queue::Column::UserId.eq(user_id))
        .count(store.connection())
        .await
        .expect("count mail")
}

fn reset_of(user: &User, seed: u8, at: OffsetDateTime) -> PasswordReset {
    PasswordReset {
        token: MailTokenHash([seed; 32]),
        user_id: user.id,
        password_hash: "$argon2id$reset".to_owned(),
        throttle_key: [0x51; 32],
        at,
        meta: meta(),
        notice: notice(user.id, at),
    }
}

async fn concurrent_uses_of_one_token_exactly_one_wins(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    assert_eq!(
        issue(&store, token(owner.id, MailTokenPurpose::VerifyEmail, 1, at(0))).await,
        TokenIssue::Issued
    );
    let hash = MailTokenHash([1; 32]);
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.verify_email(&hash, at(1), &meta()).await })
        })
        .collect();
    let mut winners = 0;
    for attempt in attempts {
        if attempt.await.expect("join").expect("verify").is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one use succeeds");
    let verified = store.find_user(owner.id).await.expect("find").expect("exists");
    assert!(verified.email_verified);
    let kinds: Vec<EventKind> = events_of(&store, owner.id).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds.iter().filter(|kind| **kind == EventKind::EmailVerified).count(),
        1
    );
}

async fn concurrent_resets_with_one_token_exactly_one_wins(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    issue(&store, token(owner.id, MailTokenPurpose::ResetPassword, 2, at(0))).await;
    let attempts: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            let reset = reset_of(&owner, 2, at(1));
            tokio::spawn(async move { store.reset_password(reset).await })
        })
        .collect();
    let mut winners = 0;
    for attempt in attempts {
        if attempt.await.expect("join").expect("reset") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    // The issue's mail and one notice.
    assert_eq!(queued_for(&store, owner.id).await, 2);
}

async fn a_token_of_another_purpose_or_past_its_expiry_is_refused_and_left_as_it_was(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    issue(&store, token(owner.id, MailTokenPurpose::ResetPassword, 3, at(0))).await;
    let hash = MailTokenHash([3; 32]);
    assert_eq!(store.verify_email(&hash, at(1), &meta()).await.expect("verify"), None);
    let confirm = store.confirm_email(&hash, at(1), &meta()).await.expect("confirm");
    assert_eq!(confirm, EmailConfirmation::Invalid);
    let stored = store.find_mail_token(&hash).await.expect("find").expect("exists");
    assert_eq!(stored.used_at, None, "a token of another purpose is not consumed");
    assert!(
        !store
            .find_user(owner.id)
            .await
            .expect("find")
            .expect("exists")
            .email_verified
    );

    // Expires at 30 min exactly: a second before it works is tested by the reset below.
    let expiry = 30 * 60;
    assert!(
        !store
            .reset_password(reset_of(&owner, 3, at(expiry)))
            .await
            .expect("reset")
    );
    assert!(
        store
            .reset_password(reset_of(&owner, 3, at(expiry - 1)))
            .await
            .expect("reset")
    );
    assert!(
        !store
            .reset_password(reset_of(&owner, 3, at(expiry - 1)))
            .await
            .expect("reset again")
    );
    assert!(
        !store
            .reset_password(reset_of(&owner, 9, at(1)))
            .await
            .expect("unknown token")
    );
}

async fn a_reset_sets_the_password_kills_other_reset_tokens_clears_the_backoff_and_queues_a_notice(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    issue(&store, token(owner.id, MailTokenPurpose::ResetPassword, 4, at(0))).await;
    issue(&store, token(owner.id, MailTokenPurpose::ResetPassword, 5, at(61))).await;
    issue(&store, token(owner.id, MailTokenPurpose::VerifyEmail, 6, at(0))).await;
    store.record_login_failure(&[0x51; 32], at(62)).await.expect("failure");
    assert!(store.reset_password(reset_of(&owner, 4, at(70))).await.expect("reset"));
    let reloaded = store.find_user(owner.id).await.expect("find").expect("exists");
    assert_eq!(reloaded.password_hash, "$argon2id$reset");
    let other = store
        .find_mail_token(&MailTokenHash([5; 32]))
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(other.used_at, Some(at(70)), "the other reset token dies");
    let verify = store
        .find_mail_token(&MailTokenHash([6; 32]))
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(verify.used_at, None, "a verification token is no reset token");
    assert_eq!(store.login_failures(&[0x51; 32]).await.expect("read"), None);
    assert_eq!(queued_for(&store, owner.id).await, 4);
    let kinds: Vec<EventKind> = events_of(&store, owner.id).await.into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EventKind::PasswordReset), "{kinds:?}");
}

async fn a_password_change_kills_outstanding_reset_tokens_and_queues_its_notice(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let current = session_at(&store, owner.id, at(0)).await;
    issue(&store, token(owner.id, MailTokenPurpose::ResetPassword, 7, at(0))).await;
    store
        .change_password(
            owner.id,
            "$argon2id$changed",
            current,
            at(5),
            &meta(),
            notice(owner.id, at(5)),
        )
        .await
        .expect("change")
        .expect("exists");
    let killed = store
        .find_mail_token(&MailTokenHash([7; 32]))
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(killed.used_at, Some(at(5)));
    assert!(!store.reset_password(reset_of(&owner, 7, at(6))).await.expect("reset"));
    assert_eq!(queued_for(&store, owner.id).await, 2);
}

async fn mails_of_one_purpose_are_spaced_a_minute_apart(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    assert_eq!(
        issue(&store, token(owner.id, MailTokenPurpose::ResetPassword, 10, at(0))).await,
        TokenIssue::Issued
    );
    assert_eq!(
        issue(&store, token(owner.id, MailTokenPurpose::ResetPassword, 11, at(59))).await,
        TokenIssue::TooSoon { last_issued_at: at(0) }
    );
    assert_eq!(
        issue(&store, token(owner.id, MailTokenPurpose::VerifyEmail, 12, at(59))).await,
        TokenIssue::Issued,
        "another purpose has its own spacing"
    );
    assert_eq!(
        issue(&store, token(owner.id, MailTokenPurpose::ResetPassword, 13, at(60))).await,
        TokenIssue::Issued
    );
    assert_eq!(queued_for(&store, owner.id).await, 3, "nothing queued when too soon");
    assert_eq!(
        issue(
            &store,
            token(Uuid::now_v7(), MailTokenPurpose::ResetPassword, 14, at(0))
        )
        .await,
        TokenIssue::NoUser
    );
    let event = SecurityEvent::new(owner.id, EventKind::PasswordResetRequested, at(200), &meta(), None);
    let issued = store
        .issue_mail_token(
            token(owner.id, MailTokenPurpose::ResetPassword, 15, at(200)),
            vec![notice(owner.id, at(200))],
            Some(event),
            at(140),
        )
        .await
        .expect("issue");
    assert_eq!(issued, TokenIssue::Issued);
    let kinds: Vec<EventKind> = events_of(&store, owner.id).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EventKind::PasswordResetRequested]);
}

async fn a_registration_and_its_verification_mail_commit_together(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let input = new_user("verify-me@example.com");
    let id = input.id;
    let created = store
        .create_user_with_verification(
            input,
            token(id, MailTokenPurpose::VerifyEmail, 20, t0()),
            notice(id, t0()),
        )
        .await
        .expect("create");
    assert!(!created.email_verified);
    assert_eq!(queued_for(&store, id).await, 1);
    let again = new_user("VERIFY-ME@example.com");
    let again_id = again.id;
    let refused = store
        .create_user_with_verification(
            again,
            token(again_id, MailTokenPurpose::VerifyEmail, 21, t0()),
            notice(again_id, t0()),
        )
        .await;
    assert!(
        matches!(refused, Err(tessera_auth_core::ports::StoreError::EmailTaken)),
        "{refused:?}"
    );
    assert_eq!(
        queued_for(&store, again_id).await,
        0,
        "a refused registration queues nothing"
    );
    assert!(
        store
            .find_mail_token(&MailTokenHash([21; 32]))
            .await
            .expect("find")
            .is_none()
    );
}

async fn a_confirmed_change_moves_the_address_and_keeps_only_the_asking_session(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let asking = session_at(&store, owner.id, at(0)).await;
    let other = session_at(&store, owner.id, at(1)).await;
    issue(&store, token(owner.id, MailTokenPurpose::ResetPassword, 30, at(0))).await;
    let mut change = token(owner.id, MailTokenPurpose::ConfirmEmail, 31, at(2));
    change.new_email = Some(Email::parse("new-home@example.com").expect("valid"));
    change.session_id = Some(asking);
    issue(&store, change).await;

    let hash = MailTokenHash([31; 32]);
    let confirmed = store.confirm_email(&hash, at(3), &meta()).await.expect("confirm");
    assert_eq!(
        confirmed,
        EmailConfirmation::Confirmed {
            user_id: owner.id,
            revoked: vec![other],
            kept: Some(asking)
        }
    );
    let moved = store.find_user(owner.id).await.expect("find").expect("exists");
    assert_eq!(
        (moved.email.as_str(), moved.email_verified),
        ("new-home@example.com", true)
    );
    assert_eq!(stored_session(&store, asking).await.revoked_at, None);
    assert_eq!(
        stored_session(&store, other).await.revoked_reason,
        Some(RevocationReason::EmailChanged)
    );
    let reset = store
        .find_mail_token(&MailTokenHash([30; 32]))
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        reset.used_at,
        Some(at(3)),
        "links mailed to the old address die with the change"
    );
    assert_eq!(
        store.confirm_email(&hash, at(4), &meta()).await.expect("again"),
        EmailConfirmation::Invalid
    );
}

async fn a_change_to_an_address_taken_meanwhile_is_refused_and_keeps_its_token(db: &TestDatabase) {
    let store = migrated_store(db).await;
    let owner = user(&store).await;
    let mut change = token(owner.id, MailTokenPurpose::ConfirmEmail, 40, at(0));
    change.new_email = Some(Email::parse("contested@example.com").expect("valid"));
    issue(&store, change).await;
    store
        .create_user(new_user("contested@example.com"))
        .await
        .expect("someone else takes it");
    let hash = MailTokenHash([40; 32]);
    assert_eq!(
        store.confirm_email(&hash, at(1), &meta()).await.expect("confirm"),
        EmailConfirmation::Taken
    );
    let kept = store.find_mail_token(&hash).await.expect("find").expect("exists");
    assert_eq!(kept.used_at, None, "the token is not consumed");
    let unchanged = store.find_user(owner.id).await.expect("find").expect("exists");
    assert_eq!(unchanged.email, owner.email);
}

tessera_store::backend_tests!(
    concurrent_uses_of_one_token_exactly_one_wins,
    concurrent_resets_with_one_token_exactly_one_wins,
    a_token_of_another_purpose_or_past_its_expiry_is_refused_and_left_as_it_was,
    a_reset_sets_the_password_kills_other_reset_tokens_clears_the_backoff_and_queues_a_notice,
    a_password_change_kills_outstanding_reset_tokens_and_queues_its_notice,
    mails_of_one_purpose_are_spaced_a_minute_apart,
    a_registration_and_its_verification_mail_commit_together,
    a_confirmed_change_moves_the_address_and_keeps_only_the_asking_session,
    a_change_to_an_address_taken_meanwhile_is_refused_and_keeps_its_token,
);
