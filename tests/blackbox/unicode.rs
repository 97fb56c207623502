//! Email addresses and names in Unicode (issue 12, Low 5): one address in any normalisation, no
//! invisible or text-reordering characters, no look-alike of an existing account's address.

use reqwest::StatusCode;
use serde_json::json;
use tessera_auth_core::AuthError;
use tessera_auth_core::service::Registration;
use tessera_auth_core::user::Role;
use tessera_store::testing::TestDatabase;

use crate::harness::{PASSWORD, TestServer, assert_problem};

fn registration(email: &str, name: &str) -> serde_json::Value {
    json!({"email": email, "password": PASSWORD, "name": name})
}

async fn unicode_addresses_and_names(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    let (mut browser, body) = server.register("jose\u{301}@example.com").await;
    assert_eq!(body["user"]["email"], "jos\u{e9}@example.com", "stored in NFC");

    // The composed spelling is the same address: 409 as for any taken address.
    let reply = server
        .post_json("/api/auth/register", &registration("jos\u{e9}@example.com", "José"))
        .await;
    assert_problem(&reply, 409, "email_taken");
    // And it logs in to the same account.
    let login = json!({"email": "JOS\u{c9}@example.com", "password": PASSWORD});
    let reply = server.post_json("/api/auth/login", &login).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["user"]["id"], body["user"]["id"]);

    // Look-alikes of it: 422 naming the field, not the account.
    for look_alike in ["j\u{43e}s\u{e9}@example.com", "jos\u{e9}@\u{435}xample.com"] {
        let reply = server
            .post_json("/api/auth/register", &registration(look_alike, "Mallory"))
            .await;
        assert_problem(&reply, 422, "validation_failed");
        let detail = reply.json()["detail"].as_str().unwrap_or("").to_owned();
        assert!(
            detail.starts_with("email:") && detail.contains("looks the same"),
            "{detail}"
        );
        assert!(!detail.contains("jos"), "the existing address is not echoed: {detail}");
        reply.assert_no_cookies();
    }

    // Invisible and bidi characters, in addresses and in names.
    for email in [
        "ad\u{200B}min@example.com",
        "admin@exa\u{202E}mple.com",
        "ad\u{2028}min@example.com",
    ] {
        let reply = server
            .post_json("/api/auth/register", &registration(email, "Eve"))
            .await;
        assert_problem(&reply, 422, "validation_failed");
        assert!(reply.text().contains("email:"), "{}", reply.text());
    }
    for name in ["Eve\u{200B}", "\u{202E}evE", "Eve\u{2066}x\u{2069}"] {
        let reply = server
            .post_json("/api/auth/register", &registration("eve@example.com", name))
            .await;
        assert_problem(&reply, 422, "validation_failed");
        assert!(reply.text().contains("name:"), "{}", reply.text());
        let reply = browser.patch_me(name).await;
        assert_problem(&reply, 422, "validation_failed");
    }
    // A name that needs a joiner is fine.
    let reply = browser
        .patch_me("\u{645}\u{6cc}\u{200C}\u{62e}\u{648}\u{627}\u{647}\u{645}")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let reply = browser.patch_me("Jose\u{301}").await;
    assert_eq!(reply.json()["user"]["name"], "Jos\u{e9}", "names are NFC too");

    // Accounts an administrator creates follow the same rules.
    let created = server
        .state()
        .service
        .create_account(
            Registration {
                email: "j\u{43e}s\u{e9}@example.com".into(),
                name: "Admin".into(),
                password: PASSWORD.into(),
            },
            Role::Admin,
        )
        .await;
    assert!(
        matches!(created, Err(AuthError::Validation { field: "email", .. })),
        "{created:?}"
    );
}

tessera_store::backend_tests!(unicode_addresses_and_names);
