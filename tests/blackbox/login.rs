//! Case 2: login and registration rules — no account enumeration, email normalisation, unique
//! emails, the password policy.

use reqwest::StatusCode;
use serde_json::json;
use tessera_store::testing::TestDatabase;

use crate::harness::{ACCESS, PASSWORD, TestServer, assert_problem};

async fn login_rules(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    server.register("alice@example.com").await;

    // Wrong password and unknown email: the same status, headers and body, byte for byte.
    let wrong_password = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "alice@example.com", "password": "not-her-password-at-all"}),
        )
        .await;
    let unknown_email = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "nobody@example.com", "password": "not-her-password-at-all"}),
        )
        .await;
    let unknown_right_password = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "nobody@example.com", "password": PASSWORD}),
        )
        .await;
    let bad_email_shape = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "not an email", "password": PASSWORD}),
        )
        .await;
    for reply in [
        &wrong_password,
        &unknown_email,
        &unknown_right_password,
        &bad_email_shape,
    ] {
        assert_problem(reply, 401, "invalid_credentials");
        reply.assert_no_cookies();
        assert_eq!(
            reply.body, wrong_password.body,
            "login failures must be indistinguishable"
        );
        let names = |r: &crate::harness::Reply| {
            let mut names: Vec<String> = r
                .headers
                .keys()
                .map(|k| k.as_str().to_owned())
                .filter(|k| k != "x-request-id" && k != "date")
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(reply), names(&wrong_password), "header sets differ");
        assert_eq!(
            reply.header("www-authenticate"),
            wrong_password.header("www-authenticate")
        );
    }

    // Email: case-insensitive and trimmed; stored normalised.
    let reply = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "  ALICE@Example.COM \t", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["user"]["email"], "alice@example.com");
    assert!(reply.set_cookie(ACCESS).is_some());

    // The password itself is not normalised.
    let reply = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "alice@example.com", "password": format!(" {PASSWORD} ")}),
        )
        .await;
    assert_problem(&reply, 401, "invalid_credentials");
    let reply = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "alice@example.com", "password": PASSWORD.to_uppercase()}),
        )
        .await;
    assert_problem(&reply, 401, "invalid_credentials");

    // Duplicate registration, in any case or spacing: 409, and no session is started.
    for email in ["alice@example.com", " Alice@EXAMPLE.com "] {
        let reply = server
            .post_json(
                "/api/auth/register",
                &json!({"email": email, "password": "another-Strong-passphrase-99", "name": "Eve"}),
            )
            .await;
        assert_problem(&reply, 409, "email_taken");
        reply.assert_no_cookies();
    }
    // ... and the original password still works (the account was not overwritten).
    server.login("alice@example.com").await;

    // Weak, short, over-long passwords and bad emails/names: validation_failed, no account.
    let weak = [
        "short1!A",
        "password1234",
        "123456789012",
        "aaaaaaaaaaaaaaaa",
        "qwertyuiopasdf",
        "bob@example.com1",
    ];
    for password in weak {
        let reply = server
            .post_json(
                "/api/auth/register",
                &json!({"email": "bob@example.com", "password": password, "name": "Bob"}),
            )
            .await;
        assert_problem(&reply, 422, "validation_failed");
        reply.assert_no_cookies();
    }
    let too_long = "x9!Q".repeat(65);
    let reply = server
        .post_json(
            "/api/auth/register",
            &json!({"email": "bob@example.com", "password": too_long, "name": "Bob"}),
        )
        .await;
    assert!(matches!(reply.status.as_u16(), 400 | 422), "{}", reply.text());
    assert_problem(&reply, reply.status.as_u16(), "validation_failed");
    for email in ["", "bob", "bob@", "@example.com", "bob example.com"] {
        let reply = server
            .post_json(
                "/api/auth/register",
                &json!({"email": email, "password": PASSWORD, "name": "Bob"}),
            )
            .await;
        assert_problem(&reply, 422, "validation_failed");
    }
    for name in ["", "   ", "bad\u{0}name", "line\nbreak"] {
        let reply = server
            .post_json(
                "/api/auth/register",
                &json!({"email": "bob@example.com", "password": PASSWORD, "name": name}),
            )
            .await;
        assert_problem(&reply, 422, "validation_failed");
    }
    // None of the refused registrations created bob.
    let reply = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(&reply, 401, "invalid_credentials");

    // Long unicode passwords within the limit are fine.
    let unicode = "ünïcödé-pässwörd-🦀-with-enough-entropy";
    let reply = server
        .post_json(
            "/api/auth/register",
            &json!({"email": "carol@example.com", "password": unicode, "name": "Carol"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let reply = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "carol@example.com", "password": unicode}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

tessera_store::backend_tests!(login_rules);
