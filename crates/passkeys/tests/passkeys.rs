//! The relying party against a software authenticator driven as a browser drives one: the
//! options it emits go in as `parse…OptionsFromJSON` would receive them, and what comes back is
//! the browser's `toJSON()` (see `support`). A ceremony recorded with 1Password's passkey-rs
//! replays too (`tests/fixtures/passkey-rs.json`).

mod support;

use std::collections::HashMap;

use serde_json::{Value, json};
use support::Browser;
use tessera_auth_core::clock::{Clock, ManualClock};
use tessera_auth_core::mfa::ceremony::{Ceremony, CeremonyError, CeremonyKind};
use tessera_auth_core::mfa::passkey::{
    PasskeyError, PasskeyRelyingParty, PasskeyUser, RegisteredPasskey, StoredPasskey, VerifiedAssertion,
};
use tessera_auth_core::mfa::policy::{
    AmrSet, EnrolledFactors, LoginDecision, LoginPath, Refusal, SecondFactor, decide,
};
use tessera_passkeys::RelyingParty;
use time::{Duration, OffsetDateTime};
use url::Url;
use uuid::Uuid;

const ORIGIN: &str = "https://auth.example.com";

fn relying_party() -> RelyingParty {
    // A new value each call: nothing is shared between "instances" but the configuration.
    RelyingParty::new(&Url::parse(ORIGIN).unwrap(), &[], "Tessera").unwrap()
}

// ---------------------------------------------------------------------------------------------
// The server side around the relying party: what the endpoints and the store will do.

struct Account {
    id: Uuid,
    email: String,
    passkeys: Vec<StoredPasskey>,
}

impl Account {
    fn new(email: &str) -> Account {
        Account {
            id: Uuid::now_v7(),
            email: email.to_owned(),
            passkeys: Vec::new(),
        }
    }

    fn user(&self) -> PasskeyUser<'_> {
        PasskeyUser {
            id: self.id,
            name: &self.email,
            display_name: "Ada",
        }
    }

    fn store(&mut self, registered: RegisteredPasskey, now: OffsetDateTime) -> Uuid {
        let id = Uuid::now_v7();
        self.passkeys.push(StoredPasskey {
            id,
            user_id: self.id,
            credential_id: registered.credential_id,
            credential: registered.credential,
            name: "laptop".into(),
            sign_count: registered.sign_count,
            backup_eligible: registered.backup_eligible,
            backup_state: registered.backup_state,
            created_at: now,
            last_used_at: None,
        });
        id
    }

    /// What the store writes after a verified assertion.
    fn apply(&mut self, verified: &VerifiedAssertion) {
        let passkey = self.passkeys.iter_mut().find(|p| p.id == verified.passkey_id).unwrap();
        if let Some(credential) = &verified.updated_credential {
            passkey.credential = credential.clone();
        }
        passkey.sign_count = verified.sign_count;
        passkey.backup_eligible = verified.backup_eligible;
        passkey.backup_state = verified.backup_state;
    }
}

fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-12-01 12:00 UTC)
}

/// Registers a passkey for `account` with `browser` and stores it.
async fn register(rp: &RelyingParty, account: &mut Account, browser: &mut Browser) -> RegisteredPasskey {
    let started = rp.start_registration(&account.user(), &account.passkeys).unwrap();
    let credential = browser.create(&started.options).await.unwrap();
    let registered = rp.finish_registration(&started.state, &credential).unwrap();
    account.store(registered.clone(), now());
    registered
}

/// A usernameless login: options, assertion, identify, load the passkey, verify.
async fn login(
    rp: &RelyingParty,
    accounts: &[&Account],
    browser: &mut Browser,
) -> Result<VerifiedAssertion, PasskeyError> {
    let started = rp.start_login().unwrap();
    let credential = browser.get(&started.options).await.unwrap();
    assert_eq!(rp.challenge_of(&credential).unwrap(), started.challenge);
    let identity = rp.identify(&credential)?;
    let passkey = accounts
        .iter()
        .flat_map(|a| &a.passkeys)
        .find(|p| p.credential_id == identity.credential_id)
        .ok_or(PasskeyError::UnknownCredential)?;
    rp.finish_login(&started.state, &credential, passkey)
}

