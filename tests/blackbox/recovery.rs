//! Account recovery through a real SMTP server: the server is configured with
//! `TESSERA_SMTP_URL=smtp://127.0.0.1:<port>?tls=none` pointing at the aiosmtpd sink
//! (tessera_tests::smtp_sink); each test reads the delivered message, takes the token from the
//! link's fragment and completes the flow over HTTP.

use std::time::Duration as StdDuration;

use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tessera_store::entity::mail_queue;
use tessera_store::testing::TestDatabase;
use tessera_tests::smtp_sink::{SmtpSink, eventually, free_port};

use crate::harness::{Browser, PASSWORD, TestServer, assert_invalid_token, assert_problem};

const NEW_PASSWORD: &str = "sapphire-Walrus-lantern-77-Ode";

async fn server_sending_to(db: &TestDatabase, smtp_url: &str, extra: &[(&str, &str)]) -> TestServer {
    let mut env = vec![("TESSERA_SMTP_URL", smtp_url), ("TESSERA_SYNC_INTERVAL", "1s")];
    env.extend_from_slice(extra);
    TestServer::start(db, &env).await
}

/// The first message the sink received for `address` whose text has a `path#token=` link, and
/// that token.
async fn mailed_token(sink: &SmtpSink, address: &str, path: &str) -> String {
    let marker = format!("{path}#token=");
    eventually(
        &format!("a {path} link for {address}"),
        StdDuration::from_secs(30),
        || {
            let found = sink.messages().into_iter().find_map(|message| {
                let to = message["to"].as_str().unwrap_or("");
                let text = message["text"][0].as_str().unwrap_or("");
                let start = text.find(&marker)? + marker.len();
                let token: String = text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                to.contains(address).then_some(token)
            });
            async move { found }
        },
    )
    .await
}

/// Waits for a message to `address` whose subject contains `subject`.
async fn mailed(sink: &SmtpSink, address: &str, subject: &str) -> Value {
    eventually(
        &format!("a mail {subject:?} to {address}"),
        StdDuration::from_secs(30),
        || {
            let found = sink.messages().into_iter().find(|message| {
                message["to"].as_str().unwrap_or("").contains(address)
                    && message["subject"].as_str().unwrap_or("").contains(subject)
            });
            async move { found }
        },
    )
    .await
}

async fn login(server: &TestServer, email: &str, password: &str) -> (Browser, crate::harness::Reply) {
    let mut browser = server.browser();
    let reply = browser
        .post_json("/api/auth/login", &json!({"email": email, "password": password}))
        .await;
    (browser, reply)
}

async fn forgot(server: &TestServer, email: &str) -> Value {
    let reply = server
        .post_json("/api/auth/password/forgot", &json!({ "email": email }))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    reply.json()
}

async fn forgot_then_reset_ends_every_session_and_changes_the_password(db: &TestDatabase) {
    let sink = SmtpSink::start().await;
    let server = server_sending_to(db, &sink.url_text(), &[]).await;
    let (mut first, _) = server.register("ada@example.com").await;
    let (mut second, _) = server.login("ada@example.com").await;

    let unknown = forgot(&server, "nobody@example.com").await;
    let known = forgot(&server, "ada@example.com").await;
    assert_eq!(unknown, known, "the same answer for known and unknown addresses");
    let token = mailed_token(&sink, "ada@example.com", "/reset-password").await;

    let weak = server
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "new_password": "password1234"}),
        )
        .await;
    assert_problem(&weak, 422, "validation_failed");
    let reset = server
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.text());
    assert!(reset.set_cookies().is_empty(), "a reset does not log in");

    for browser in [&mut first, &mut second] {
        assert_invalid_token(&browser.me().await, "session_revoked");
    }
    assert_problem(
        &login(&server, "ada@example.com", PASSWORD).await.1,
        401,
        "invalid_credentials",
    );
    let (mut fresh, reply) = login(&server, "ada@example.com", NEW_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let events = fresh.get("/api/me/events").await.json();
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|event| event["kind"].as_str())
        .collect();
    for kind in ["password_reset_requested", "password_reset"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }

    let replay = server
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "new_password": "another-Fine-passphrase-31"}),
        )
        .await;
    assert_problem(&replay, 400, "token_invalid");
    mailed(&sink, "ada@example.com", "password was changed").await;
    let messages = sink.messages();
    assert!(
        messages
            .iter()
            .all(|message| !message["to"].as_str().unwrap_or("").contains("nobody")),
        "no mail for an unknown address"
    );
    let queued_for_nobody = mail_queue::Entity::find()
        .filter(mail_queue::Column::UserId.is_null())
        .all(server.state().store.connection())
        .await
        .expect("read queue");
    assert!(queued_for_nobody.is_empty());
}

