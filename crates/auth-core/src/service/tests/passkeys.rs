//! Passkeys end to end over the in-memory store and the scripted relying party: registration,
//! the list, rename and delete, the usernameless login, a passkey as the second factor of a
//! password login and for re-authentication; ceremonies single use, five minutes, and their
//! owner's only.

use serde_json::Value;

use super::*;
use crate::account::PasskeySummary;
use crate::mail::{MailIntent, MailKind, SecondFactor};
use crate::mfa::ceremony::CeremonyError;
use crate::mfa::challenge::ChallengeKey;
use crate::mfa::passkey::PasskeyError;
use crate::mfa::policy::{Amr, AmrSet, MfaMethod, ReauthMethod};
use crate::ports::{CeremonyRepository, PasskeyRepository, PasskeyUse};
use crate::reauth::ReauthCredential;

fn claims_of(h: &Harness, logged_in: &LoggedIn) -> AccessClaims {
    h.service.authenticate(&logged_in.tokens.access_token).unwrap()
}

/// A fresh password login's claims (of a user without a second factor).
async fn login_claims(h: &Harness, email: &str) -> AccessClaims {
    match h
        .service
        .login(email, PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap()
    {
        LoginOutcome::LoggedIn(login) => claims_of(h, &login),
        LoginOutcome::MfaRequired(_) => panic!("{email} has a second factor"),
    }
}

/// Registers `key` as "Laptop" for the session of `claims`.
async fn register(h: &Harness, claims: &AccessClaims, key: &mut ScriptedKey) -> PasskeySummary {
    let options = h.service.passkey_registration_options(claims).await.unwrap();
    let credential = key.answer(&options);
    h.service
        .register_passkey(claims, "Laptop", &credential, &meta())
        .await
        .unwrap()
}

/// A user "ada" with one passkey; the registration's session claims and the key.
async fn ada_with_passkey(h: &Harness) -> (LoggedIn, AccessClaims, ScriptedKey) {
    let ada = h.register("ada@example.com").await;
    let claims = claims_of(h, &ada);
    let mut key = ScriptedKey::new(ada.user.id);
    register(h, &claims, &mut key).await;
    (ada, claims, key)
}

async fn passkey_login(h: &Harness, key: &mut ScriptedKey) -> Result<LoggedIn, AuthError> {
    let options = h.service.passkey_login_options().await.unwrap();
    let credential = key.answer(&options);
    h.service
        .login_with_passkey(&credential, TokenDelivery::Cookie, &meta())
        .await
}

#[tokio::test]
async fn a_registered_passkey_is_listed_announced_and_recorded() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let claims = claims_of(&h, &ada);
    let mut key = ScriptedKey::new(ada.user.id);
    let options = h.service.passkey_registration_options(&claims).await.unwrap();
    let credential = key.answer(&options);
    let added = h
        .service
        .register_passkey(&claims, "  Laptop  ", &credential, &meta())
        .await
        .unwrap();
    assert_eq!(added.name, "Laptop");
    assert_eq!((added.created_at, added.last_used_at), (T0, None));
    assert_eq!(h.service.list_passkeys(&claims).await.unwrap(), vec![added.clone()]);
    let event = h.store.events().into_iter().last().unwrap();
    assert_eq!(
        (event.kind, event.session_id),
        (EventKind::PasskeyAdded, Some(ada.tokens.session_id))
    );
    let mailed = h.mailed(MailKind::SecondFactorAdded);
    assert_eq!(mailed.len(), 1);
    assert_eq!(mailed[0].0.address, "ada@example.com");
    assert_eq!(
        mailed[0].1,
        MailIntent::SecondFactorAdded {
            factor: SecondFactor::Passkey { name: "Laptop".into() },
            at: T0
        }
    );
    // The export lists it.
    let export = h.service.export_account(&claims).await.unwrap();
    assert_eq!(export.passkeys, vec![added]);

    // The next registration excludes the credential (the relying party refuses it again).
    let options = h.service.passkey_registration_options(&claims).await.unwrap();
    assert_eq!(options["state"]["exclude"][0], hex::encode(&key.id));
    let again = h
        .service
        .register_passkey(&claims, "Again", &key.answer(&options), &meta())
        .await;
    assert!(
        matches!(again, Err(AuthError::Passkey(PasskeyError::Rejected(_)))),
        "{again:?}"
    );
}