fn amr(decision: LoginDecision) -> Vec<String> {
    match decision {
        LoginDecision::Session { amr } => amr.to_claim(),
        other => panic!("no session: {other:?}"),
    }
}

fn factors(account: &Account) -> EnrolledFactors {
    EnrolledFactors {
        totp: false,
        recovery_codes_left: 0,
        passkeys: account.passkeys.len(),
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn register_a_discoverable_passkey_and_sign_in_without_a_username() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new(ORIGIN, true, false);

    let started = rp.start_registration(&ada.user(), &[]).unwrap();
    let options = &started.options;
    assert_eq!(options["rp"], json!({"id": "auth.example.com", "name": "Tessera"}));
    assert_eq!(options["user"]["id"], json!(b64(ada.id.as_bytes())));
    assert_eq!(options["user"]["name"], "ada@example.com");
    assert_eq!(options["user"]["displayName"], "Ada");
    assert_eq!(options["challenge"], json!(b64(&started.challenge)));
    assert_eq!(started.challenge.len(), 32);
    assert_eq!(
        options["authenticatorSelection"],
        json!({"residentKey": "required", "requireResidentKey": true, "userVerification": "preferred"})
    );
    assert_eq!(options["attestation"], "none");
    assert_eq!(options["excludeCredentials"], json!([]));
    assert_eq!(options["extensions"], json!({"credProps": true}));
    assert_eq!(options["timeout"], 300_000);

    let credential = browser.create(options).await.unwrap();
    // The client answered in the toJSON() form: base64url strings, Level 3 members.
    assert_eq!(credential["type"], "public-key");
    assert!(credential["response"]["attestationObject"].is_string());
    assert!(credential["response"]["publicKeyAlgorithm"].is_number());
    let registered = rp.finish_registration(&started.state, &credential).unwrap();
    assert_eq!(registered.credential_id, unb64(credential["rawId"].as_str().unwrap()));
    assert!(registered.user_verified);
    assert!(!registered.backup_eligible && !registered.backup_state);
    assert_eq!(registered.discoverable, Some(true));
    assert_eq!(registered.sign_count, 0);
    ada.store(registered, now());

    let login_options = rp.start_login().unwrap();
    assert_eq!(login_options.options["rpId"], "auth.example.com");
    assert_eq!(login_options.options["userVerification"], "preferred");
    assert_eq!(login_options.options["allowCredentials"], json!([]));
    assert!(login_options.options.get("mediation").is_none());

    let verified = login(&rp, &[&ada], &mut browser).await.unwrap();
    assert_eq!(verified.passkey_id, ada.passkeys[0].id);
    assert!(verified.user_verified);
    assert!(!verified.counter_regressed_on_synced);
    assert_eq!(
        verified.updated_credential, None,
        "no counter, no flag change: nothing to write"
    );
    assert_eq!(
        amr(decide(LoginPath::Passkey(verified.proof()), &factors(&ada))),
        ["hwk", "user", "mfa"]
    );
}

#[tokio::test]
async fn a_passkey_without_user_verification_is_one_factor() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    // An authenticator without PIN or biometrics: registration works (verification preferred).
    let mut browser = Browser::new(ORIGIN, false, false);
    let registered = register(&rp, &mut ada, &mut browser).await;
    assert!(!registered.user_verified);
    let verified = login(&rp, &[&ada], &mut browser).await.unwrap();
    assert!(!verified.user_verified);
    assert_eq!(
        decide(LoginPath::Passkey(verified.proof()), &factors(&ada)),
        LoginDecision::Refused(Refusal::MfaRequired)
    );
    // After a password it is a fine second factor.
    assert_eq!(
        amr(decide(
            LoginPath::PasswordThen(SecondFactor::Passkey(verified.proof())),
            &factors(&ada)
        )),
        ["pwd", "hwk", "mfa"]
    );
}

