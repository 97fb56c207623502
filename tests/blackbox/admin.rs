//! User administration: only the admin role gets in, disabling and role changes end sessions at
//! once, a disabled account cannot log in (and looks like a wrong password).

use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera_auth_core::ports::UserRepository;
use tessera_auth_core::user::Role;
use tessera_store::testing::TestDatabase;

use crate::harness::{Browser, PASSWORD, TestServer, assert_invalid_token, assert_problem};

/// Registers `email`, promotes it to admin directly in the store (as `tessera user create --admin`
/// would) and logs in again so the token carries the role.
pub(crate) async fn admin(server: &TestServer, email: &str) -> Browser {
    let (_, body) = server.register(email).await;
    let id: uuid::Uuid = body["user"]["id"].as_str().expect("id").parse().expect("uuid");
    server
        .state()
        .store
        .update_user_role(id, Role::Admin, server.now())
        .await
        .expect("promote")
        .expect("user exists");
    let (browser, body) = server.login(email).await;
    assert_eq!(body["user"]["role"], "admin");
    browser
}

async fn admin_endpoints(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let mut root = admin(&server, "root@example.com").await;
    let (mut bob, body) = server.register("bob@example.com").await;
    let bob_id = body["user"]["id"].as_str().expect("id").to_owned();
    let bob_native = server.login_native("bob@example.com").await;
    let root_id = root.me().await.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(root.me().await.json()["role"], "admin");

    // Ordinary users are refused everything with 403 forbidden.
    let attempts = [
        (Method::GET, "/api/admin/users".to_owned(), None),
        (
            Method::PATCH,
            format!("/api/admin/users/{bob_id}"),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::PATCH,
            format!("/api/admin/users/{root_id}"),
            Some(json!({"disabled": true})),
        ),
        (
            Method::POST,
            format!("/api/admin/users/{root_id}/revoke-sessions"),
            None,
        ),
    ];
    for (method, path, body) in &attempts {
        let mut request = bob.request_csrf(method.clone(), path);
        if let Some(body) = body {
            request = request.json(body);
        }
        assert_problem(&bob.send(request).await, 403, "forbidden");
        let mut request = server.request(method.clone(), path).bearer_auth(&bob_native.access);
        if let Some(body) = body {
            request = request.json(body);
        }
        assert_problem(&server.send(request).await, 403, "forbidden");
        // And without credentials, 401.
        let mut request = server.request(method.clone(), path);
        if let Some(body) = body {
            request = request.json(body);
        }
        assert_problem(&server.send(request).await, 401, "unauthenticated");
    }
    assert_eq!(bob.me().await.json()["role"], "user", "nothing changed");
    assert_eq!(root.me().await.status, StatusCode::OK);

    // The admin lists users: public fields and the flags, never a hash.
    let reply = root.get("/api/admin/users").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let items = reply.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 2);
    for item in &items {
        let mut fields: Vec<&str> = item.as_object().expect("user").keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["created_at", "disabled", "email", "id", "name", "role"],
            "{item}"
        );
    }
    assert!(!reply.text().contains("argon2"));
    let reply = root.get("/api/admin/users?limit=1").await;
    let page = reply.json();
    assert_eq!(page["items"].as_array().expect("items").len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a second page").to_owned();
    let reply = root.get(&format!("/api/admin/users?limit=1&cursor={cursor}")).await;
    let page2 = reply.json();
    assert_eq!(page2["items"].as_array().expect("items").len(), 1);
    assert_ne!(page2["items"][0]["id"], page["items"][0]["id"]);

    // Admin requests through cookies still need CSRF.
    let request = root.request(Method::POST, &format!("/api/admin/users/{bob_id}/revoke-sessions"));
    assert_problem(&root.send(request).await, 403, "csrf_failed");
    assert_eq!(bob.me().await.status, StatusCode::OK);
    // Unknown users and bad bodies.
    let request = root
        .request_csrf(Method::PATCH, &format!("/api/admin/users/{}", uuid::Uuid::new_v4()))
        .json(&json!({"disabled": true}));
    assert_problem(&root.send(request).await, 404, "not_found");
    let request = root.request_csrf(
        Method::POST,
        &format!("/api/admin/users/{}/revoke-sessions", uuid::Uuid::new_v4()),
    );
    assert_problem(&root.send(request).await, 404, "not_found");
    for body in [
        json!({"role": "root"}),
        json!({"disabled": "yes"}),
        json!({"password_hash": "x"}),
        json!({"role": "admin", "email": "x@y"}),
    ] {
        let request = root
            .request_csrf(Method::PATCH, &format!("/api/admin/users/{bob_id}"))
            .json(&body);
        let reply = root.send(request).await;
        assert_problem(&reply, 400, "validation_failed");
    }
    // Administrators cannot lock themselves out.
    for body in [json!({"disabled": true}), json!({"role": "user"})] {
        let request = root
            .request_csrf(Method::PATCH, &format!("/api/admin/users/{root_id}"))
            .json(&body);
        let reply = root.send(request).await;
        assert!(reply.status.is_client_error(), "{}", reply.text());
    }
    assert_eq!(root.me().await.status, StatusCode::OK);

    // Disabling ends Bob's sessions at once; he cannot log in, and the refusal looks like a wrong
    // password.
    let bob_before = bob.clone();
    let request = root
        .request_csrf(Method::PATCH, &format!("/api/admin/users/{bob_id}"))
        .json(&json!({"disabled": true}));
    let reply = root.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["disabled"], true);
    assert_invalid_token(&bob.me().await, "session_revoked");
    assert_invalid_token(&server.me_bearer(&bob_native.access).await, "session_revoked");
    assert_problem(&bob_before.clone().refresh().await, 401, "session_revoked");
    assert_problem(&server.refresh_body(&bob_native.refresh).await, 401, "session_revoked");
    let disabled = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    let wrong = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "bob@example.com", "password": "a-wrong-password-x"}),
        )
        .await;
    assert_problem(&disabled, 401, "invalid_credentials");
    assert_eq!(
        disabled.body, wrong.body,
        "a disabled account must look like a wrong password"
    );

    // Enabling lets him back in.
    let request = root
        .request_csrf(Method::PATCH, &format!("/api/admin/users/{bob_id}"))
        .json(&json!({"disabled": false}));
    assert_eq!(root.send(request).await.status, StatusCode::OK);
    let (mut bob, _) = server.login("bob@example.com").await;
    assert_eq!(bob.me().await.json()["role"], "user");

    // A role change ends the sessions too, so the old role cannot linger in tokens.
    let request = root
        .request_csrf(Method::PATCH, &format!("/api/admin/users/{bob_id}"))
        .json(&json!({"role": "admin"}));
    let reply = root.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["role"], "admin");
    assert_invalid_token(&bob.me().await, "session_revoked");
    let (mut bob, _) = server.login("bob@example.com").await;
    assert_eq!(bob.me().await.json()["role"], "admin");
    assert_eq!(bob.get("/api/admin/users").await.status, StatusCode::OK);

    // Revoke-sessions ends every session of the user.
    let bob_native = server.login_native("bob@example.com").await;
    let request = root.request_csrf(Method::POST, &format!("/api/admin/users/{bob_id}/revoke-sessions"));
    let reply = root.send(request).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_invalid_token(&bob.me().await, "session_revoked");
    assert_invalid_token(&server.me_bearer(&bob_native.access).await, "session_revoked");
    assert_eq!(
        root.me().await.status,
        StatusCode::OK,
        "the admin's own session is untouched"
    );
}

tessera_store::backend_tests!(admin_endpoints);