async fn register_then_verify_shows_in_the_refreshed_token(db: &TestDatabase) {
    let sink = SmtpSink::start().await;
    let server = server_sending_to(db, &sink.url_text(), &[]).await;
    let (mut browser, body) = server.register("ada@example.com").await;
    assert_eq!(body["user"]["email_verified"], false);
    assert_eq!(browser.me().await.json()["email_verified"], false);

    let resend = browser.post_empty("/api/me/email/verification").await;
    assert_problem(&resend, 429, "rate_limited");
    assert!(resend.header("retry-after").is_some());

    let token = mailed_token(&sink, "ada@example.com", "/verify-email").await;
    // Opened in another browser: no session needed.
    let verified = server
        .post_json("/api/auth/email/verify", &json!({ "token": token }))
        .await;
    assert_eq!(verified.status, StatusCode::NO_CONTENT, "{}", verified.text());
    assert_eq!(browser.refresh().await.status, StatusCode::OK);
    assert_eq!(browser.me().await.json()["email_verified"], true);

    server.advance(time::Duration::seconds(61));
    let again = browser.post_empty("/api/me/email/verification").await;
    assert_problem(&again, 409, "email_already_verified");
    let replay = server
        .post_json("/api/auth/email/verify", &json!({ "token": token }))
        .await;
    assert_problem(&replay, 400, "token_invalid");
}

