//! The login's second step (challenge, TOTP, recovery codes), re-authentication with a TOTP
//! code, and the management of the factors, on the harness clock.

use super::*;
use crate::mail::{MailIntent, MailKind, SecondFactor as NoticeFactor};
use crate::mfa::challenge::{ChallengeKey, MAX_ATTEMPTS};
use crate::mfa::policy::{Amr, AmrSet, MfaMethod, ReauthMethod};
use crate::mfa::recovery;
use crate::mfa::totp::{self, STEP_SECS, TotpSecret};
use crate::ports::{FactorChange, SecondFactorRepository, StoredTotp};
use crate::reauth::ReauthCredential;
use crate::throttle::{FREE_ATTEMPTS, throttle_key};
use crate::user::User;

const ADA: &str = "ada@example.com";

/// A user with TOTP enabled at the harness's current time, as a confirmation leaves it (the
/// confirmation's step used up), and their recovery codes.
struct Enrolled {
    user: User,
    secret: TotpSecret,
    codes: Vec<String>,
}

async fn enrolled(h: &Harness, email: &str) -> Enrolled {
    let user = h.register(email).await.user;
    let secret = TotpSecret::generate();
    let generated = recovery::generate(user.id);
    let key = MasterKey::from_bytes(MASTER).totp_encryption_key();
    let now = h.service.now();
    let stored = StoredTotp {
        sealed_secret: secret.seal(&key, user.id),
        last_used_step: step(h),
    };
    let change = FactorChange {
        user_id: user.id,
        at: now,
        event: SecurityEvent::new(user.id, EventKind::MfaEnabled, now, &meta(), None),
        notices: Vec::new(),
    };
    assert!(h.store.enable_totp(stored, &generated.stored, change).await.unwrap());
    Enrolled {
        user,
        secret,
        codes: generated.plaintext,
    }
}

fn step(h: &Harness) -> u64 {
    totp::step_at(h.service.now()).unwrap()
}

fn next_step(h: &Harness) {
    h.clock.advance(Duration::seconds(STEP_SECS as i64));
}

async fn challenge(h: &Harness, email: &str, delivery: TokenDelivery) -> MfaRequired {
    match h.service.login(email, PASSWORD, delivery, &meta()).await.unwrap() {
        LoginOutcome::MfaRequired(required) => required,
        LoginOutcome::LoggedIn(_) => panic!("an MFA user got a session from a password"),
    }
}

async fn complete(h: &Harness, required: &MfaRequired, proof: SecondFactorProof<'_>) -> Result<LoggedIn, AuthError> {
    h.service.complete_mfa(required.token.as_str(), proof, &meta()).await
}

fn amr(values: &[Amr]) -> AmrSet {
    AmrSet::of(values)
}

fn count(h: &Harness, kind: EventKind) -> usize {
    h.store.kinds().into_iter().filter(|k| *k == kind).count()
}

