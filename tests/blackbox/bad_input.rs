//! Case 9: hostile and broken input never produces a 500, always a problem document with a stable
//! code, and a failed request changes no state.

use futures::stream;
use reqwest::header::HeaderValue;
use reqwest::{Body, Method, StatusCode};
use serde_json::{Value, json};
use tessera_store::testing::TestDatabase;

use crate::harness::{ACCESS, CSRF, PASSWORD, REFRESH, Reply, TestServer, assert_problem};

#[track_caller]
fn assert_validation(reply: &Reply, label: &str) {
    assert!(
        matches!(reply.status.as_u16(), 400 | 422),
        "{label}: {} {}",
        reply.status,
        reply.text()
    );
    assert_problem(reply, reply.status.as_u16(), "validation_failed");
}

fn raw_json(server: &TestServer, method: Method, path: &str, body: impl Into<Body>) -> reqwest::RequestBuilder {
    server
        .request(method, path)
        .header("content-type", "application/json")
        .body(body)
}

async fn bad_input_never_500(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, _) = server.register("alice@example.com").await;

    // Bodies for login, register, refresh, logout and PATCH /api/me.
    let long = "a".repeat(300);
    let deep_nesting = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        (
            "truncated JSON",
            br#"{"email": "alice@example.com", "password": "#.to_vec(),
        ),
        ("not JSON", b"email=alice&password=x".to_vec()),
        (
            "trailing garbage",
            format!(r#"{{"email":"alice@example.com","password":"{PASSWORD}"}} x"#).into_bytes(),
        ),
        ("JSON null", b"null".to_vec()),
        ("JSON array", b"[]".to_vec()),
        ("JSON string", br#""alice""#.to_vec()),
        ("JSON number", b"42".to_vec()),
        (
            "nested objects",
            br#"{"email": {"$ne": null}, "password": {"$ne": null}}"#.to_vec(),
        ),
        (
            "unknown field",
            format!(r#"{{"email":"alice@example.com","password":"{PASSWORD}","role":"admin"}}"#).into_bytes(),
        ),
        ("missing password", br#"{"email": "alice@example.com"}"#.to_vec()),
        ("missing everything", b"{}".to_vec()),
        (
            "over-long email",
            format!(r#"{{"email":"{long}@example.com","password":"x"}}"#).into_bytes(),
        ),
        (
            "over-long password",
            format!(r#"{{"email":"alice@example.com","password":"{}"}}"#, "p".repeat(300)).into_bytes(),
        ),
        (
            "bad token_delivery",
            format!(r#"{{"email":"alice@example.com","password":"{PASSWORD}","token_delivery":"pigeon"}}"#)
                .into_bytes(),
        ),
        (
            "non-UTF-8",
            b"{\"email\": \"\xff\xfe\", \"password\": \"\xc3\x28\"}".to_vec(),
        ),
        ("bare non-UTF-8", vec![0xff, 0xfe, 0xfd]),
        ("NUL bytes", b"{\"email\": \"a\0b\", \"password\": \"\0\"}".to_vec()),
        ("deep nesting", deep_nesting.into_bytes()),
        (
            "duplicate keys",
            format!(
                r#"{{"email":"x@example.com","email":"alice@example.com","password":"{PASSWORD}","password":"y"}}"#
            )
            .into_bytes(),
        ),
        (
            "UTF-8 BOM",
            [
                b"\xef\xbb\xbf".as_slice(),
                br#"{"email":"alice@example.com","password":"x"}"#,
            ]
            .concat(),
        ),
    ];
    for (label, body) in &malformed {
        let reply = server
            .send(raw_json(&server, Method::POST, "/api/auth/login", body.clone()))
            .await;
        if reply.status == StatusCode::UNAUTHORIZED {
            // Only acceptable when the body did parse to a well-formed (wrong) login.
            assert!(
                matches!(*label, "duplicate keys" | "UTF-8 BOM"),
                "{label}: {}",
                reply.text()
            );
            assert_problem(&reply, 401, "invalid_credentials");
        } else {
            assert_validation(&reply, &format!("login: {label}"));
        }
        reply.assert_no_cookies();
        let reply = server
            .send(raw_json(&server, Method::POST, "/api/auth/register", body.clone()))
            .await;
        assert_validation(&reply, &format!("register: {label}"));
        reply.assert_no_cookies();
        let reply = server
            .send(raw_json(&server, Method::POST, "/api/auth/refresh", body.clone()))
            .await;
        assert_validation(&reply, &format!("refresh: {label}"));
        let reply = server
            .send(raw_json(&server, Method::POST, "/api/auth/logout", body.clone()))
            .await;
        assert_validation(&reply, &format!("logout: {label}"));
        let request = browser
            .request_csrf(Method::PATCH, "/api/me")
            .header("content-type", "application/json")
            .body(body.clone());
        let reply = server.send(request).await;
        assert_validation(&reply, &format!("PATCH /api/me: {label}"));
    }

    // Empty bodies where one is required.
    for content_type in [Some("application/json"), None] {
        for path in ["/api/auth/login", "/api/auth/register"] {
            let mut request = server.request(Method::POST, path);
            if let Some(ct) = content_type {
                request = request.header("content-type", ct);
            }
            assert_validation(
                &server.send(request).await,
                &format!("empty body on {path} ({content_type:?})"),
            );
        }
    }
    assert_validation(
        &server.send(browser.request_csrf(Method::PATCH, "/api/me")).await,
        "empty PATCH /api/me",
    );

    // Field-level limits on refresh and profile.
    assert_validation(
        &server.refresh_body(&"A".repeat(1_000)).await,
        "over-long refresh_token",
    );
    assert_validation(
        &server
            .post_json("/api/auth/refresh", &json!({"refresh_token": null}))
            .await,
        "null refresh_token",
    );
    assert_validation(
        &server
            .post_json("/api/auth/refresh", &json!({"refresh_token": "x", "extra": 1}))
            .await,
        "refresh unknown field",
    );
    for name in [
        Value::String("n".repeat(101)),
        Value::String(String::new()),
        json!(null),
        json!(["a"]),
        json!("\u{7}bell"),
    ] {
        let request = browser
            .request_csrf(Method::PATCH, "/api/me")
            .json(&json!({ "name": name }));
        assert_validation(&server.send(request).await, &format!("name {name}"));
    }
    let request = browser
        .request_csrf(Method::PATCH, "/api/me")
        .json(&json!({"name": "ok", "role": "admin"}));
    assert_validation(&server.send(request).await, "PATCH /api/me with role");

    // Bodies over 64 KiB: 413, with or without a Content-Length.
    let big = format!(
        r#"{{"email":"alice@example.com","password":"{}"}}"#,
        "p".repeat(70 * 1024)
    );
    for path in ["/api/auth/login", "/api/auth/register", "/api/auth/refresh"] {
        let reply = server.send(raw_json(&server, Method::POST, path, big.clone())).await;
        assert_problem(&reply, 413, "payload_too_large");
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            big.as_bytes().chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
        let streamed = raw_json(&server, Method::POST, path, Body::wrap_stream(stream::iter(chunks)));
        assert_problem(&server.send(streamed).await, 413, "payload_too_large");
    }
    let request = browser
        .request_csrf(Method::PATCH, "/api/me")
        .header("content-type", "application/json")
        .body(big.clone());
    assert_problem(&server.send(request).await, 413, "payload_too_large");

    // Garbage cookies.
    let huge = "A".repeat(16 * 1024);
    let cookie_headers = [
        format!("{ACCESS}=%%%"),
        format!("{ACCESS}={huge}"),
        format!("{ACCESS}=\"quoted\""),
        format!("{ACCESS}="),
        format!("{ACCESS}=a.b.c; {ACCESS}=d.e.f"),
        "=;;;==; ;".to_owned(),
        ACCESS.to_owned(),
        format!("{REFRESH}=%%%; {CSRF}=%%%"),
        format!("{REFRESH}={huge}; {CSRF}={huge}"),
        format!("access={}", browser.access()),
        format!("__host-access={}", browser.access()),
    ];
    for cookie in &cookie_headers {
        let label = &cookie[..cookie.len().min(60)];
        let reply = server
            .send(server.request(Method::GET, "/api/me").header("cookie", cookie))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "GET /api/me with {label}: {}",
            reply.text()
        );
        let request = server
            .request(Method::POST, "/api/auth/refresh")
            .header("cookie", cookie)
            .header("x-csrf-token", "%%%");
        let reply = server.send(request).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "refresh with {label}: {}",
            reply.text()
        );
        let request = server
            .request(Method::POST, "/api/auth/logout")
            .header("cookie", cookie)
            .header("x-csrf-token", "%%%");
        let reply = server.send(request).await;
        assert!(
            matches!(reply.status.as_u16(), 204 | 401 | 403),
            "logout with {label}: {}",
            reply.text()
        );
    }

    // Garbage Authorization headers.
    let huge_bearer = format!("Bearer {}", "A".repeat(32 * 1024));
    let authorizations: Vec<HeaderValue> = vec![
        HeaderValue::from_static("Bearer"),
        HeaderValue::from_static("Bearer "),
        HeaderValue::from_static("Bearer    "),
        HeaderValue::from_static("Basic YWxpY2U6cGFzc3dvcmQ="),
        HeaderValue::from_static("Negotiate abc"),
        HeaderValue::from_static("Bearer a.b.c"),
        HeaderValue::from_static("Bearer a b c"),
        HeaderValue::from_static("Bearer null"),
        HeaderValue::from_static("Bearer %%%"),
        HeaderValue::from_static(""),
        HeaderValue::from_str(&huge_bearer).expect("ASCII"),
        HeaderValue::from_bytes(b"Bearer \xff\xfe\x80").expect("obs-text is a valid header value"),
    ];
    for authorization in authorizations {
        let label = String::from_utf8_lossy(&authorization.as_bytes()[..authorization.len().min(40)]).into_owned();
        let request = browser
            .request(Method::GET, "/api/me")
            .header("authorization", authorization.clone());
        let reply = server.send(request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{label:?}: {}", reply.text());
        let request = server
            .request(Method::POST, "/api/auth/logout")
            .header("authorization", authorization);
        assert_eq!(
            server.send(request).await.status,
            StatusCode::UNAUTHORIZED,
            "logout {label:?}"
        );
    }
    // Repeated Authorization headers.
    let request = server
        .request(Method::GET, "/api/me")
        .header("authorization", format!("Bearer {}", browser.access()))
        .header("authorization", "Bearer garbage");
    let reply = server.send(request).await;
    assert!(matches!(reply.status.as_u16(), 200 | 400 | 401), "{}", reply.status);

    // Unknown API paths: 404 problem. Wrong methods: 405 problem.
    for (method, path) in [
        (Method::GET, "/api/nope"),
        (Method::POST, "/api/nope"),
        (Method::GET, "/api"),
        (Method::GET, "/api/auth"),
        (Method::GET, "/api/me/nope"),
        (Method::DELETE, "/api/users/1"),
        (Method::GET, "/.well-known/openid-configuration"),
    ] {
        let reply = server.send(server.request(method.clone(), path)).await;
        assert_problem(&reply, 404, "not_found");
    }
    for (method, path) in [
        (Method::GET, "/api/auth/login"),
        (Method::GET, "/api/auth/register"),
        (Method::GET, "/api/auth/refresh"),
        (Method::GET, "/api/auth/logout"),
        (Method::PUT, "/api/auth/login"),
        (Method::PUT, "/api/me"),
        (Method::POST, "/api/me"),
        (Method::POST, "/api/health"),
        (Method::DELETE, "/.well-known/jwks.json"),
    ] {
        let reply = server.send(browser.request_csrf(method.clone(), path)).await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            reply.text()
        );
        assert_problem(&reply, 405, "method_not_allowed");
    }

    // Garbage refreshes and logouts against the real session change nothing: the real token is
    // still the current one and rotates normally.
    let real_refresh = browser.refresh_token();
    let garbage_refreshes: Vec<reqwest::RequestBuilder> = vec![
        server.request(Method::POST, "/api/auth/refresh"),
        server
            .request(Method::POST, "/api/auth/refresh")
            .header("cookie", format!("{REFRESH}=%%%")),
        browser.request(Method::POST, "/api/auth/refresh"),
        browser
            .request(Method::POST, "/api/auth/refresh")
            .header("x-csrf-token", "wrong"),
        browser
            .request_csrf(Method::POST, "/api/auth/refresh")
            .header("origin", "https://evil.example"),
        browser
            .request_csrf(Method::POST, "/api/auth/refresh")
            .header("content-type", "text/plain")
            .body("{}"),
        raw_json(
            &server,
            Method::POST,
            "/api/auth/refresh",
            format!(r#"{{"refresh_token":"{real_refresh}""#),
        ),
        raw_json(
            &server,
            Method::POST,
            "/api/auth/refresh",
            format!(r#"{{"refresh_token":"{real_refresh}x"}}"#),
        ),
        browser
            .request_csrf(Method::POST, "/api/auth/logout")
            .header("sec-fetch-site", "cross-site"),
        browser.request(Method::POST, "/api/auth/logout"),
        raw_json(
            &server,
            Method::POST,
            "/api/auth/logout",
            format!(r#"{{"refresh_token":"{real_refresh}","x":1}}"#),
        ),
    ];
    for request in garbage_refreshes {
        let reply = server.send(request).await;
        assert!(reply.status.is_client_error(), "{} {}", reply.status, reply.text());
    }
    assert_eq!(browser.me().await.status, StatusCode::OK);
    assert_eq!(browser.refresh_token(), real_refresh);
    server.advance(time::Duration::seconds(60));
    let reply = browser.refresh().await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the real session must refresh normally: {}",
        reply.text()
    );
    assert_ne!(browser.refresh_token(), real_refresh);
    assert_eq!(
        browser.me().await.json()["name"],
        "Test User",
        "no garbage PATCH got through"
    );
    // And the real credentials still log in (no garbage login changed the account).
    server.login("alice@example.com").await;
}

/// Wrong JSON types are refused, not coerced: `{"email": 5}` is not the email "5", `true` is not
/// the password "true" (DESIGN.md: wrong types get 400/422 `validation_failed`).
async fn wrong_json_types_are_refused(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (browser, _) = server.register("alice@example.com").await;
    let mut failures = Vec::new();
    let mut check = |label: String, reply: Reply| {
        let ok = matches!(reply.status.as_u16(), 400 | 422) && reply.json()["code"] == "validation_failed";
        if !ok {
            failures.push(format!("{label}: {} {}", reply.status, reply.text()));
        }
    };
    for body in [
        json!({"email": 5, "password": PASSWORD}),
        json!({"email": "alice@example.com", "password": true}),
        json!({"email": "alice@example.com", "password": 123456789012345_u64}),
        json!({"email": "alice@example.com", "password": PASSWORD, "token_delivery": 1}),
    ] {
        check(
            format!("login {body}"),
            server.post_json("/api/auth/login", &body).await,
        );
    }
    for body in [
        json!({"email": 5, "password": PASSWORD, "name": "A"}),
        json!({"email": "bob@example.com", "password": PASSWORD, "name": 42}),
        json!({"email": "carol@example.com", "password": PASSWORD, "name": false}),
    ] {
        check(
            format!("register {body}"),
            server.post_json("/api/auth/register", &body).await,
        );
    }
    check(
        "refresh 5".to_owned(),
        server
            .post_json("/api/auth/refresh", &json!({"refresh_token": 5}))
            .await,
    );
    check(
        "logout 5".to_owned(),
        server.post_json("/api/auth/logout", &json!({"refresh_token": 5})).await,
    );
    for name in [json!(42), json!(true)] {
        let request = browser
            .request_csrf(Method::PATCH, "/api/me")
            .json(&json!({ "name": name }));
        check(format!("PATCH /api/me name {name}"), server.send(request).await);
    }
    assert!(
        failures.is_empty(),
        "wrong JSON types accepted:\n{}",
        failures.join("\n")
    );
}

tessera_store::backend_tests!(bad_input_never_500, wrong_json_types_are_refused);