#[tokio::test]
async fn a_passkey_registered_with_user_verification_must_keep_verifying() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new(ORIGIN, true, false);
    register(&rp, &mut ada, &mut browser).await;
    // The same authenticator now answers without verifying (the browser did not ask).
    browser.ask_user_verification = false;
    assert_eq!(
        login(&rp, &[&ada], &mut browser).await.unwrap_err(),
        PasskeyError::UserNotVerified
    );
}

#[tokio::test]
async fn existing_credentials_are_excluded_from_a_new_registration() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new(ORIGIN, true, false);
    let first = register(&rp, &mut ada, &mut browser).await;
    let started = rp.start_registration(&ada.user(), &ada.passkeys).unwrap();
    assert_eq!(
        started.options["excludeCredentials"],
        json!([{"type": "public-key", "id": b64(&first.credential_id)}])
    );
    // The authenticator that holds the excluded credential refuses to make another.
    assert!(browser.create(&started.options).await.is_err());
    // Another authenticator registers a second passkey.
    let mut phone = Browser::new(ORIGIN, true, false);
    let credential = phone.create(&started.options).await.unwrap();
    let second = rp.finish_registration(&started.state, &credential).unwrap();
    assert_ne!(second.credential_id, first.credential_id);
}

#[tokio::test]
async fn second_factor_accepts_only_the_users_own_passkeys() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut bob = Account::new("bob@example.com");
    let mut adas_laptop = Browser::new(ORIGIN, false, false);
    let mut adas_phone = Browser::new(ORIGIN, true, false);
    let mut bobs = Browser::new(ORIGIN, true, false);
    register(&rp, &mut ada, &mut adas_laptop).await;
    register(&rp, &mut ada, &mut adas_phone).await;
    register(&rp, &mut bob, &mut bobs).await;

    let started = rp.start_for_user(&ada.passkeys).unwrap();
    let allowed: Vec<&str> = started.options["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let adas_ids: Vec<String> = ada.passkeys.iter().map(|p| b64(&p.credential_id)).collect();
    assert_eq!(allowed, adas_ids);
    assert_eq!(started.options["userVerification"], "preferred");

    // Ada's laptop (no user verification) completes the second factor.
    let credential = adas_laptop.get(&started.options).await.unwrap();
    let verified = rp
        .finish_for_user(&started.state, &credential, ada.id, &ada.passkeys)
        .unwrap();
    assert_eq!(verified.passkey_id, ada.passkeys[0].id);
    assert!(!verified.user_verified);

    // Bob's authenticator holds none of the allowed credentials.
    let started = rp.start_for_user(&ada.passkeys).unwrap();
    assert!(bobs.get(&started.options).await.is_err());
    // Bob edits the options to allow his own credential: refused for Ada, whatever list is passed.
    let mut forged = started.options.clone();
    forged["allowCredentials"] = json!([{"type": "public-key", "id": b64(&bob.passkeys[0].credential_id)}]);
    let bobs_assertion = bobs.get(&forged).await.unwrap();
    assert_eq!(
        rp.finish_for_user(&started.state, &bobs_assertion, ada.id, &ada.passkeys)
            .unwrap_err(),
        PasskeyError::UnknownCredential
    );
    let everyone: Vec<StoredPasskey> = ada.passkeys.iter().chain(&bob.passkeys).cloned().collect();
    assert_eq!(
        rp.finish_for_user(&started.state, &bobs_assertion, ada.id, &everyone)
            .unwrap_err(),
        PasskeyError::UnknownCredential
    );
    // Nor can Bob finish Ada's ceremony as himself.
    assert_eq!(
        rp.finish_for_user(&started.state, &bobs_assertion, bob.id, &bob.passkeys)
            .unwrap_err(),
        PasskeyError::UnknownCredential
    );

    // A passkey removed after the options were sent no longer counts.
    let started = rp.start_for_user(&ada.passkeys).unwrap();
    let credential = adas_phone.get(&started.options).await.unwrap();
    let remaining = vec![ada.passkeys[0].clone()];
    assert_eq!(
        rp.finish_for_user(&started.state, &credential, ada.id, &remaining)
            .unwrap_err(),
        PasskeyError::UnknownCredential
    );
    assert!(
        rp.finish_for_user(&started.state, &credential, ada.id, &ada.passkeys)
            .is_ok()
    );

    // A passkey added after the options were sent was not offered: refused too.
    let started = rp.start_for_user(&ada.passkeys).unwrap();
    let mut adas_key = Browser::new(ORIGIN, true, false);
    register(&rp, &mut ada, &mut adas_key).await;
    let mut widened = started.options.clone();
    widened["allowCredentials"] = json!([{"type": "public-key", "id": b64(&ada.passkeys[2].credential_id)}]);
    let credential = adas_key.get(&widened).await.unwrap();
    assert_eq!(
        rp.finish_for_user(&started.state, &credential, ada.id, &ada.passkeys)
            .unwrap_err(),
        PasskeyError::UnknownCredential
    );

    // No passkeys, or several users' passkeys: never a discoverable request.
    assert_eq!(rp.start_for_user(&[]).unwrap_err(), PasskeyError::UnknownCredential);
    assert_eq!(
        rp.start_for_user(&everyone).unwrap_err(),
        PasskeyError::UnknownCredential
    );
}