#[tokio::test]
async fn registration_options_need_a_recent_proof() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    h.clock.advance(Duration::minutes(11));
    let refreshed = h.service.refresh(&ada.tokens.refresh_token, &meta()).await.unwrap();
    let claims = claims_of(&h, &refreshed);
    let refused = h.service.passkey_registration_options(&claims).await;
    assert!(matches!(refused, Err(AuthError::ReauthRequired { .. })), "{refused:?}");
    assert!(h.store.lock().ceremonies.is_empty());
}

#[tokio::test]
async fn a_ceremony_finishes_once_within_five_minutes_for_its_own_user() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let ada_claims = claims_of(&h, &ada);
    h.register("bob@example.com").await;
    let mut key = ScriptedKey::new(ada.user.id);

    // Stale: five minutes on the injected clock.
    let options = h.service.passkey_registration_options(&ada_claims).await.unwrap();
    h.clock.advance(Duration::minutes(5));
    let stale = h
        .service
        .register_passkey(&ada_claims, "Laptop", &key.answer(&options), &meta())
        .await;
    assert!(
        matches!(stale, Err(AuthError::Ceremony(CeremonyError::Expired))),
        "{stale:?}"
    );

    // Another user's ceremony.
    let fresh = login_claims(&h, "ada@example.com").await;
    let options = h.service.passkey_registration_options(&fresh).await.unwrap();
    let bob_fresh = login_claims(&h, "bob@example.com").await;
    let foreign = h
        .service
        .register_passkey(&bob_fresh, "Laptop", &key.answer(&options), &meta())
        .await;
    assert!(
        matches!(foreign, Err(AuthError::Ceremony(CeremonyError::WrongUser))),
        "{foreign:?}"
    );
    // ... which used it up: not even its owner can finish it now.
    let used = h
        .service
        .register_passkey(&fresh, "Laptop", &key.answer_again(&options), &meta())
        .await;
    assert!(
        matches!(used, Err(AuthError::Ceremony(CeremonyError::Unknown))),
        "{used:?}"
    );

    // Single use.
    let options = h.service.passkey_registration_options(&fresh).await.unwrap();
    let credential = key.answer(&options);
    h.service
        .register_passkey(&fresh, "Laptop", &credential, &meta())
        .await
        .unwrap();
    let replayed = h.service.register_passkey(&fresh, "Laptop", &credential, &meta()).await;
    assert!(
        matches!(replayed, Err(AuthError::Ceremony(CeremonyError::Unknown))),
        "{replayed:?}"
    );
    assert_eq!(h.service.list_passkeys(&fresh).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_passkey_with_user_verification_logs_in_as_two_factors() {
    let h = harness();
    let (ada, _, mut key) = ada_with_passkey(&h).await;
    h.clock.advance(Duration::minutes(1));
    let login = passkey_login(&h, &mut key).await.unwrap();
    assert_eq!(login.user.id, ada.user.id);
    let session = h.store.session(login.tokens.session_id);
    assert_eq!(session.amr, AmrSet::of(&[Amr::Hwk, Amr::User, Amr::Mfa]));
    assert_eq!(session.auth_time, T0 + Duration::minutes(1));
    assert_eq!(claims_of(&h, &login).amr, ["hwk", "user", "mfa"]);
    let event = h.store.events().into_iter().last().unwrap();
    assert_eq!(
        (event.kind, event.session_id),
        (EventKind::LoginSucceeded, Some(login.tokens.session_id))
    );
    let stored = h.store.lock().stored_passkeys[0].clone();
    assert_eq!(stored.last_used_at, Some(T0 + Duration::minutes(1)));
    assert_eq!(stored.sign_count, key.counter);

    // A synced passkey: `swk`.
    let bob = h.register("bob@example.com").await;
    let mut synced = ScriptedKey::new(bob.user.id);
    synced.synced = true;
    register(&h, &claims_of(&h, &bob), &mut synced).await;
    let login = passkey_login(&h, &mut synced).await.unwrap();
    assert_eq!(claims_of(&h, &login).amr, ["swk", "user", "mfa"]);
}

#[tokio::test]
async fn a_passkey_without_user_verification_is_one_factor() {
    let h = harness();
    let ada = h.register("ada@example.com").await;
    let mut key = ScriptedKey::new(ada.user.id);
    key.user_verified = false;
    register(&h, &claims_of(&h, &ada), &mut key).await;
    let refused = passkey_login(&h, &mut key).await;
    assert!(matches!(refused, Err(AuthError::MfaRequired)), "{refused:?}");
    assert_eq!(h.store.kinds().last(), Some(&EventKind::LoginFailed));

    // Registered with verification, used without: refused the same way.
    let bob = h.register("bob@example.com").await;
    let mut key = ScriptedKey::new(bob.user.id);
    register(&h, &claims_of(&h, &bob), &mut key).await;
    key.user_verified = false;
    let refused = passkey_login(&h, &mut key).await;
    assert!(matches!(refused, Err(AuthError::MfaRequired)), "{refused:?}");
}

#[tokio::test]
async fn a_login_ceremony_is_single_use_and_lives_five_minutes() {
    let h = harness();
    let (_, _, mut key) = ada_with_passkey(&h).await;
    let options = h.service.passkey_login_options().await.unwrap();
    let credential = key.answer(&options);
    h.service
        .login_with_passkey(&credential, TokenDelivery::Body, &meta())
        .await
        .unwrap();
    let replayed = h
        .service
        .login_with_passkey(&credential, TokenDelivery::Body, &meta())
        .await;
    assert!(
        matches!(replayed, Err(AuthError::Ceremony(CeremonyError::Unknown))),
        "{replayed:?}"
    );

    let options = h.service.passkey_login_options().await.unwrap();
    h.clock.advance(Duration::minutes(5));
    let stale = h
        .service
        .login_with_passkey(&key.answer(&options), TokenDelivery::Body, &meta())
        .await;
    assert!(
        matches!(stale, Err(AuthError::Ceremony(CeremonyError::Expired))),
        "{stale:?}"
    );

    // A registration's challenge is no login's ceremony.
    let unknown: Value = serde_json::json!({"challenge": "00", "id": "00", "user": Uuid::nil().to_string()});
    let refused = h
        .service
        .login_with_passkey(&unknown, TokenDelivery::Body, &meta())
        .await;
    assert!(
        matches!(refused, Err(AuthError::Ceremony(CeremonyError::Unknown))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_device_bound_counter_must_increase() {
    let h = harness();
    let (_, _, mut key) = ada_with_passkey(&h).await;
    passkey_login(&h, &mut key).await.unwrap();
    // A clone: the same counter again, then a lower one.
    let options = h.service.passkey_login_options().await.unwrap();
    let refused = h
        .service
        .login_with_passkey(&key.answer_again(&options), TokenDelivery::Cookie, &meta())
        .await;
    let passkey_id = h.store.lock().stored_passkeys[0].id;
    assert!(
        matches!(refused, Err(AuthError::PasskeyCounterRegressed { passkey_id: id }) if id == passkey_id),
        "{refused:?}"
    );
    assert_eq!(h.store.lock().stored_passkeys[0].sign_count, key.counter);
    // A synced one's copies count on their own: accepted.
    let bob = h.register("bob@example.com").await;
    let mut synced = ScriptedKey::new(bob.user.id);
    synced.synced = true;
    synced.counter = 10;
    register(&h, &claims_of(&h, &bob), &mut synced).await;
    let options = h.service.passkey_login_options().await.unwrap();
    let mut copy = synced.clone();
    copy.counter = 2;
    h.service
        .login_with_passkey(&copy.answer_again(&options), TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
}

#[tokio::test]
async fn racing_assertions_cannot_move_the_counter_back() {
    let h = harness();
    let (_, _, key) = ada_with_passkey(&h).await;
    let stored = h.store.lock().stored_passkeys[0].clone();
    // Both verified against the same stored counter; the higher one was stored first.
    let higher = PasskeyUse {
        passkey_id: stored.id,
        user_id: stored.user_id,
        sign_count: key.counter + 5,
        require_increase: true,
        backup_eligible: false,
        backup_state: false,
        credential: None,
        at: T0,
    };
    assert!(h.store.record_passkey_use(&higher).await.unwrap());
    let lower = PasskeyUse {
        sign_count: key.counter + 3,
        ..higher.clone()
    };
    assert!(!h.store.record_passkey_use(&lower).await.unwrap());
    assert_eq!(h.store.lock().stored_passkeys[0].sign_count, key.counter + 5);
}

#[tokio::test]
async fn a_disabled_account_answers_as_a_failed_login() {
    let h = harness();
    let (ada, _, mut key) = ada_with_passkey(&h).await;
    let mut user = h.store.lock().users[&ada.user.id].clone();
    user.disabled = true;
    h.store.set_user(user);
    let refused = passkey_login(&h, &mut key).await;
    assert!(matches!(refused, Err(AuthError::InvalidCredentials)), "{refused:?}");
    assert_eq!(h.store.kinds().last(), Some(&EventKind::LoginFailed));
}

#[tokio::test]
async fn an_unverified_address_gets_no_session_when_required() {
    let h = harness_with(MailPolicy {
        require_verified_email: true,
        ..MailPolicy::default()
    });
    let email = "ada@example.com";
    let _ = h
        .service
        .register(registration(email), TokenDelivery::Cookie, &meta())
        .await;
    let user = h.store.user_by_email(email);
    // A session to register the passkey with, as a verified user would have had.
    let mut verified = user.clone();
    verified.email_verified = true;
    h.store.set_user(verified);
    let claims = login_claims(&h, email).await;
    let mut key = ScriptedKey::new(user.id);
    register(&h, &claims, &mut key).await;
    h.store.set_user(user);
    let refused = passkey_login(&h, &mut key).await;
    assert!(matches!(refused, Err(AuthError::EmailUnverified)), "{refused:?}");
}

#[tokio::test]
async fn a_foreign_or_forged_assertion_is_refused() {
    let h = harness();
    let (ada, _, mut key) = ada_with_passkey(&h).await;
    // The user handle names someone else.
    let options = h.service.passkey_login_options().await.unwrap();
    let mut lying = key.clone();
    lying.user = Uuid::now_v7();
    let refused = h
        .service
        .login_with_passkey(&lying.answer(&options), TokenDelivery::Cookie, &meta())
        .await;
    assert!(
        matches!(refused, Err(AuthError::Passkey(PasskeyError::UnknownCredential))),
        "{refused:?}"
    );
    // A bad signature.
    let options = h.service.passkey_login_options().await.unwrap();
    let mut forged = key.answer(&options);
    forged["forged"] = true.into();
    let refused = h
        .service
        .login_with_passkey(&forged, TokenDelivery::Cookie, &meta())
        .await;
    assert!(
        matches!(refused, Err(AuthError::Passkey(PasskeyError::Rejected(_)))),
        "{refused:?}"
    );
    assert_eq!(h.store.kinds().last(), Some(&EventKind::LoginFailed));
    let _ = ada;
}

#[tokio::test]
async fn rename_and_delete_reach_only_ones_own_passkeys() {
    let h = harness();
    let (ada, ada_claims, _) = ada_with_passkey(&h).await;
    let bob = h.register("bob@example.com").await;
    let bob_claims = claims_of(&h, &bob);
    let id = h.service.list_passkeys(&ada_claims).await.unwrap()[0].id;

    let foreign = h.service.rename_passkey(&bob_claims, id, "Mine").await;
    assert!(matches!(foreign, Err(AuthError::NotFound)), "{foreign:?}");
    let invalid = h.service.rename_passkey(&ada_claims, id, " ").await;
    assert!(
        matches!(invalid, Err(AuthError::Validation { field: "name", .. })),
        "{invalid:?}"
    );
    let renamed = h.service.rename_passkey(&ada_claims, id, "Phone").await.unwrap();
    assert_eq!(renamed.name, "Phone");

    let foreign = h.service.delete_passkey(&bob_claims, id, &meta()).await;
    assert!(matches!(foreign, Err(AuthError::NotFound)), "{foreign:?}");
    assert_eq!(h.service.list_passkeys(&ada_claims).await.unwrap().len(), 1);

    h.service.delete_passkey(&ada_claims, id, &meta()).await.unwrap();
    assert!(h.service.list_passkeys(&ada_claims).await.unwrap().is_empty());
    assert_eq!(h.store.kinds().last(), Some(&EventKind::PasskeyRemoved));
    let (to, intent) = h.mailed(MailKind::SecondFactorRemoved).pop().unwrap();
    assert_eq!(to.address, "ada@example.com");
    assert_eq!(
        intent,
        MailIntent::SecondFactorRemoved {
            factor: SecondFactor::Passkey { name: "Phone".into() },
            at: T0
        }
    );
    let again = h.service.delete_passkey(&ada_claims, id, &meta()).await;
    assert!(matches!(again, Err(AuthError::NotFound)), "{again:?}");
    let _ = ada;
}

#[tokio::test]
async fn deleting_a_passkey_needs_a_recent_proof() {
    let h = harness();
    let (ada, claims, _) = ada_with_passkey(&h).await;
    let id = h.service.list_passkeys(&claims).await.unwrap()[0].id;
    h.clock.advance(Duration::minutes(11));
    let refreshed = h.service.refresh(&ada.tokens.refresh_token, &meta()).await.unwrap();
    let stale = claims_of(&h, &refreshed);
    let refused = h.service.delete_passkey(&stale, id, &meta()).await;
    assert!(matches!(refused, Err(AuthError::ReauthRequired { .. })), "{refused:?}");
    assert_eq!(h.service.list_passkeys(&stale).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_sweep_removes_expired_ceremonies_only() {
    let h = harness();
    h.service.passkey_login_options().await.unwrap();
    h.clock.advance(Duration::minutes(4));
    h.service.passkey_login_options().await.unwrap();
    h.clock.advance(Duration::minutes(2));
    assert_eq!(h.store.sweep_expired_ceremonies(h.service.now()).await.unwrap(), 1);
    assert_eq!(h.store.lock().ceremonies.len(), 1);
}

/// A password login of a passkey user: the challenge it answers instead of a session.
async fn mfa_challenge(h: &Harness, email: &str) -> MfaRequired {
    match h
        .service
        .login(email, PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap()
    {
        LoginOutcome::MfaRequired(required) => required,
        LoginOutcome::LoggedIn(_) => panic!("a passkey user got a session from a password alone"),
    }
}

#[tokio::test]
async fn a_passkey_completes_a_password_login_as_the_second_factor() {
    let h = harness();
    let (ada, _, mut key) = ada_with_passkey(&h).await;
    let required = mfa_challenge(&h, "ada@example.com").await;
    assert_eq!(required.methods, vec![MfaMethod::Passkey]);
    let options = h.service.mfa_passkey_options(required.token.as_str()).await.unwrap();
    // Only ada's passkeys are offered.
    assert_eq!(options["state"]["allowed"], serde_json::json!([hex::encode(&key.id)]));
    let credential = key.answer(&options);
    let login = h
        .service
        .complete_mfa(
            required.token.as_str(),
            SecondFactorProof::Passkey(&credential),
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(login.user.id, ada.user.id);
    assert_eq!(claims_of(&h, &login).amr, ["pwd", "hwk", "user", "mfa"]);
    assert_eq!(h.store.kinds().last(), Some(&EventKind::LoginSucceeded));
    assert_eq!(h.store.lock().stored_passkeys[0].sign_count, key.counter);
    // The challenge and the ceremony are used up: the same answer logs in no one again.
    assert!(h.store.lock().ceremonies.is_empty());
    let again = h
        .service
        .complete_mfa(
            required.token.as_str(),
            SecondFactorProof::Passkey(&credential),
            &meta(),
        )
        .await;
    assert!(matches!(again, Err(AuthError::MfaFailed)), "{again:?}");
}

#[tokio::test]
async fn a_second_factor_passkey_must_be_the_challenge_users_and_verify() {
    let h = harness();
    let (_, _, mut ada_key) = ada_with_passkey(&h).await;
    let bob = h.register("bob@example.com").await;
    let mut bob_key = ScriptedKey::new(bob.user.id);
    register(&h, &claims_of(&h, &bob), &mut bob_key).await;
    let required = mfa_challenge(&h, "ada@example.com").await;
    let token = required.token.as_str();

    // Bob's passkey answering ada's options is a wrong factor: counted, recorded, no session.
    let options = h.service.mfa_passkey_options(token).await.unwrap();
    let foreign = bob_key.answer(&options);
    let refused = h
        .service
        .complete_mfa(token, SecondFactorProof::Passkey(&foreign), &meta())
        .await;
    assert!(matches!(refused, Err(AuthError::MfaFailed)), "{refused:?}");
    assert_eq!(h.store.kinds().last(), Some(&EventKind::MfaFailed));
    let key = ChallengeKey::of(token).unwrap();
    assert_eq!(h.store.lock().challenges[&key].attempts, 1);

    // A forged signature by ada's own passkey: the same.
    let options = h.service.mfa_passkey_options(token).await.unwrap();
    let mut forged = ada_key.answer(&options);
    forged["forged"] = true.into();
    let refused = h
        .service
        .complete_mfa(token, SecondFactorProof::Passkey(&forged), &meta())
        .await;
    assert!(matches!(refused, Err(AuthError::MfaFailed)), "{refused:?}");

    // An assertion answering a usernameless login's options (another kind of ceremony) is no
    // second factor: the ceremony is not found for this purpose.
    let login_options = h.service.passkey_login_options().await.unwrap();
    let wrong_kind = ada_key.answer(&login_options);
    let refused = h
        .service
        .complete_mfa(token, SecondFactorProof::Passkey(&wrong_kind), &meta())
        .await;
    assert!(matches!(refused, Err(AuthError::Ceremony(_))), "{refused:?}");

    // The right one still works while attempts are left.
    let options = h.service.mfa_passkey_options(token).await.unwrap();
    let credential = ada_key.answer(&options);
    let login = h
        .service
        .complete_mfa(token, SecondFactorProof::Passkey(&credential), &meta())
        .await
        .unwrap();
    assert_eq!(claims_of(&h, &login).amr, ["pwd", "hwk", "user", "mfa"]);
}

#[tokio::test]
async fn second_factor_options_need_a_live_challenge_of_a_passkey_user() {
    let h = harness();
    ada_with_passkey(&h).await;
    for token in ["", "not-a-challenge", &"A".repeat(43)] {
        let refused = h.service.mfa_passkey_options(token).await;
        assert!(matches!(refused, Err(AuthError::MfaFailed)), "{token:?}: {refused:?}");
    }
    let required = mfa_challenge(&h, "ada@example.com").await;
    h.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let refused = h.service.mfa_passkey_options(required.token.as_str()).await;
    assert!(matches!(refused, Err(AuthError::MfaFailed)), "{refused:?}");
    assert!(h.store.lock().ceremonies.is_empty());
}

#[tokio::test]
async fn a_session_reauthenticates_with_its_users_passkey() {
    let h = harness();
    let (ada, _, mut key) = ada_with_passkey(&h).await;
    h.clock.advance(Duration::minutes(11));
    let refreshed = h.service.refresh(&ada.tokens.refresh_token, &meta()).await.unwrap();
    let claims = claims_of(&h, &refreshed);
    match h.service.passkey_registration_options(&claims).await {
        Err(AuthError::ReauthRequired { methods }) => {
            assert_eq!(methods, vec![ReauthMethod::Password, ReauthMethod::Passkey]);
        }
        other => panic!("expected ReauthRequired, got {other:?}"),
    }

    // A forged assertion is a wrong factor.
    let options = h.service.reauth_passkey_options(&claims).await.unwrap();
    let mut forged = key.answer(&options);
    forged["forged"] = true.into();
    let refused = h
        .service
        .reauthenticate(&claims, ReauthCredential::Passkey(&forged), &meta())
        .await;
    assert!(matches!(refused, Err(AuthError::MfaFailed)), "{refused:?}");
    assert_eq!(h.store.kinds().last(), Some(&EventKind::MfaFailed));

    let options = h.service.reauth_passkey_options(&claims).await.unwrap();
    let credential = key.answer(&options);
    let reauthenticated = h
        .service
        .reauthenticate(&claims, ReauthCredential::Passkey(&credential), &meta())
        .await
        .unwrap();
    let fresh = h.service.authenticate(&reauthenticated.access_token).unwrap();
    assert_eq!(fresh.amr, ["hwk", "user"]);
    assert_eq!(reauthenticated.auth_time, T0 + Duration::minutes(11));
    h.service.passkey_registration_options(&fresh).await.unwrap();

    // A user without passkeys has no options to ask for.
    let bob = h.register("bob@example.com").await;
    let refused = h.service.reauth_passkey_options(&claims_of(&h, &bob)).await;
    assert!(matches!(refused, Err(AuthError::NotFound)), "{refused:?}");
}