#[tokio::test]
async fn a_right_password_of_an_mfa_user_answers_a_challenge_and_no_session() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    let sessions = h.store.lock().sessions.len();
    let logins = count(&h, EventKind::LoginSucceeded);

    let required = challenge(&h, ADA, TokenDelivery::Cookie).await;

    assert_eq!(required.methods, vec![MfaMethod::Totp, MfaMethod::RecoveryCode]);
    assert_eq!(required.expires_at, h.service.now() + Duration::minutes(5));
    assert_eq!(required.delivery, TokenDelivery::Cookie);
    assert_eq!(h.store.lock().sessions.len(), sessions, "no session yet");
    assert_eq!(count(&h, EventKind::LoginSucceeded), logins);
    let key = ChallengeKey::of(required.token.as_str()).unwrap();
    let stored = h.store.lock().challenges.get(&key).cloned().unwrap();
    assert_eq!((stored.user_id, stored.attempts), (ada.user.id, 0));
    assert!(!format!("{required:?}").contains(required.token.as_str()));
    // A wrong password still answers the same 401 as for anyone.
    assert!(matches!(
        h.service
            .login(ADA, "wrong-password-here", TokenDelivery::Cookie, &meta())
            .await,
        Err(AuthError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn a_passkey_alone_makes_an_mfa_user_too() {
    let h = harness();
    let ada = h.register(ADA).await.user;
    h.store
        .lock()
        .stored_passkeys
        .push(stored_passkey(ada.id, "laptop", false, T0));
    let required = challenge(&h, ADA, TokenDelivery::Body).await;
    assert_eq!(required.methods, vec![MfaMethod::Passkey]);
    // Without a TOTP secret, no code can complete it.
    let code = TotpSecret::generate().code_at_step(step(&h)).unwrap();
    assert!(matches!(
        complete(&h, &required, SecondFactorProof::Totp(&code)).await,
        Err(AuthError::MfaFailed)
    ));
}

#[tokio::test]
async fn a_totp_code_completes_the_login_with_the_challenges_delivery() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    next_step(&h);
    let required = challenge(&h, ADA, TokenDelivery::Body).await;
    let code = ada.secret.code_at_step(step(&h)).unwrap();

    let logged_in = complete(&h, &required, SecondFactorProof::Totp(&code)).await.unwrap();

    assert_eq!(logged_in.user.id, ada.user.id);
    assert_eq!(logged_in.tokens.delivery, TokenDelivery::Body);
    let session = h.store.session(logged_in.tokens.session_id);
    assert_eq!(session.amr, amr(&[Amr::Pwd, Amr::Otp, Amr::Mfa]));
    assert_eq!(session.auth_time, h.service.now());
    let claims = h.service.authenticate(&logged_in.tokens.access_token).unwrap();
    assert_eq!(claims.amr, ["pwd", "otp", "mfa"]);
    assert_eq!(h.store.events().last().unwrap().kind, EventKind::LoginSucceeded);
    assert!(h.store.lock().challenges.is_empty(), "the challenge is consumed");
    assert_eq!(h.store.lock().totp[&ada.user.id].last_used_step, step(&h));
    // The same challenge cannot make a second session.
    next_step(&h);
    let later = ada.secret.code_at_step(step(&h)).unwrap();
    assert!(matches!(
        complete(&h, &required, SecondFactorProof::Totp(&later)).await,
        Err(AuthError::MfaFailed)
    ));
}

#[tokio::test]
async fn the_confirmations_step_and_a_used_code_are_refused() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    let confirmation = ada.secret.code_at_step(step(&h)).unwrap();
    let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
    assert!(matches!(
        complete(&h, &required, SecondFactorProof::Totp(&confirmation)).await,
        Err(AuthError::MfaFailed)
    ));

    next_step(&h);
    let code = ada.secret.code_at_step(step(&h)).unwrap();
    complete(&h, &required, SecondFactorProof::Totp(&code)).await.unwrap();
    // Replayed in the same step, on a fresh challenge.
    let again = challenge(&h, ADA, TokenDelivery::Cookie).await;
    assert!(matches!(
        complete(&h, &again, SecondFactorProof::Totp(&code)).await,
        Err(AuthError::MfaFailed)
    ));
    assert_eq!(count(&h, EventKind::MfaFailed), 2);
}

#[tokio::test]
async fn codes_are_accepted_one_step_either_side_and_no_further() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    h.clock.advance(Duration::seconds(10 * STEP_SECS as i64));
    let now = step(&h);
    let code = |s: u64| ada.secret.code_at_step(s).unwrap();

    for refused in [now - 2, now + 2] {
        let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
        assert!(
            matches!(
                complete(&h, &required, SecondFactorProof::Totp(&code(refused))).await,
                Err(AuthError::MfaFailed)
            ),
            "step {refused} of now {now}"
        );
    }
    // Each accepted step moves the last used one: an earlier step is refused after a later one.
    for (accepted, then_refused) in [(now - 1, None), (now, Some(now - 1)), (now + 1, Some(now))] {
        let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
        complete(&h, &required, SecondFactorProof::Totp(&code(accepted)))
            .await
            .unwrap_or_else(|e| panic!("step {accepted}: {e:?}"));
        if let Some(older) = then_refused {
            let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
            assert!(matches!(
                complete(&h, &required, SecondFactorProof::Totp(&code(older))).await,
                Err(AuthError::MfaFailed)
            ));
        }
    }
}