#[tokio::test]
async fn a_usernameless_assertion_must_come_from_the_user_it_names() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut bob = Account::new("bob@example.com");
    let mut adas = Browser::new(ORIGIN, true, false);
    let mut bobs = Browser::new(ORIGIN, true, false);
    register(&rp, &mut ada, &mut adas).await;
    register(&rp, &mut bob, &mut bobs).await;
    let started = rp.start_login().unwrap();
    let credential = bobs.get(&started.options).await.unwrap();
    let identity = rp.identify(&credential).unwrap();
    assert_eq!(identity.user_id, bob.id);
    // A caller that loaded the wrong passkey (Ada's) is told it is unknown.
    assert_eq!(
        rp.finish_login(&started.state, &credential, &ada.passkeys[0])
            .unwrap_err(),
        PasskeyError::UnknownCredential
    );
    // A user handle rewritten to Ada's breaks the binding (and the signature does not cover it,
    // so only the check against the passkey's owner catches it).
    let mut rewritten = credential.clone();
    rewritten["response"]["userHandle"] = json!(b64(ada.id.as_bytes()));
    assert_eq!(rp.identify(&rewritten).unwrap().user_id, ada.id);
    assert_eq!(
        rp.finish_login(&started.state, &rewritten, &bob.passkeys[0])
            .unwrap_err(),
        PasskeyError::UnknownCredential
    );
    // Without a user handle there is nobody to log in.
    let mut anonymous = credential.clone();
    anonymous["response"].as_object_mut().unwrap().remove("userHandle");
    assert_eq!(
        rp.identify(&anonymous).unwrap_err(),
        PasskeyError::Rejected("no user handle")
    );
    assert!(rp.finish_login(&started.state, &credential, &bob.passkeys[0]).is_ok());
}

#[tokio::test]
async fn a_counter_that_goes_backwards_on_a_device_bound_passkey_is_refused() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new(ORIGIN, true, true);
    register(&rp, &mut ada, &mut browser).await;
    for expected in 1..=2 {
        let verified = login(&rp, &[&ada], &mut browser).await.unwrap();
        assert_eq!(verified.sign_count, expected);
        assert!(verified.updated_credential.is_some(), "the counter moved: store it");
        ada.apply(&verified);
    }
    // A clone of the key (its counter one behind): the next assertion says 2 again.
    browser.keys().credentials[0].counter = 1;
    assert_eq!(
        login(&rp, &[&ada], &mut browser).await.unwrap_err(),
        PasskeyError::CounterRegressed
    );
    assert_eq!(ada.passkeys[0].sign_count, 2, "nothing to store after a refusal");
    // The genuine key, ahead again, still works.
    browser.keys().credentials[0].counter = 5;
    let verified = login(&rp, &[&ada], &mut browser).await.unwrap();
    assert_eq!(verified.sign_count, 6);
}

