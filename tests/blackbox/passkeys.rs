//! Passkeys against the real server, driven by the software platform authenticator of
//! `crates/passkeys/tests/support` (a browser's `create`/`get` and `toJSON()`, checked byte for
//! byte by webauthn-rs): registration, the list, rename and delete, the usernameless login and
//! its refusals (no user verification, a counter gone back, another origin or relying party, a
//! stale or replayed ceremony, malformed credentials), a passkey as the second factor of a
//! password login and for re-authentication, a ceremony finished on another instance,
//! and 409 `passkeys_unavailable` where the public origin cannot be a relying party.
//!
//! WebAuthn needs a domain (or localhost) as relying-party id: these servers are configured with
//! `TESSERA_PUBLIC_ORIGIN=http://localhost:8080`, the origin the authenticator's browser reports
//! (the server listens elsewhere; the origin is only compared, never connected to).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_store::testing::TestDatabase;
use time::Duration;

use crate::authenticator::Browser as Authenticator;
use crate::harness::{Browser, TestServer, assert_problem};

pub(crate) const RP_ORIGIN: &str = "http://localhost:8080";

async fn passkey_server(db: &TestDatabase) -> TestServer {
    TestServer::start(db, &[("TESSERA_PUBLIC_ORIGIN", RP_ORIGIN)]).await
}

/// A platform authenticator with user verification and a signature counter.
fn authenticator() -> Authenticator {
    Authenticator::new(RP_ORIGIN, true, true)
}