#[tokio::test]
async fn a_recovery_code_works_once_and_earns_pwd_mfa() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
    let logged_in = complete(
        &h,
        &required,
        SecondFactorProof::RecoveryCode(&ada.codes[4].to_uppercase()),
    )
    .await
    .unwrap();
    let session = h.store.session(logged_in.tokens.session_id);
    assert_eq!(session.amr, amr(&[Amr::Pwd, Amr::Mfa]));
    let used = h.store.events().last().cloned().unwrap();
    assert_eq!(
        (used.kind, used.session_id),
        (EventKind::RecoveryCodeUsed, Some(session.id))
    );
    let claims = h.service.authenticate(&logged_in.tokens.access_token).unwrap();
    assert_eq!(h.service.mfa_status(&claims).await.unwrap().recovery_codes_left, 9);

    let again = challenge(&h, ADA, TokenDelivery::Cookie).await;
    assert!(matches!(
        complete(&h, &again, SecondFactorProof::RecoveryCode(&ada.codes[4])).await,
        Err(AuthError::MfaFailed)
    ));
    for malformed in ["", "not-a-code", "123456"] {
        assert!(matches!(
            complete(&h, &again, SecondFactorProof::RecoveryCode(malformed)).await,
            Err(AuthError::MfaFailed)
        ));
    }
    assert_eq!(h.service.mfa_status(&claims).await.unwrap().recovery_codes_left, 9);
}

#[tokio::test]
async fn five_wrong_codes_kill_the_challenge() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    next_step(&h);
    let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
    for _ in 0..MAX_ATTEMPTS {
        assert!(matches!(
            complete(&h, &required, SecondFactorProof::Totp("000000")).await,
            Err(AuthError::MfaFailed)
        ));
    }
    assert_eq!(count(&h, EventKind::MfaFailed), MAX_ATTEMPTS as usize);
    let right = ada.secret.code_at_step(step(&h)).unwrap();
    assert!(matches!(
        complete(&h, &required, SecondFactorProof::Totp(&right)).await,
        Err(AuthError::MfaFailed)
    ));
    let key = ChallengeKey::of(required.token.as_str()).unwrap();
    assert_eq!(h.store.lock().challenges[&key].attempts, MAX_ATTEMPTS);
    // The dead challenge counted nothing more.
    assert_eq!(count(&h, EventKind::MfaFailed), MAX_ATTEMPTS as usize);
    // (The backoff those failures earned is another test's subject.)
    h.store.lock().throttle.clear();
    h.clock.advance(Duration::minutes(1));
    let fresh = challenge(&h, ADA, TokenDelivery::Cookie).await;
    complete(&h, &fresh, SecondFactorProof::Totp(&right))
        .await
        .expect_err("the step passed: a new code is needed");
    let now_code = ada.secret.code_at_step(step(&h)).unwrap();
    complete(&h, &fresh, SecondFactorProof::Totp(&now_code)).await.unwrap();
}

#[tokio::test]
async fn a_challenge_expires_after_five_minutes() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
    h.clock.advance(Duration::minutes(5));
    let code = ada.secret.code_at_step(step(&h)).unwrap();
    assert!(matches!(
        complete(&h, &required, SecondFactorProof::Totp(&code)).await,
        Err(AuthError::MfaFailed)
    ));
    // Refused before any check: nothing counted, nothing used up.
    assert_eq!(count(&h, EventKind::MfaFailed), 0);
    assert!(h.store.lock().throttle.is_empty());
    assert_eq!(h.store.lock().totp[&ada.user.id].last_used_step, step(&h) - 10);
    // Swept once expired.
    h.clock.advance(Duration::seconds(1));
    assert_eq!(h.service.sweep_expired_ceremonies().await.unwrap(), 1);
    assert!(h.store.lock().challenges.is_empty());
}

#[tokio::test]
async fn unknown_and_malformed_challenges_are_refused() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    next_step(&h);
    let code = ada.secret.code_at_step(step(&h)).unwrap();
    let (unknown, _) = crate::mfa::challenge::MfaChallenge::issue(ada.user.id, TokenDelivery::Cookie, T0);
    for token in ["", "short", unknown.as_str()] {
        assert!(matches!(
            h.service
                .complete_mfa(token, SecondFactorProof::Totp(&code), &meta())
                .await,
            Err(AuthError::MfaFailed)
        ));
    }
    assert!(h.store.lock().throttle.is_empty());
}

#[tokio::test]
async fn a_disabled_account_cannot_complete_its_challenge() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
    let mut user = ada.user.clone();
    user.disabled = true;
    h.store.set_user(user);
    next_step(&h);
    let code = ada.secret.code_at_step(step(&h)).unwrap();
    assert!(matches!(
        complete(&h, &required, SecondFactorProof::Totp(&code)).await,
        Err(AuthError::MfaFailed)
    ));
}