#[tokio::test]
async fn a_ceremony_started_on_one_instance_finishes_on_another() {
    let clock = ManualClock::new(now());
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new(ORIGIN, true, false);

    // Instance A starts a registration; the ceremony goes to the database as bytes.
    let started = relying_party().start_registration(&ada.user(), &[]).unwrap();
    let row = Ceremony::new(
        CeremonyKind::PasskeyRegistration,
        Some(ada.id),
        &started.challenge,
        started.state.clone(),
        clock.now(),
    );
    let credential = browser.create(&started.options).await.unwrap();
    clock.advance(Duration::seconds(20));
    // Instance B finds it by the challenge the credential carries, and finishes.
    let instance_b = relying_party();
    let challenge = instance_b.challenge_of(&credential).unwrap();
    assert_eq!(
        Ceremony::new(
            CeremonyKind::PasskeyRegistration,
            Some(ada.id),
            &challenge,
            vec![],
            clock.now()
        )
        .key,
        row.key
    );
    let state = row
        .open(CeremonyKind::PasskeyRegistration, Some(ada.id), clock.now())
        .unwrap();
    let registered = instance_b.finish_registration(&state, &credential).unwrap();
    ada.store(registered, clock.now());

    // The same for a usernameless login, started on B and finished on a third instance.
    let started = instance_b.start_login().unwrap();
    let row = Ceremony::new(
        CeremonyKind::PasskeyLogin,
        None,
        &started.challenge,
        started.state,
        clock.now(),
    );
    let credential = browser.get(&started.options).await.unwrap();
    let instance_c = relying_party();
    let state = row.open(CeremonyKind::PasskeyLogin, None, clock.now()).unwrap();
    let identity = instance_c.identify(&credential).unwrap();
    assert_eq!(identity.user_id, ada.id);
    let verified = instance_c.finish_login(&state, &credential, &ada.passkeys[0]).unwrap();
    assert!(verified.user_verified);
}

#[tokio::test]
async fn a_stale_ceremony_is_refused() {
    let clock = ManualClock::new(now());
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new(ORIGIN, true, false);
    register(&rp, &mut ada, &mut browser).await;

    // Five minutes later the stored ceremony does not open.
    let started = rp.start_login().unwrap();
    let row = Ceremony::new(
        CeremonyKind::PasskeyLogin,
        None,
        &started.challenge,
        started.state.clone(),
        clock.now(),
    );
    let credential = browser.get(&started.options).await.unwrap();
    clock.advance(Duration::minutes(5));
    assert_eq!(
        row.open(CeremonyKind::PasskeyLogin, None, clock.now()).unwrap_err(),
        CeremonyError::Expired
    );

    // An older ceremony's state does not accept a newer ceremony's assertion.
    let newer = rp.start_login().unwrap();
    let newer_credential = browser.get(&newer.options).await.unwrap();
    assert_eq!(
        rp.finish_login(&started.state, &newer_credential, &ada.passkeys[0])
            .unwrap_err(),
        PasskeyError::Rejected("challenge")
    );
    // And a login's state does not finish anything else.
    assert!(matches!(
        rp.finish_for_user(&started.state, &credential, ada.id, &ada.passkeys),
        Err(PasskeyError::Internal(_))
    ));
    assert!(matches!(
        rp.finish_registration(&started.state, &credential),
        Err(PasskeyError::Internal(_))
    ));
}