async fn change_email_then_confirm_keeps_only_the_asking_session(db: &TestDatabase) {
    let sink = SmtpSink::start().await;
    let server = server_sending_to(db, &sink.url_text(), &[]).await;
    let (mut asking, _) = server.register("ada@example.com").await;
    let (mut other, _) = server.login("ada@example.com").await;
    server.register("bob@example.com").await;

    let wrong = asking
        .post_json(
            "/api/me/email",
            &json!({"new_email": "ada@new.example", "current_password": "not-the-password"}),
        )
        .await;
    assert_problem(&wrong, 422, "validation_failed");
    assert!(wrong.text().contains("current_password"), "{}", wrong.text());
    let taken = asking
        .post_json(
            "/api/me/email",
            &json!({"new_email": "Bob@Example.com", "current_password": PASSWORD}),
        )
        .await;
    assert_problem(&taken, 409, "email_taken");
    let accepted = asking
        .post_json(
            "/api/me/email",
            &json!({"new_email": "ada@new.example", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text());

    let token = mailed_token(&sink, "ada@new.example", "/confirm-email").await;
    let notice = mailed(&sink, "ada@example.com", "is being changed").await;
    assert!(
        notice["text"][0].as_str().unwrap_or("").contains("ada@new.example"),
        "{notice}"
    );
    assert_eq!(
        asking.me().await.json()["email"],
        "ada@example.com",
        "nothing changed yet"
    );

    let confirmed = server
        .post_json("/api/auth/email/confirm", &json!({ "token": token }))
        .await;
    assert_eq!(confirmed.status, StatusCode::NO_CONTENT, "{}", confirmed.text());
    assert_invalid_token(&other.me().await, "session_revoked");
    assert_eq!(asking.me().await.status, StatusCode::OK, "the asking session stays");
    assert_eq!(asking.refresh().await.status, StatusCode::OK);
    let me = asking.me().await.json();
    assert_eq!(
        (me["email"].clone(), me["email_verified"].clone()),
        (json!("ada@new.example"), json!(true))
    );
    let (_, reply) = login(&server, "ada@new.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_problem(
        &login(&server, "ada@example.com", PASSWORD).await.1,
        401,
        "invalid_credentials",
    );
}

async fn a_reset_asked_while_smtp_is_down_arrives_once_it_is_up(db: &TestDatabase) {
    let port = free_port();
    let server = server_sending_to(db, &format!("smtp://127.0.0.1:{port}?tls=none"), &[]).await;
    server.register("ada@example.com").await;
    forgot(&server, "ada@example.com").await;
    // Both messages (the verification and the reset) have failed an attempt.
    eventually("failed delivery attempts", StdDuration::from_secs(30), || async {
        let rows = mail_queue::Entity::find()
            .all(server.state().store.connection())
            .await
            .expect("read queue");
        (rows.len() == 2 && rows.iter().all(|row| row.attempts >= 1 && row.status == "queued")).then_some(())
    })
    .await;

    let sink = SmtpSink::start_on(port, None).await;
    server.advance(time::Duration::seconds(31));
    server.state().store.wake_mail_worker();
    let token = mailed_token(&sink, "ada@example.com", "/reset-password").await;
    let reset = server
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.text());
}

/// The reset's mail is committed with its token, so an instance that stops before it could send
/// (here: SMTP is down until after the stop) leaves it to the next instance, which delivers it.
async fn a_reset_committed_before_the_server_stops_is_sent_after_its_restart(db: &TestDatabase) {
    let port = free_port();
    let server = server_sending_to(db, &format!("smtp://127.0.0.1:{port}?tls=none"), &[]).await;
    server.register("ada@example.com").await;
    forgot(&server, "ada@example.com").await;
    eventually("the reset mail queued", StdDuration::from_secs(30), || async {
        let rows = mail_queue::Entity::find()
            .filter(mail_queue::Column::Kind.eq("reset_password"))
            .all(server.state().store.connection())
            .await
            .expect("read queue");
        (rows.len() == 1 && rows.iter().all(|row| row.status == "queued")).then_some(())
    })
    .await;

    let server = server.restart().await;
    let sink = SmtpSink::start_on(port, None).await;
    // Past the first retry delay and the lease a stopped worker may have held.
    server.advance(time::Duration::minutes(11));
    server.state().store.wake_mail_worker();
    let token = mailed_token(&sink, "ada@example.com", "/reset-password").await;
    let reset = server
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.text());
    let resets = sink
        .messages()
        .into_iter()
        .filter(|m| m["text"][0].as_str().unwrap_or("").contains("/reset-password#token="))
        .count();
    assert_eq!(resets, 1, "the reset mail was sent once");
}

async fn unknown_used_expired_and_other_purpose_tokens_are_token_invalid(db: &TestDatabase) {
    let sink = SmtpSink::start().await;
    let server = server_sending_to(db, &sink.url_text(), &[]).await;
    server.register("ada@example.com").await;
    let verification = mailed_token(&sink, "ada@example.com", "/verify-email").await;

    let unknown = "q3Xh0-_Zt9Y2bLr8Vw1kPn4sJd6Gf5Hc7Am0Ee2Ui3o";
    for token in [unknown, "short", "not base64url!", verification.as_str()] {
        let reset = server
            .post_json(
                "/api/auth/password/reset",
                &json!({"token": token, "new_password": NEW_PASSWORD}),
            )
            .await;
        assert_problem(&reset, 400, "token_invalid");
        let confirm = server
            .post_json("/api/auth/email/confirm", &json!({ "token": token }))
            .await;
        assert_problem(&confirm, 400, "token_invalid");
    }
    // The verification token survived being shown to the wrong endpoints.
    let verified = server
        .post_json("/api/auth/email/verify", &json!({ "token": verification }))
        .await;
    assert_eq!(verified.status, StatusCode::NO_CONTENT, "{}", verified.text());

    forgot(&server, "ada@example.com").await;
    let reset = mailed_token(&sink, "ada@example.com", "/reset-password").await;
    assert_problem(
        &server
            .post_json("/api/auth/email/verify", &json!({ "token": reset }))
            .await,
        400,
        "token_invalid",
    );
    server.advance(time::Duration::minutes(30));
    let expired = server
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": reset, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_problem(&expired, 400, "token_invalid");
    let (_, still) = login(&server, "ada@example.com", PASSWORD).await;
    assert_eq!(still.status, StatusCode::OK, "no state change");
}