#[tokio::test]
async fn wrong_codes_count_toward_the_accounts_backoff_and_a_password_does_not_clear_them() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    let key = throttle_key(ADA);
    let first = challenge(&h, ADA, TokenDelivery::Cookie).await;
    for _ in 0..MAX_ATTEMPTS {
        let _ = complete(&h, &first, SecondFactorProof::Totp("111111")).await;
    }
    assert_eq!(h.store.lock().throttle[&key].0, MAX_ATTEMPTS);
    // A right password is half a login: it must not buy a fresh allowance of guesses.
    let second = challenge(&h, ADA, TokenDelivery::Cookie).await;
    assert!(h.store.lock().throttle[&key].0 > MAX_ATTEMPTS);
    const { assert!(FREE_ATTEMPTS <= MAX_ATTEMPTS) };
    let blocked = complete(&h, &second, SecondFactorProof::Totp("222222")).await;
    assert!(matches!(blocked, Err(AuthError::RateLimited { .. })), "{blocked:?}");
    // The backoff (one second) passes; a right code clears the count.
    next_step(&h);
    let code = ada.secret.code_at_step(step(&h)).unwrap();
    complete(&h, &second, SecondFactorProof::Totp(&code)).await.unwrap();
    assert!(!h.store.lock().throttle.contains_key(&key));
    // The per-client allowance is taken like a login's.
    let taken = h.limiter.taken.load(Ordering::SeqCst);
    let third = challenge(&h, ADA, TokenDelivery::Cookie).await;
    let _ = complete(&h, &third, SecondFactorProof::Totp("333333")).await;
    assert_eq!(h.limiter.taken.load(Ordering::SeqCst), taken + 2);
}

#[tokio::test]
async fn reauthentication_with_a_totp_code_records_otp() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    next_step(&h);
    let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
    let code = ada.secret.code_at_step(step(&h)).unwrap();
    let logged_in = complete(&h, &required, SecondFactorProof::Totp(&code)).await.unwrap();
    let claims = h.service.authenticate(&logged_in.tokens.access_token).unwrap();
    h.clock.advance(Duration::minutes(11));
    // The step-up asks for what the user has.
    match h.service.regenerate_recovery_codes(&claims, &meta()).await {
        Err(AuthError::ReauthRequired { methods }) => {
            assert_eq!(methods, vec![ReauthMethod::Password, ReauthMethod::Totp]);
        }
        other => panic!("expected reauth_required: {other:?}"),
    }
    let reauth = |code: String| {
        let claims = claims.clone();
        let h = &h;
        async move {
            h.service
                .reauthenticate(&claims, ReauthCredential::Totp(&code), &meta())
                .await
        }
    };
    assert!(matches!(reauth("999999".into()).await, Err(AuthError::MfaFailed)));
    assert_eq!(h.store.events().last().unwrap().kind, EventKind::MfaFailed);
    assert_eq!(h.store.events().last().unwrap().session_id, Some(claims.sid));

    let fresh = ada.secret.code_at_step(step(&h)).unwrap();
    let done = reauth(fresh.clone()).await.unwrap();
    let session = h.store.session(claims.sid);
    assert_eq!(session.amr, amr(&[Amr::Otp]));
    assert_eq!(session.auth_time, h.service.now());
    assert_eq!(h.service.authenticate(&done.access_token).unwrap().amr, ["otp"]);
    assert!(matches!(reauth(fresh).await, Err(AuthError::MfaFailed)), "replayed");
}