#[tokio::test]
async fn assertions_for_another_origin_or_rp_id_are_refused() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new(ORIGIN, true, false);
    register(&rp, &mut ada, &mut browser).await;

    // A sibling origin under the RP id (a browser allows it to use auth.example.com): the
    // origin is not one of ours.
    let started = rp.start_login().unwrap();
    let mut sibling = Browser::new("https://evil.auth.example.com", true, false);
    std::mem::swap(sibling.keys(), browser.keys());
    let credential = sibling.get(&started.options).await.unwrap();
    std::mem::swap(sibling.keys(), browser.keys());
    assert_eq!(
        rp.finish_login(&started.state, &credential, &ada.passkeys[0])
            .unwrap_err(),
        PasskeyError::Rejected("origin")
    );

    // Our origin, but the assertion is for the RP id example.com (signed over its hash).
    let started = rp.start_login().unwrap();
    let mut options = started.options.clone();
    options["rpId"] = json!("example.com");
    browser.keys().ignore_rp_id = true;
    let credential = browser.get(&options).await.unwrap();
    browser.keys().ignore_rp_id = false;
    assert_eq!(
        rp.finish_login(&started.state, &credential, &ada.passkeys[0])
            .unwrap_err(),
        PasskeyError::Rejected("relying party id")
    );

    // Registration from another origin is refused the same way.
    let started = rp.start_registration(&ada.user(), &ada.passkeys).unwrap();
    let mut elsewhere = Browser::new("https://evil.auth.example.com", true, false);
    let credential = elsewhere.create(&started.options).await.unwrap();
    assert_eq!(
        rp.finish_registration(&started.state, &credential).unwrap_err(),
        PasskeyError::Rejected("origin")
    );

    // A relying party on another domain accepts nothing of ours.
    let other = RelyingParty::new(&Url::parse("https://other.example.net").unwrap(), &[], "Other").unwrap();
    let started = rp.start_login().unwrap();
    let credential = browser.get(&started.options).await.unwrap();
    assert_eq!(
        other
            .finish_login(&started.state, &credential, &ada.passkeys[0])
            .unwrap_err(),
        PasskeyError::Rejected("origin")
    );
}

#[tokio::test]
async fn tampered_assertions_are_refused() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new(ORIGIN, true, false);
    register(&rp, &mut ada, &mut browser).await;
    let started = rp.start_login().unwrap();
    let credential = browser.get(&started.options).await.unwrap();

    let mut bad_signature = credential.clone();
    let mut signature = unb64(bad_signature["response"]["signature"].as_str().unwrap());
    let last = signature.len() - 1;
    signature[last] ^= 1;
    bad_signature["response"]["signature"] = json!(b64(&signature));
    assert!(matches!(
        rp.finish_login(&started.state, &bad_signature, &ada.passkeys[0])
            .unwrap_err(),
        PasskeyError::Rejected(_) | PasskeyError::Malformed(_)
    ));

    let mut bad_data = credential.clone();
    let mut auth_data = unb64(bad_data["response"]["authenticatorData"].as_str().unwrap());
    auth_data[33] ^= 1; // the counter's last byte
    bad_data["response"]["authenticatorData"] = json!(b64(&auth_data));
    assert_eq!(
        rp.finish_login(&started.state, &bad_data, &ada.passkeys[0])
            .unwrap_err(),
        PasskeyError::Rejected("signature")
    );

    let mut truncated = credential.clone();
    truncated["response"]["authenticatorData"] = json!(b64(&[0; 10]));
    assert!(matches!(
        rp.finish_login(&started.state, &truncated, &ada.passkeys[0])
            .unwrap_err(),
        PasskeyError::Malformed(_)
    ));

    assert!(rp.finish_login(&started.state, &credential, &ada.passkeys[0]).is_ok());
}

#[tokio::test]
async fn localhost_works_for_development() {
    let rp = RelyingParty::new(&Url::parse("http://localhost:8080").unwrap(), &[], "Tessera").unwrap();
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new("http://localhost:8080", true, false);
    register(&rp, &mut ada, &mut browser).await;
    assert!(login(&rp, &[&ada], &mut browser).await.unwrap().user_verified);
}