async fn bad_input_to_the_mail_endpoints_is_a_4xx_problem(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let long_address = format!("{}@example.com", "a".repeat(300));
    let long_token = "A".repeat(300);
    let cases = [
        ("/api/auth/password/forgot", json!({ "email": long_address })),
        ("/api/auth/password/forgot", json!({ "email": 42 })),
        ("/api/auth/password/forgot", json!({ "email": "a@b.c", "extra": 1 })),
        (
            "/api/auth/password/reset",
            json!({ "token": long_token, "new_password": NEW_PASSWORD }),
        ),
        ("/api/auth/password/reset", json!({ "token": "abc" })),
        ("/api/auth/email/verify", json!({ "token": null })),
        ("/api/auth/email/confirm", json!({})),
    ];
    for (path, body) in cases {
        let reply = server.post_json(path, &body).await;
        assert_problem(&reply, 400, "validation_failed");
    }
    for path in [
        "/api/auth/password/forgot",
        "/api/auth/password/reset",
        "/api/auth/email/verify",
        "/api/auth/email/confirm",
    ] {
        let reply = server
            .send(
                server
                    .request(Method::POST, path)
                    .header("content-type", "application/json")
                    .body("{not json"),
            )
            .await;
        assert_problem(&reply, 400, "validation_failed");
        let reply = server
            .send(
                server
                    .request(Method::POST, path)
                    .header("content-type", "text/plain")
                    .body("x"),
            )
            .await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.status);
    }
    let (mut browser, _) = server.register("ada@example.com").await;
    let reply = browser
        .post_json(
            "/api/me/email",
            &json!({"new_email": long_address, "current_password": PASSWORD}),
        )
        .await;
    assert_problem(&reply, 400, "validation_failed");
    let reply = browser
        .post_json(
            "/api/me/email",
            &json!({"new_email": "no-at-sign", "current_password": PASSWORD}),
        )
        .await;
    assert_problem(&reply, 422, "validation_failed");
}

async fn a_required_verified_address_gives_no_session_until_verified(db: &TestDatabase) {
    let sink = SmtpSink::start().await;
    let server = server_sending_to(db, &sink.url_text(), &[("TESSERA_REQUIRE_VERIFIED_EMAIL", "true")]).await;
    let mut browser = server.browser();
    let registered = browser
        .post_json(
            "/api/auth/register",
            &json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}),
        )
        .await;
    assert_problem(&registered, 403, "email_unverified");
    assert!(browser.cookie(crate::harness::ACCESS).is_none(), "no session");
    assert_problem(
        &login(&server, "ada@example.com", "wrong-password-entirely").await.1,
        401,
        "invalid_credentials",
    );
    assert_problem(
        &login(&server, "ada@example.com", PASSWORD).await.1,
        403,
        "email_unverified",
    );

    let token = mailed_token(&sink, "ada@example.com", "/verify-email").await;
    let verified = server
        .post_json("/api/auth/email/verify", &json!({ "token": token }))
        .await;
    assert_eq!(verified.status, StatusCode::NO_CONTENT);
    let (mut browser, reply) = login(&server, "ada@example.com", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(browser.me().await.json()["email_verified"], true);
}

tessera_store::backend_tests!(
    forgot_then_reset_ends_every_session_and_changes_the_password,
    register_then_verify_shows_in_the_refreshed_token,
    change_email_then_confirm_keeps_only_the_asking_session,
    a_reset_asked_while_smtp_is_down_arrives_once_it_is_up,
    a_reset_committed_before_the_server_stops_is_sent_after_its_restart,
    unknown_used_expired_and_other_purpose_tokens_are_token_invalid,
    bad_input_to_the_mail_endpoints_is_a_4xx_problem,
    a_required_verified_address_gives_no_session_until_verified,
);