#[tokio::test]
async fn disabling_totp_needs_a_recent_proof_and_removes_the_codes() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    next_step(&h);
    let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
    let code = ada.secret.code_at_step(step(&h)).unwrap();
    let logged_in = complete(&h, &required, SecondFactorProof::Totp(&code)).await.unwrap();
    let claims = h.service.authenticate(&logged_in.tokens.access_token).unwrap();
    h.clock.advance(Duration::minutes(11));
    assert!(matches!(
        h.service.disable_totp(&claims, &meta()).await,
        Err(AuthError::ReauthRequired { .. })
    ));
    let reauthed = h
        .service
        .reauthenticate(&claims, ReauthCredential::Password(PASSWORD), &meta())
        .await
        .unwrap();
    let claims = h.service.authenticate(&reauthed.access_token).unwrap();

    h.service.disable_totp(&claims, &meta()).await.unwrap();

    let status = h.service.mfa_status(&claims).await.unwrap();
    assert_eq!((status.totp, status.recovery_codes_left), (false, 0));
    assert_eq!(h.store.events().last().unwrap().kind, EventKind::MfaDisabled);
    let (_, notice) = h.mailed(MailKind::SecondFactorRemoved).pop().unwrap();
    assert!(matches!(
        notice,
        MailIntent::SecondFactorRemoved {
            factor: NoticeFactor::Totp,
            ..
        }
    ));
    assert!(matches!(
        h.service.disable_totp(&claims, &meta()).await,
        Err(AuthError::NotFound)
    ));
    // A password is enough again.
    h.service
        .login_without_mfa(ADA, PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
}