#[test]
fn options_use_only_level_3_json_members() {
    // Member names of PublicKeyCredentialCreationOptionsJSON / RequestOptionsJSON and their
    // dictionaries (WebAuthn Level 3, §5.1.4 and §5.1.5).
    let creation: HashMap<&str, &[&str]> = HashMap::from([
        (
            "",
            &[
                "rp",
                "user",
                "challenge",
                "pubKeyCredParams",
                "timeout",
                "excludeCredentials",
                "authenticatorSelection",
                "hints",
                "attestation",
                "attestationFormats",
                "extensions",
            ][..],
        ),
        ("rp", &["id", "name"][..]),
        ("user", &["id", "name", "displayName"][..]),
        ("pubKeyCredParams", &["type", "alg"][..]),
        ("excludeCredentials", &["type", "id", "transports"][..]),
        (
            "authenticatorSelection",
            &[
                "authenticatorAttachment",
                "residentKey",
                "requireResidentKey",
                "userVerification",
            ][..],
        ),
    ]);
    let request: HashMap<&str, &[&str]> = HashMap::from([
        (
            "",
            &[
                "challenge",
                "timeout",
                "rpId",
                "allowCredentials",
                "userVerification",
                "hints",
                "extensions",
            ][..],
        ),
        ("allowCredentials", &["type", "id", "transports"][..]),
    ]);
    fn check(value: &Value, allowed: &HashMap<&str, &[&str]>, at: &str) {
        let members = value.as_object().unwrap_or_else(|| panic!("{at} is not an object"));
        for (name, member) in members {
            assert!(
                allowed[at].contains(&name.as_str()),
                "{at}.{name} is not a Level 3 member"
            );
            assert!(!member.is_null(), "{at}.{name} is null");
            if let Some(inner) = allowed.get(name.as_str()) {
                let _ = inner;
                match member {
                    Value::Array(items) => items.iter().for_each(|item| check(item, allowed, name)),
                    object => check(object, allowed, name),
                }
            }
        }
    }
    let rp = relying_party();
    let user = PasskeyUser {
        id: Uuid::now_v7(),
        name: "ada@example.com",
        display_name: "Ada",
    };
    let existing = StoredPasskey {
        id: Uuid::now_v7(),
        user_id: user.id,
        credential_id: vec![1, 2, 3],
        credential: Vec::new(),
        name: "x".into(),
        sign_count: 0,
        backup_eligible: false,
        backup_state: false,
        created_at: now(),
        last_used_at: None,
    };
    let started = rp.start_registration(&user, std::slice::from_ref(&existing)).unwrap();
    check(&started.options, &creation, "");
    assert_eq!(
        started.options["excludeCredentials"],
        json!([{"type": "public-key", "id": "AQID"}])
    );
    let algs: Vec<i64> = started.options["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    assert_eq!(algs, [-7, -35, -257], "ES256, ES384, RS256");
    check(&rp.start_login().unwrap().options, &request, "");
    // Binary members are unpadded base64url strings.
    for text in [&started.options["challenge"], &started.options["user"]["id"]] {
        let text = text.as_str().unwrap();
        assert!(
            !text.contains('=') && !text.contains('+') && !text.contains('/'),
            "{text}"
        );
    }
    // AmrSet is what the session stores.
    assert_eq!(AmrSet::default().to_storage(), "");
}

// ---------------------------------------------------------------------------------------------
// Backup flags.

async fn synced_login(
    rp: &RelyingParty,
    ada: &Account,
    browser: &mut Browser,
    eligible: bool,
    backed_up: bool,
) -> Result<VerifiedAssertion, PasskeyError> {
    browser.backup_flags = (eligible, backed_up);
    login(rp, &[ada], browser).await
}

#[tokio::test]
async fn a_synced_passkey_records_its_backup_flags_and_keeps_working_when_its_counter_lags() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new(ORIGIN, true, true);
    // A synced passkey.
    browser.backup_flags = (true, true);
    let registered = register(&rp, &mut ada, &mut browser).await;
    assert!(
        registered.backup_eligible && registered.backup_state,
        "backup flags recorded"
    );

    // The unchanged signature check passes with the flags set (the re-signing is faithful).
    let verified = synced_login(&rp, &ada, &mut browser, true, true).await.unwrap();
    assert_eq!(verified.sign_count, 1);
    assert!(!verified.counter_regressed_on_synced);
    assert_eq!(
        amr(decide(LoginPath::Passkey(verified.proof()), &factors(&ada))),
        ["swk", "user", "mfa"]
    );
    ada.apply(&verified);

    // Another device's copy with a lower counter: accepted, reported, and the stored counter
    // does not go down.
    browser.keys().credentials[0].counter = 0;
    let verified = synced_login(&rp, &ada, &mut browser, true, true).await.unwrap();
    assert!(verified.counter_regressed_on_synced);
    assert_eq!(verified.sign_count, 1);
    ada.apply(&verified);

    // The backup state may change (a new device not yet backed up): recorded.
    browser.keys().credentials[0].counter = 7;
    let verified = synced_login(&rp, &ada, &mut browser, true, false).await.unwrap();
    assert!(!verified.backup_state && verified.backup_eligible);
    assert!(verified.updated_credential.is_some());
    ada.apply(&verified);
    assert!(!ada.passkeys[0].backup_state);

    // Backup eligibility never disappears: refused.
    assert_eq!(
        synced_login(&rp, &ada, &mut browser, false, false).await.unwrap_err(),
        PasskeyError::Rejected("backup flags")
    );
}