/// Registers a passkey named `name` for `browser`'s user; the 201's body.
pub(crate) async fn add_passkey(browser: &mut Browser, key: &mut Authenticator, name: &str) -> Value {
    let options = browser.post_empty("/api/me/passkeys/options").await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.text());
    let credential = key
        .create(&options.json()["publicKey"])
        .await
        .expect("the authenticator creates");
    let added = browser
        .post_json("/api/me/passkeys", &json!({"name": name, "credential": credential}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    added.json()
}

/// POST /api/auth/passkey/options in a fresh browser; the request options.
async fn login_options(server: &TestServer) -> Value {
    let reply = server
        .send(server.request(Method::POST, "/api/auth/passkey/options"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let options = reply.json()["publicKey"].clone();
    assert!(options["challenge"].is_string(), "{options}");
    options
}

/// A usernameless login with `key`, in a fresh browser (its reply, and the browser).
async fn passkey_login(server: &TestServer, key: &mut Authenticator) -> (Browser, crate::harness::Reply) {
    let options = login_options(server).await;
    let credential = key.get(&options).await.expect("the authenticator asserts");
    let mut browser = server.browser();
    let reply = browser
        .post_json("/api/auth/passkey", &json!({"credential": credential}))
        .await;
    (browser, reply)
}

async fn event_kinds(browser: &mut Browser) -> Vec<String> {
    let events = browser.get("/api/me/events").await.json();
    events["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|event| event["kind"].as_str().expect("kind").to_owned())
        .collect()
}

async fn register_list_rename_login_delete(db: &TestDatabase) {
    let server = passkey_server(db).await;
    let (mut ada, _) = server.register("ada@example.com").await;
    let mut key = authenticator();

    let options = ada.post_empty("/api/me/passkeys/options").await;
    let public_key = &options.json()["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(public_key["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(public_key["authenticatorSelection"]["userVerification"], "preferred");
    let credential = key.create(public_key).await.expect("create");
    let added = ada
        .post_json("/api/me/passkeys", &json!({"name": "Laptop", "credential": credential}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    let added = added.json();
    assert_eq!(added["name"], "Laptop");
    assert!(added["created_at"].is_string());
    let id = added["id"].as_str().expect("id").to_owned();
    // The same credential again (its ceremony is gone, and so would the credential be).
    let again = ada
        .post_json("/api/me/passkeys", &json!({"name": "Again", "credential": credential}))
        .await;
    assert_problem(&again, 400, "webauthn_failed");
    // The next registration excludes it.
    let options = ada.post_empty("/api/me/passkeys/options").await.json();
    let excluded = &options["publicKey"]["excludeCredentials"];
    assert_eq!(excluded[0]["id"], credential["id"], "{excluded}");

    let list = ada.get("/api/me/passkeys").await.json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["items"][0]["id"], id.as_str());
    let export = ada.get("/api/me/export").await.json();
    assert_eq!(export["passkeys"][0]["id"], id.as_str());
    assert_eq!(export["mfa"]["passkeys"], 1);
    let request = ada
        .request_csrf(Method::PATCH, &format!("/api/me/passkeys/{id}"))
        .json(&json!({"name": "Phone"}));
    let renamed = ada.send(request).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    assert_eq!(renamed.json()["name"], "Phone");

    // Someone else can neither rename nor delete it.
    let (mut bob, _) = server.register("bob@example.com").await;
    let request = bob
        .request_csrf(Method::PATCH, &format!("/api/me/passkeys/{id}"))
        .json(&json!({"name": "Mine"}));
    assert_problem(&bob.send(request).await, 404, "not_found");
    let request = bob.request_csrf(Method::DELETE, &format!("/api/me/passkeys/{id}"));
    assert_problem(&bob.send(request).await, 404, "not_found");

    // A usernameless login, cookie and body delivery.
    let (mut browser, reply) = passkey_login(&server, &mut key).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["user"]["email"], "ada@example.com");
    let me = browser.me().await.json();
    assert_eq!(me["amr"], json!(["hwk", "user", "mfa"]));
    let options = login_options(&server).await;
    let credential = key.get(&options).await.expect("get");
    let native = server
        .post_json(
            "/api/auth/passkey",
            &json!({"credential": credential, "token_delivery": "body"}),
        )
        .await;
    assert_eq!(native.status, StatusCode::OK, "{}", native.text());
    assert!(native.set_cookies().is_empty());
    let token = native.json()["access_token"].as_str().expect("access_token").to_owned();
    assert_eq!(server.me_bearer(&token).await.status, StatusCode::OK);
    // The same assertion again: its ceremony is spent.
    let replayed = server
        .post_json("/api/auth/passkey", &json!({"credential": credential}))
        .await;
    assert_problem(&replayed, 400, "webauthn_failed");
    let stored = ada.get("/api/me/passkeys").await.json();
    assert!(stored["items"][0]["last_used_at"].is_string(), "{stored}");

    // Deleting needs a recent proof; then it is gone, and so is its login.
    server.advance(Duration::minutes(11));
    assert_eq!(ada.refresh().await.status, StatusCode::OK);
    let request = ada.request_csrf(Method::DELETE, &format!("/api/me/passkeys/{id}"));
    assert_problem(&ada.send(request).await, 403, "reauth_required");
    let reauth = ada
        .post_json("/api/auth/reauth", &json!({"password": crate::harness::PASSWORD}))
        .await;
    assert_eq!(reauth.status, StatusCode::OK, "{}", reauth.text());
    let request = ada.request_csrf(Method::DELETE, &format!("/api/me/passkeys/{id}"));
    let deleted = ada.send(request).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    assert!(
        ada.get("/api/me/passkeys").await.json()["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );
    let (_, refused) = passkey_login(&server, &mut key).await;
    assert_problem(&refused, 401, "webauthn_failed");

    let kinds = event_kinds(&mut ada).await;
    for kind in ["passkey_added", "passkey_removed", "login_succeeded"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

async fn registration_options_need_a_recent_proof(db: &TestDatabase) {
    let server = passkey_server(db).await;
    let (mut ada, _) = server.register("ada@example.com").await;
    server.advance(Duration::minutes(11));
    assert_eq!(ada.refresh().await.status, StatusCode::OK);
    let reply = ada.post_empty("/api/me/passkeys/options").await;
    assert_problem(&reply, 403, "reauth_required");
    assert_eq!(reply.json()["methods"], json!(["password"]));
}

async fn a_login_without_user_verification_needs_a_second_factor(db: &TestDatabase) {
    let server = passkey_server(db).await;
    let (mut ada, _) = server.register("ada@example.com").await;
    // No PIN or biometrics: the passkey is one factor.
    let mut key = Authenticator::new(RP_ORIGIN, false, true);
    add_passkey(&mut ada, &mut key, "Key").await;
    let (_, reply) = passkey_login(&server, &mut key).await;
    assert_problem(&reply, 401, "mfa_required");
    reply.assert_no_cookies();
    assert!(event_kinds(&mut ada).await.iter().any(|k| k == "login_failed"));
}

async fn a_counter_gone_back_is_refused(db: &TestDatabase) {
    let server = passkey_server(db).await;
    let (mut ada, _) = server.register("ada@example.com").await;
    let mut key = authenticator();
    add_passkey(&mut ada, &mut key, "Key").await;
    let (_, first) = passkey_login(&server, &mut key).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let (_, second) = passkey_login(&server, &mut key).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    // A clone of the key, which counted from where the first copy was a login ago.
    key.keys().credentials[0].counter -= 2;
    let (_, cloned) = passkey_login(&server, &mut key).await;
    assert_problem(&cloned, 401, "webauthn_failed");
    cloned.assert_no_cookies();
}

async fn another_origin_or_relying_party_is_refused(db: &TestDatabase) {
    let other = "http://sub.localhost:8080";
    let server = TestServer::start(
        db,
        &[("TESSERA_PUBLIC_ORIGIN", RP_ORIGIN), ("TESSERA_ALLOWED_ORIGINS", other)],
    )
    .await;
    let (mut ada, _) = server.register("ada@example.com").await;
    let mut key = authenticator();
    add_passkey(&mut ada, &mut key, "Key").await;

    // A page on another origin asks the same authenticator (a phishing site's relay).
    key.origin = url::Url::parse("http://localhost:9999").expect("url");
    let (_, foreign) = passkey_login(&server, &mut key).await;
    assert_problem(&foreign, 401, "webauthn_failed");

    // An allowed origin, but an authenticator that signs for another relying-party id.
    key.origin = url::Url::parse(other).expect("url");
    key.keys().ignore_rp_id = true;
    let mut options = login_options(&server).await;
    options["rpId"] = json!("sub.localhost");
    let credential = key.get(&options).await.expect("get");
    let reply = server
        .post_json("/api/auth/passkey", &json!({"credential": credential}))
        .await;
    assert_problem(&reply, 401, "webauthn_failed");

    // The allowed origin with the right relying party works.
    key.keys().ignore_rp_id = false;
    let (_, allowed) = passkey_login(&server, &mut key).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text());
}

async fn a_stale_ceremony_is_refused(db: &TestDatabase) {
    let server = passkey_server(db).await;
    let (mut ada, _) = server.register("ada@example.com").await;
    let mut key = authenticator();
    add_passkey(&mut ada, &mut key, "Key").await;
    let options = login_options(&server).await;
    server.advance(Duration::minutes(5));
    let credential = key.get(&options).await.expect("get");
    let reply = server
        .post_json("/api/auth/passkey", &json!({"credential": credential}))
        .await;
    assert_problem(&reply, 400, "webauthn_failed");
    // Registration ceremonies too.
    let (mut bob, _) = server.register("bob@example.com").await;
    let options = bob.post_empty("/api/me/passkeys/options").await.json();
    server.advance(Duration::minutes(5));
    assert_eq!(bob.refresh().await.status, StatusCode::OK);
    let credential = key.create(&options["publicKey"]).await.expect("create");
    let reply = bob
        .post_json("/api/me/passkeys", &json!({"name": "Late", "credential": credential}))
        .await;
    assert_problem(&reply, 400, "webauthn_failed");
}

async fn malformed_credentials_are_webauthn_failed(db: &TestDatabase) {
    let server = passkey_server(db).await;
    let (mut ada, _) = server.register("ada@example.com").await;
    let mut key = authenticator();
    add_passkey(&mut ada, &mut key, "Key").await;
    let options = login_options(&server).await;
    let good = key.get(&options).await.expect("get");
    // Far over the 1023 bytes a credential id may have, within the body limit.
    let long_id = "A".repeat(20_000);
    let mut oversized = good.clone();
    oversized["id"] = json!(long_id);
    oversized["rawId"] = json!(long_id);
    let mut bad_client_data = good.clone();
    bad_client_data["response"]["clientDataJSON"] = json!("not base64url!");
    let mut not_json_client_data = good.clone();
    not_json_client_data["response"]["clientDataJSON"] = json!("bm90IGpzb24");
    let mut no_response = good.clone();
    no_response["response"] = json!(null);
    for credential in [
        json!("a string"),
        json!(42),
        json!([]),
        json!({}),
        json!({"id": "x", "type": "public-key"}),
        oversized,
        bad_client_data,
        not_json_client_data,
        no_response,
    ] {
        let reply = server
            .post_json("/api/auth/passkey", &json!({"credential": credential}))
            .await;
        assert_problem(&reply, 400, "webauthn_failed");
        let reply = ada
            .post_json("/api/me/passkeys", &json!({"name": "Bad", "credential": credential}))
            .await;
        assert_problem(&reply, 400, "webauthn_failed");
    }
    // The good one still works: nothing malformed takes a login's ceremony.
    let reply = server
        .post_json("/api/auth/passkey", &json!({"credential": good}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

async fn a_ceremony_started_on_one_instance_finishes_on_another(db: &TestDatabase) {
    let a = passkey_server(db).await;
    let b = a.peer().await;
    let (mut ada, _) = a.register("ada@example.com").await;
    let mut key = authenticator();
    // Registration: options from A, finished on B.
    let options = ada.post_empty("/api/me/passkeys/options").await.json();
    let credential = key.create(&options["publicKey"]).await.expect("create");
    ada.attach(&b);
    let added = ada
        .post_json("/api/me/passkeys", &json!({"name": "Key", "credential": credential}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    // Login: options from B, finished on A.
    let options = login_options(&b).await;
    let credential = key.get(&options).await.expect("get");
    let reply = a
        .post_json("/api/auth/passkey", &json!({"credential": credential}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

async fn passkeys_are_unavailable_where_the_origin_cannot_be_a_relying_party(db: &TestDatabase) {
    // The default public origin: an IP address cannot be a relying-party id.
    let server = TestServer::start(db, &[("TESSERA_PUBLIC_ORIGIN", "http://127.0.0.1:8080")]).await;
    let (mut ada, _) = server.register("ada@example.com").await;
    assert_problem(
        &ada.post_empty("/api/me/passkeys/options").await,
        409,
        "passkeys_unavailable",
    );
    let reply = ada
        .post_json("/api/me/passkeys", &json!({"name": "Key", "credential": {}}))
        .await;
    assert_problem(&reply, 409, "passkeys_unavailable");
    let reply = server
        .send(server.request(Method::POST, "/api/auth/passkey/options"))
        .await;
    assert_problem(&reply, 409, "passkeys_unavailable");
    let reply = server.post_json("/api/auth/passkey", &json!({"credential": {}})).await;
    assert_problem(&reply, 409, "passkeys_unavailable");
    // Listing works (there is nothing to list).
    let list = ada.get("/api/me/passkeys").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert_eq!(list.json()["items"], json!([]));
}

async fn a_password_login_completes_with_a_passkey_and_a_session_reauthenticates_with_one(db: &TestDatabase) {
    let server = passkey_server(db).await;
    let (mut ada, _) = server.register("ada@example.com").await;
    let mut key = authenticator();
    let added = add_passkey(&mut ada, &mut key, "Laptop").await;
    let login = json!({"email": "ada@example.com", "password": crate::harness::PASSWORD});

    // Cookie delivery: the password answers 202, the passkey completes the login.
    let mut browser = server.browser();
    let reply = browser.post_json("/api/auth/login", &login).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    assert_eq!(reply.json()["methods"], json!(["passkey"]));
    let options = browser.post_json("/api/auth/mfa/passkey/options", &json!({})).await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.text());
    let public_key = &options.json()["publicKey"];
    let allowed = &public_key["allowCredentials"];
    assert_eq!(allowed.as_array().map(Vec::len), Some(1), "{public_key}");
    let credential = key.get(public_key).await.expect("get");
    assert_eq!(allowed[0]["id"], credential["id"]);
    // Malformed assertions: 400, and the ceremony is left for the real one.
    for malformed in [json!("a string"), json!({}), json!({"id": "x", "type": "public-key"})] {
        let reply = browser
            .post_json("/api/auth/mfa", &json!({"credential": malformed}))
            .await;
        assert_problem(&reply, 400, "webauthn_failed");
        reply.assert_no_cookies();
    }
    let done = browser
        .post_json("/api/auth/mfa", &json!({"credential": credential}))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(browser.me().await.json()["amr"], json!(["pwd", "hwk", "user", "mfa"]));
    // Its ceremony and challenge are spent.
    let again = server
        .browser()
        .post_json("/api/auth/mfa", &json!({"credential": credential}))
        .await;
    assert_problem(&again, 401, "mfa_failed");

    // Body delivery; bob's passkey cannot stand in for ada's.
    let (mut bob, _) = server.register("bob@example.com").await;
    let mut bob_key = authenticator();
    add_passkey(&mut bob, &mut bob_key, "Bob's").await;
    let mut body_login = login.clone();
    body_login["token_delivery"] = json!("body");
    let reply = server.post_json("/api/auth/login", &body_login).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    let token = reply.json()["mfa_token"].as_str().expect("mfa_token").to_owned();
    let options = server
        .post_json("/api/auth/mfa/passkey/options", &json!({"mfa_token": token}))
        .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.text());
    let mut allow_any = options.json()["publicKey"].clone();
    allow_any["allowCredentials"] = json!([]);
    let foreign = bob_key.get(&allow_any).await.expect("get");
    let refused = server
        .post_json("/api/auth/mfa", &json!({"mfa_token": token, "credential": foreign}))
        .await;
    assert_problem(&refused, 401, "mfa_failed");
    let options = server
        .post_json("/api/auth/mfa/passkey/options", &json!({"mfa_token": token}))
        .await;
    let credential = key.get(&options.json()["publicKey"]).await.expect("get");
    let done = server
        .post_json("/api/auth/mfa", &json!({"mfa_token": token, "credential": credential}))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert!(done.json()["access_token"].is_string());
    // No challenge: no options.
    assert_problem(
        &server
            .browser()
            .post_json("/api/auth/mfa/passkey/options", &json!({}))
            .await,
        401,
        "mfa_failed",
    );

    // Step-up with the passkey, then an operation that needs it.
    server.advance(Duration::minutes(11));
    assert_eq!(browser.refresh().await.status, StatusCode::OK);
    let id = added["id"].as_str().expect("id");
    let request = browser.request_csrf(Method::DELETE, &format!("/api/me/passkeys/{id}"));
    let refused = browser.send(request).await;
    assert_problem(&refused, 403, "reauth_required");
    assert_eq!(refused.json()["methods"], json!(["password", "passkey"]));
    let options = browser.post_empty("/api/auth/reauth/passkey/options").await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.text());
    let credential = key.get(&options.json()["publicKey"]).await.expect("get");
    let reauth = browser
        .post_json("/api/auth/reauth", &json!({"credential": credential}))
        .await;
    assert_eq!(reauth.status, StatusCode::OK, "{}", reauth.text());
    assert_eq!(browser.me().await.json()["amr"], json!(["hwk", "user"]));
    let request = browser.request_csrf(Method::DELETE, &format!("/api/me/passkeys/{id}"));
    assert_eq!(browser.send(request).await.status, StatusCode::NO_CONTENT);
    // Without a passkey there is nothing to re-authenticate with but the password.
    assert_problem(
        &browser.post_empty("/api/auth/reauth/passkey/options").await,
        404,
        "not_found",
    );
}

tessera_store::backend_tests!(
    register_list_rename_login_delete,
    registration_options_need_a_recent_proof,
    a_login_without_user_verification_needs_a_second_factor,
    a_counter_gone_back_is_refused,
    another_origin_or_relying_party_is_refused,
    a_stale_ceremony_is_refused,
    malformed_credentials_are_webauthn_failed,
    a_ceremony_started_on_one_instance_finishes_on_another,
    passkeys_are_unavailable_where_the_origin_cannot_be_a_relying_party,
    a_password_login_completes_with_a_passkey_and_a_session_reauthenticates_with_one,
);
