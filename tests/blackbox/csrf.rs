//! Case 7: CSRF tokens bound to the session, origin and fetch-metadata checks, JSON-only bodies.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera_store::testing::TestDatabase;

use crate::harness::{Browser, CSRF, ORIGIN, PASSWORD, TestServer, assert_problem};

fn patch_me(browser: &Browser, csrf: Option<&str>) -> reqwest::RequestBuilder {
    let request = browser
        .request(Method::PATCH, "/api/me")
        .json(&json!({"name": "Mallory"}));
    match csrf {
        Some(token) => request.header("x-csrf-token", token),
        None => request,
    }
}

async fn csrf_and_origin_checks(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut alice, _) = server.register("alice@example.com").await;
    let (bob, _) = server.register("bob@example.com").await;
    let alice_csrf = alice.csrf();
    let bob_csrf = bob.csrf();

    // Cookie-authenticated PATCH: missing, wrong, empty, another session's token.
    let forged = {
        let mut chars: Vec<char> = alice_csrf.chars().collect();
        chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let cases: Vec<(&str, Browser, Option<String>)> = vec![
        ("no header", alice.clone(), None),
        ("wrong token", alice.clone(), Some("not-the-token".to_owned())),
        ("empty token", alice.clone(), Some(String::new())),
        ("one character off", alice.clone(), Some(forged.clone())),
        (
            "another session's token in the header",
            alice.clone(),
            Some(bob_csrf.clone()),
        ),
        (
            "another session's token in header and cookie",
            {
                let mut planted = alice.clone();
                planted.set_cookie(CSRF, &bob_csrf);
                planted
            },
            Some(bob_csrf.clone()),
        ),
        (
            "the right token but no CSRF cookie",
            {
                let mut stripped = alice.clone();
                stripped.remove_cookie(CSRF);
                stripped
            },
            Some(alice_csrf.clone()),
        ),
        (
            "a forged token in header and cookie",
            {
                let mut planted = alice.clone();
                planted.set_cookie(CSRF, &forged);
                planted
            },
            Some(forged.clone()),
        ),
    ];
    for (label, browser, csrf) in &cases {
        let reply = server.send(patch_me(browser, csrf.as_deref())).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{label}: {}", reply.text());
        assert_problem(&reply, 403, "csrf_failed");
    }
    // Nothing changed.
    assert_eq!(alice.me().await.json()["name"], "Test User");

    // The right token works (control), also with a same-origin Origin and Sec-Fetch-Site.
    let reply = server.send(patch_me(&alice, Some(&alice_csrf))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    for (header, value) in [
        ("origin", ORIGIN),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-site", "none"),
    ] {
        let reply = server
            .send(patch_me(&alice, Some(&alice_csrf)).header(header, value))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{header}: {value}: {}", reply.text());
    }

    // Cross-site fetch metadata or a foreign Origin: refused even with the right token.
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "CROSS-SITE"),
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("origin", "http://tessera.test.evil.example"),
        ("origin", "https://tessera.test"),
        ("origin", "http://tessera.test:8080"),
    ] {
        let reply = server
            .send(patch_me(&alice, Some(&alice_csrf)).header(header, value))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{header}: {value}: {}",
            reply.text()
        );
        assert_problem(&reply, 403, "csrf_failed");
        // A foreign Origin is told where the app lives (the SPA sends its user there);
        // fetch metadata refusals carry no such hint.
        let public_origin = reply.json()["public_origin"].clone();
        if header == "origin" {
            assert_eq!(public_origin, ORIGIN, "{value}: {}", reply.text());
            assert!(reply.json()["detail"].as_str().is_some_and(|d| d.contains(ORIGIN)));
        } else {
            assert!(public_origin.is_null(), "{}", reply.text());
        }
    }

    // The same on login and register (no session yet): no cookies, no session.
    let credentials = json!({"email": "alice@example.com", "password": PASSWORD});
    for (header, value) in [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")] {
        let reply = server
            .send(
                server
                    .request(Method::POST, "/api/auth/login")
                    .header(header, value)
                    .json(&credentials),
            )
            .await;
        assert_problem(&reply, 403, "csrf_failed");
        reply.assert_no_cookies();
        let registration = json!({"email": "eve@example.com", "password": PASSWORD, "name": "Eve"});
        let reply = server
            .send(
                server
                    .request(Method::POST, "/api/auth/register")
                    .header(header, value)
                    .json(&registration),
            )
            .await;
        assert_problem(&reply, 403, "csrf_failed");
    }
    let reply = server
        .send(
            server
                .request(Method::POST, "/api/auth/login")
                .header("origin", ORIGIN)
                .json(&credentials),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "same-origin login: {}", reply.text());

    // Simple-request content types (what an HTML form can send cross-site) are refused.
    let body = credentials.to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain; charset=utf-8",
    ] {
        let request = server
            .request(Method::POST, "/api/auth/login")
            .header("content-type", content_type)
            .body(body.clone());
        let reply = server.send(request).await;
        assert_problem(&reply, 403, "csrf_failed");
        reply.assert_no_cookies();
    }
    let request = server.request(Method::POST, "/api/auth/login").body(body.clone());
    assert_problem(&server.send(request).await, 403, "csrf_failed");
    let request = alice
        .request_csrf(Method::PATCH, "/api/me")
        .header("content-type", "text/plain")
        .body(json!({"name": "Mallory"}).to_string());
    assert_problem(&server.send(request).await, 403, "csrf_failed");
    // A JSON content type with parameters is fine.
    let request = server
        .request(Method::POST, "/api/auth/login")
        .header("content-type", "application/json; charset=utf-8")
        .body(body.clone());
    assert_eq!(server.send(request).await.status, StatusCode::OK);

    // Refresh and logout through cookies need the CSRF token too; refused attempts change nothing.
    let refresh_before = alice.refresh_token();
    for csrf in [None, Some("wrong"), Some(bob_csrf.as_str())] {
        let mut request = alice.request(Method::POST, "/api/auth/refresh");
        if let Some(token) = csrf {
            request = request.header("x-csrf-token", token);
        }
        assert_problem(&server.send(request).await, 403, "csrf_failed");
        let mut request = alice.request(Method::POST, "/api/auth/logout");
        if let Some(token) = csrf {
            request = request.header("x-csrf-token", token);
        }
        let reply = server.send(request).await;
        assert_problem(&reply, 403, "csrf_failed");
    }
    let request = alice
        .request_csrf(Method::POST, "/api/auth/refresh")
        .header("sec-fetch-site", "cross-site");
    assert_problem(&server.send(request).await, 403, "csrf_failed");
    let request = alice
        .request_csrf(Method::POST, "/api/auth/logout")
        .header("origin", "https://evil.example");
    assert_problem(&server.send(request).await, 403, "csrf_failed");

    assert_eq!(
        alice.me().await.status,
        StatusCode::OK,
        "a refused logout must not end the session"
    );
    assert_eq!(alice.refresh_token(), refresh_before);
    let reply = alice.refresh().await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_ne!(alice.refresh_token(), refresh_before);

    // Safe methods need no CSRF token.
    assert_eq!(alice.me().await.status, StatusCode::OK);
}

tessera_store::backend_tests!(csrf_and_origin_checks);