#[tokio::test]
async fn a_device_bound_passkey_that_becomes_synced_is_recorded_as_synced() {
    let rp = relying_party();
    let mut ada = Account::new("ada@example.com");
    let mut browser = Browser::new(ORIGIN, true, true);
    register(&rp, &mut ada, &mut browser).await;
    assert!(!ada.passkeys[0].backup_eligible);
    // Backed up in the same assertion that first claims eligibility: the engine refuses.
    assert_eq!(
        synced_login(&rp, &ada, &mut browser, true, true).await.unwrap_err(),
        PasskeyError::Rejected("backup flags")
    );
    // Eligible first (an OS update made the key syncable)...
    let verified = synced_login(&rp, &ada, &mut browser, true, false).await.unwrap();
    assert!(verified.backup_eligible && !verified.backup_state);
    assert!(verified.updated_credential.is_some());
    ada.apply(&verified);
    assert!(ada.passkeys[0].backup_eligible);
    assert_eq!(
        amr(decide(LoginPath::Passkey(verified.proof()), &factors(&ada))),
        ["swk", "user", "mfa"]
    );
    // ...then backed up.
    let verified = synced_login(&rp, &ada, &mut browser, true, true).await.unwrap();
    ada.apply(&verified);
    assert!(ada.passkeys[0].backup_state);
}

/// A registration and a usernameless login recorded with 1Password's passkey-rs
/// (passkey-authenticator and passkey-client 0.6.0, which turn the options JSON into CTAP
/// requests and answer in the `toJSON()` form, with a synced credential): an authenticator and
/// client written by someone else, kept as data because passkey-rs turns on serde_json's
/// `preserve_order` for every crate built with it.
#[test]
fn a_ceremony_recorded_with_passkey_rs_replays() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/passkey-rs.json")).unwrap();
    let rp = relying_party();
    let user_id: Uuid = serde_json::from_value(fixture["user_id"].clone()).unwrap();
    let registration = &fixture["registration"];
    let registered = rp
        .finish_registration(
            registration["state"].as_str().unwrap().as_bytes(),
            &registration["credential"],
        )
        .unwrap();
    assert!(registered.user_verified);
    assert!(
        registered.backup_eligible && registered.backup_state,
        "passkey-rs makes synced passkeys"
    );
    assert_eq!(registered.discoverable, Some(true));
    assert_eq!(registered.transports, ["internal", "hybrid"]);
    let passkey = StoredPasskey {
        id: Uuid::now_v7(),
        user_id,
        credential_id: registered.credential_id,
        credential: registered.credential,
        name: "passkey-rs".into(),
        sign_count: registered.sign_count,
        backup_eligible: registered.backup_eligible,
        backup_state: registered.backup_state,
        created_at: now(),
        last_used_at: None,
    };
    let login = &fixture["login"];
    assert_eq!(rp.identify(&login["credential"]).unwrap().user_id, user_id);
    let verified = rp
        .finish_login(
            login["state"].as_str().unwrap().as_bytes(),
            &login["credential"],
            &passkey,
        )
        .unwrap();
    assert!(verified.user_verified);
    assert_eq!(
        amr(decide(
            LoginPath::Passkey(verified.proof()),
            &EnrolledFactors::default()
        )),
        ["swk", "user", "mfa"]
    );
    // The recording is bound to its challenge: another ceremony's state refuses it.
    let other = rp.start_login().unwrap();
    assert_eq!(
        rp.finish_login(&other.state, &login["credential"], &passkey)
            .unwrap_err(),
        PasskeyError::Rejected("challenge")
    );
}
