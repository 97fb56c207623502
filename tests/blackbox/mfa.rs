//! The MFA login end to end: enrol TOTP through the API (codes computed from the returned secret
//! on the server's injected clock), log in to a 202, complete with a code or a recovery code
//! (cookie and body delivery), replays and wrong codes refused, the challenge dying, re-auth
//! with a code, and an administrator's removal; and the walk over every operation of the spec
//! that hands out a session, each shown to refuse an MFA user's single factor.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_auth_core::mfa::totp::{self, TotpSecret};
use tessera_store::testing::TestDatabase;
use time::Duration;

use crate::admin::admin;
use crate::authenticator::Browser as Authenticator;
use crate::harness::{Browser, PASSWORD, TestServer, assert_problem};

/// RFC 4648 base32 (what the manual key is, grouped by spaces).
fn base32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b' ' && *c != b'=') {
        let value = ALPHABET.iter().position(|a| *a == c).expect("base32 character") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

fn code(server: &TestServer, secret: &TotpSecret) -> String {
    secret
        .code_at_step(totp::step_at(server.now()).expect("step"))
        .expect("code")
}

/// Registers `email` and enables TOTP through the API: the browser, the secret, the codes.
async fn enrolled(server: &TestServer, email: &str) -> (Browser, TotpSecret, Vec<String>) {
    let (mut browser, _) = server.register(email).await;
    let reply = browser.post_json("/api/me/mfa/totp", &json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let started = reply.json();
    assert!(started["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/"));
    assert!(started["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = TotpSecret::from_bytes(&base32(started["secret"].as_str().unwrap())).expect("secret");
    let wrong = browser
        .post_json("/api/me/mfa/totp/confirm", &json!({"code": "000000"}))
        .await;
    assert_problem(&wrong, 422, "validation_failed");
    let reply = browser
        .post_json("/api/me/mfa/totp/confirm", &json!({"code": code(server, &secret)}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let codes: Vec<String> = serde_json::from_value(reply.json()["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    let status = browser.get("/api/me/mfa").await.json();
    assert_eq!(status, json!({"totp": true, "recovery_codes_left": 10, "passkeys": 0}));
    // The confirming step is used up.
    server.advance(Duration::seconds(30));
    (browser, secret, codes)
}

async fn login_202(server: &TestServer, body: Value) -> (Browser, Value) {
    let mut browser = server.browser();
    let reply = browser.post_json("/api/auth/login", &body).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    let json = reply.json();
    assert_eq!(json["mfa_required"], true);
    assert_eq!(json["methods"], json!(["totp", "recovery_code"]));
    (browser, json)
}

async fn a_cookie_login_completes_with_a_totp_code_once(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (_, secret, _) = enrolled(&server, "ada@example.com").await;
    let (mut browser, challenge) = login_202(&server, json!({"email": "ada@example.com", "password": PASSWORD})).await;
    assert!(challenge.get("mfa_token").is_none());
    assert!(
        browser.cookie("__Host-access").is_none(),
        "no session before the second factor"
    );
    assert!(browser.cookie("__Host-mfa").is_some());

    // Both fields, or none: 422; no CSRF header is needed (there is no session yet).
    for body in [json!({}), json!({"totp_code": "123456", "recovery_code": "x"})] {
        assert_problem(
            &browser.post_json("/api/auth/mfa", &body).await,
            422,
            "validation_failed",
        );
    }
    let right = code(&server, &secret);
    let reply = browser.post_json("/api/auth/mfa", &json!({"totp_code": right})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(browser.cookie("__Host-access").is_some());
    assert_eq!(browser.me().await.json()["amr"], json!(["pwd", "otp", "mfa"]));

    // Replayed on a new login: refused.
    let (mut again, _) = login_202(&server, json!({"email": "ada@example.com", "password": PASSWORD})).await;
    let replay = again.post_json("/api/auth/mfa", &json!({"totp_code": right})).await;
    assert_problem(&replay, 401, "mfa_failed");
    // No challenge at all.
    assert_problem(
        &server
            .browser()
            .post_json("/api/auth/mfa", &json!({"totp_code": "123456"}))
            .await,
        401,
        "mfa_failed",
    );
}

async fn a_body_login_completes_with_a_recovery_code_and_wrong_codes_kill_the_challenge(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (_, secret, codes) = enrolled(&server, "bea@example.com").await;
    let body = json!({"email": "bea@example.com", "password": PASSWORD, "token_delivery": "body"});
    let (_, challenge) = login_202(&server, body.clone()).await;
    let token = challenge["mfa_token"].as_str().expect("mfa_token").to_owned();
    let reply = server
        .post_json("/api/auth/mfa", &json!({"mfa_token": token, "recovery_code": codes[0]}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(reply.json()["access_token"].is_string());
    // The challenge is consumed, the code used.
    let reused = server
        .post_json("/api/auth/mfa", &json!({"mfa_token": token, "recovery_code": codes[1]}))
        .await;
    assert_problem(&reused, 401, "mfa_failed");

    let (_, challenge) = login_202(&server, body).await;
    let token = challenge["mfa_token"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        let wrong = server
            .post_json("/api/auth/mfa", &json!({"mfa_token": token, "totp_code": "000000"}))
            .await;
        assert!(matches!(wrong.status.as_u16(), 401 | 429), "{}", wrong.text());
    }
    server.advance(Duration::minutes(1));
    let dead = server
        .post_json(
            "/api/auth/mfa",
            &json!({"mfa_token": token, "totp_code": code(&server, &secret)}),
        )
        .await;
    assert_problem(&dead, 401, "mfa_failed");
}

async fn reauth_with_a_code_and_an_admin_removes_the_factors(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, secret, _) = enrolled(&server, "cy@example.com").await;
    let reply = browser
        .post_json("/api/auth/reauth", &json!({"totp_code": code(&server, &secret)}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(browser.me().await.json()["amr"], json!(["otp"]));
    let events = browser.get("/api/me/events").await.json();
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"mfa_enabled"), "{kinds:?}");

    let mut root = admin(&server, "root@example.com").await;
    let id = browser.me().await.json()["id"].as_str().unwrap().to_owned();
    let reply = root
        .send(root.request_csrf(reqwest::Method::DELETE, &format!("/api/admin/users/{id}/mfa")))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    server.login("cy@example.com").await;
}

/// The operations of openapi/openapi.json whose success hands out a refresh token: every way a
/// session comes to be (or goes on). Found in the spec, not listed by hand, so that an operation
/// added later is found too.
fn session_issuing_operations() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the spec")).expect("JSON");
    let issues_refresh_token = |schema: &Value| {
        let name = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()).unwrap_or("");
        spec["components"]["schemas"][name]["properties"]
            .as_object()
            .is_some_and(|properties| properties.contains_key("refresh_token"))
    };
    let mut found = Vec::new();
    for item in spec["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("path item").values() {
            let Some(responses) = operation["responses"].as_object() else {
                continue;
            };
            let issues = responses
                .iter()
                .filter(|(status, _)| status.starts_with('2'))
                .flat_map(|(_, response)| response["content"].as_object().into_iter().flatten())
                .any(|(_, media)| issues_refresh_token(&media["schema"]));
            if issues {
                found.push(operation["operationId"].as_str().expect("operationId").to_owned());
            }
        }
    }
    found.sort();
    found
}

/// "No path creates a session for an MFA user with one factor" (DESIGN.md part 2), checked on
/// every session-issuing operation of the spec for a user with TOTP and a passkey that cannot
/// verify the user. An operation this walk does not know fails it: whoever adds one says here
/// how it enforces the second factor.
async fn no_operation_gives_an_mfa_user_a_session_for_one_factor(db: &TestDatabase) {
    let server = TestServer::start(db, &[("TESSERA_PUBLIC_ORIGIN", crate::passkeys::RP_ORIGIN)]).await;
    let (mut ada, _, _) = enrolled(&server, "ada@example.com").await;
    let ada_id = ada.get("/api/me").await.json()["id"].clone();
    let mut key = Authenticator::new(crate::passkeys::RP_ORIGIN, false, true);
    crate::passkeys::add_passkey(&mut ada, &mut key, "Key without PIN").await;
    let password_login = json!({"email": "ada@example.com", "password": PASSWORD});

    let operations = session_issuing_operations();
    assert!(operations.len() >= 5, "{operations:?}");
    for operation in &operations {
        match operation.as_str() {
            // The password alone: 202 and a challenge, no session (cookie and body delivery).
            "login" => {
                let mut browser = server.browser();
                let reply = browser.post_json("/api/auth/login", &password_login).await;
                assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
                assert!(browser.cookie("__Host-access").is_none() && browser.cookie("__Host-refresh").is_none());
                let mut body = password_login.clone();
                body["token_delivery"] = json!("body");
                let reply = server.post_json("/api/auth/login", &body).await;
                assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
                assert!(reply.json().get("refresh_token").is_none(), "{}", reply.text());
            }
            // The challenge without a right second factor: no session.
            "complete_mfa" => {
                let mut browser = server.browser();
                browser.post_json("/api/auth/login", &password_login).await;
                for body in [
                    json!({"totp_code": "000000"}),
                    json!({"recovery_code": "0000-0000-0000-0000"}),
                ] {
                    let reply = browser.post_json("/api/auth/mfa", &body).await;
                    assert_problem(&reply, 401, "mfa_failed");
                    reply.assert_no_cookies();
                }
            }
            // A passkey that did not verify the user is one factor.
            "login_with_passkey" => {
                let options = server
                    .send(server.request(Method::POST, "/api/auth/passkey/options"))
                    .await
                    .json();
                let credential = key.get(&options["publicKey"]).await.expect("get");
                let reply = server
                    .post_json("/api/auth/passkey", &json!({"credential": credential}))
                    .await;
                assert_problem(&reply, 401, "mfa_required");
                reply.assert_no_cookies();
            }
            // Registration makes a new account, never a session of an existing one.
            "register" => {
                let reply = server
                    .post_json(
                        "/api/auth/register",
                        &json!({"email": "ada@example.com", "password": PASSWORD, "name": "Not Ada"}),
                    )
                    .await;
                let hijacked = reply.status.is_success() && reply.json()["user"]["id"] == ada_id;
                assert!(!hijacked, "{}", reply.text());
            }
            // Rotation continues a session: it needs a refresh token, which only a completed
            // login hands out (an MFA challenge is none).
            "refresh" => {
                let mut browser = server.browser();
                browser.post_json("/api/auth/login", &password_login).await;
                let challenge = browser.cookie("__Host-mfa").expect("the challenge cookie").to_owned();
                assert_problem(&server.refresh_body(&challenge).await, 401, "unauthenticated");
                assert_problem(&browser.refresh().await, 401, "unauthenticated");
            }
            unknown => panic!(
                "{unknown} hands out a refresh token and this walk does not know it: add how it \
                 refuses an MFA user's single factor"
            ),
        }
    }
}

tessera_store::backend_tests!(
    a_cookie_login_completes_with_a_totp_code_once,
    a_body_login_completes_with_a_recovery_code_and_wrong_codes_kill_the_challenge,
    reauth_with_a_code_and_an_admin_removes_the_factors,
    no_operation_gives_an_mfa_user_a_session_for_one_factor,
);