#[tokio::test]
async fn regenerated_codes_replace_the_old_set() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
    let logged_in = complete(&h, &required, SecondFactorProof::RecoveryCode(&ada.codes[0]))
        .await
        .unwrap();
    let claims = h.service.authenticate(&logged_in.tokens.access_token).unwrap();

    let fresh = h.service.regenerate_recovery_codes(&claims, &meta()).await.unwrap();

    assert_eq!(fresh.0.len(), 10);
    assert!(!format!("{fresh:?}").contains(&fresh.0[0]));
    assert_eq!(h.service.mfa_status(&claims).await.unwrap().recovery_codes_left, 10);
    assert_eq!(
        h.store.events().last().unwrap().kind,
        EventKind::RecoveryCodesRegenerated
    );
    let (_, notice) = h.mailed(MailKind::SecondFactorAdded).pop().unwrap();
    assert!(matches!(
        notice,
        MailIntent::SecondFactorAdded {
            factor: NoticeFactor::RecoveryCodes,
            ..
        }
    ));
    let old = challenge(&h, ADA, TokenDelivery::Cookie).await;
    assert!(matches!(
        complete(&h, &old, SecondFactorProof::RecoveryCode(&ada.codes[1])).await,
        Err(AuthError::MfaFailed)
    ));
    complete(&h, &old, SecondFactorProof::RecoveryCode(&fresh.0[1]))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_administrator_removes_every_factor() {
    let h = harness();
    let ada = enrolled(&h, ADA).await;
    h.store
        .lock()
        .stored_passkeys
        .push(stored_passkey(ada.user.id, "phone", true, T0));
    let bob = h.register("bob@example.com").await;
    let bob_claims = h.service.authenticate(&bob.tokens.access_token).unwrap();
    assert!(matches!(
        h.service.admin_remove_mfa(&bob_claims, ada.user.id, &meta()).await,
        Err(AuthError::Forbidden)
    ));
    let mut root = h.register("root@example.com").await.user;
    root.role = Role::Admin;
    h.store.set_user(root);
    let admin = h
        .service
        .login_without_mfa("root@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    let admin_claims = h.service.authenticate(&admin.tokens.access_token).unwrap();
    assert!(matches!(
        h.service.admin_remove_mfa(&admin_claims, Uuid::now_v7(), &meta()).await,
        Err(AuthError::NotFound)
    ));
    h.clock.advance(Duration::minutes(11));
    assert!(matches!(
        h.service.admin_remove_mfa(&admin_claims, ada.user.id, &meta()).await,
        Err(AuthError::ReauthRequired { .. })
    ));
    let reauthed = h
        .service
        .reauthenticate(&admin_claims, ReauthCredential::Password(PASSWORD), &meta())
        .await
        .unwrap();
    let admin_claims = h.service.authenticate(&reauthed.access_token).unwrap();

    h.service
        .admin_remove_mfa(&admin_claims, ada.user.id, &meta())
        .await
        .unwrap();

    {
        let state = h.store.lock();
        assert!(!state.totp.contains_key(&ada.user.id));
        assert!(state.recovery_codes.is_empty());
        assert!(state.stored_passkeys.is_empty());
    }
    let event = h.store.events().last().cloned().unwrap();
    assert_eq!((event.kind, event.user_id), (EventKind::MfaDisabled, ada.user.id));
    let removed: Vec<NoticeFactor> = h
        .mailed(MailKind::SecondFactorRemoved)
        .into_iter()
        .map(|(to, intent)| {
            assert_eq!(to.address, ADA);
            match intent {
                MailIntent::SecondFactorRemoved { factor, .. } => factor,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(
        removed,
        vec![NoticeFactor::Totp, NoticeFactor::Passkey { name: "phone".into() }]
    );
    h.service
        .login_without_mfa(ADA, PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
}

/// The secret behind an enrolment's manual key (what the user types into the app).
fn secret_of(enrolment: &TotpEnrolment) -> TotpSecret {
    let secret = totp_rs::Secret::try_from_base32(enrolment.secret.replace(' ', "")).unwrap();
    TotpSecret::from_bytes(secret.as_bytes()).unwrap()
}

#[tokio::test]
async fn an_enrolment_is_confirmed_by_a_code_and_its_step_cannot_log_in() {
    let h = harness();
    let ada = h.register(ADA).await;
    let claims = h.service.authenticate(&ada.tokens.access_token).unwrap();

    let enrolment = h.service.start_totp_enrolment(&claims).await.unwrap();
    assert!(enrolment.otpauth_uri.starts_with("otpauth://totp/Tessera:"));
    assert!(enrolment.qr_svg.contains("<svg"));
    assert!(!format!("{enrolment:?}").contains(&enrolment.secret));
    assert!(
        !h.service.mfa_status(&claims).await.unwrap().totp,
        "nothing enabled yet"
    );
    let secret = secret_of(&enrolment);

    // A wrong code: 422 on `code`, counted, and the enrolment waits.
    let wrong = h.service.confirm_totp(&claims, "000000", &meta()).await;
    assert!(
        matches!(wrong, Err(AuthError::Validation { field: "code", .. })),
        "{wrong:?}"
    );
    assert_eq!(h.store.lock().throttle[&throttle_key(ADA)].0, 1);
    let code = secret.code_at_step(step(&h)).unwrap();
    let codes = h.service.confirm_totp(&claims, &code, &meta()).await.unwrap();

    assert_eq!(codes.0.len(), 10);
    let status = h.service.mfa_status(&claims).await.unwrap();
    assert_eq!((status.totp, status.recovery_codes_left), (true, 10));
    assert_eq!(h.store.lock().totp[&ada.user.id].last_used_step, step(&h));
    assert_eq!(h.store.events().last().unwrap().kind, EventKind::MfaEnabled);
    let (_, notice) = h.mailed(MailKind::SecondFactorAdded).pop().unwrap();
    assert!(matches!(
        notice,
        MailIntent::SecondFactorAdded {
            factor: NoticeFactor::Totp,
            ..
        }
    ));
    assert!(h.store.lock().ceremonies.is_empty(), "the enrolment is finished");
    // The confirming code cannot log in; the next step's can.
    let required = challenge(&h, ADA, TokenDelivery::Cookie).await;
    assert!(matches!(
        complete(&h, &required, SecondFactorProof::Totp(&code)).await,
        Err(AuthError::MfaFailed)
    ));
    next_step(&h);
    let next = secret.code_at_step(step(&h)).unwrap();
    complete(&h, &required, SecondFactorProof::Totp(&next)).await.unwrap();
    // Enabled once: a second start is refused.
    assert!(matches!(
        h.service.start_totp_enrolment(&claims).await,
        Err(AuthError::Validation { field: "totp", .. })
    ));
}

#[tokio::test]
async fn an_enrolment_needs_a_recent_proof_and_lasts_five_minutes() {
    let h = harness();
    let ada = h.register(ADA).await;
    let claims = h.service.authenticate(&ada.tokens.access_token).unwrap();
    assert!(matches!(
        h.service.confirm_totp(&claims, "123456", &meta()).await,
        Err(AuthError::Validation { field: "code", .. })
    ));
    let enrolment = h.service.start_totp_enrolment(&claims).await.unwrap();
    h.clock.advance(Duration::minutes(5));
    let code = secret_of(&enrolment).code_at_step(step(&h)).unwrap();
    assert!(matches!(
        h.service.confirm_totp(&claims, &code, &meta()).await,
        Err(AuthError::Validation { field: "code", .. })
    ));
    assert!(!h.service.mfa_status(&claims).await.unwrap().totp);
    h.clock.advance(Duration::minutes(6));
    assert!(matches!(
        h.service.start_totp_enrolment(&claims).await,
        Err(AuthError::ReauthRequired { .. })
    ));
}
