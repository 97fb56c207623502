//! Registration and login.

use super::*;

// ---------------------------------------------------------------------------------------------
// register

#[tokio::test]
async fn register_creates_the_user_and_logs_in() {
    let h = harness();
    let logged_in = h.register("  Ada@Example.com ").await;
    assert_eq!(logged_in.user.email, "ada@example.com");
    assert_eq!(logged_in.user.name, "Ada Lovelace");
    assert_eq!(logged_in.user.role, Role::User);
    assert!(!logged_in.user.disabled);
    assert_eq!(logged_in.user.id.get_version_num(), 7);
    assert!(logged_in.user.password_hash.starts_with("$argon2id$"));

    let tokens = &logged_in.tokens;
    assert_eq!(tokens.session_id.get_version_num(), 4);
    assert_eq!(tokens.delivery, TokenDelivery::Cookie);
    assert_eq!(tokens.access_expires_at, T0 + Duration::minutes(10));
    assert_eq!(tokens.refresh_expires_at, T0 + Duration::days(14));
    assert!(h.service.verify_csrf_token(tokens.session_id, &tokens.csrf_token));
    assert_eq!(
        h.service.refresh_token_session(&tokens.refresh_token).unwrap(),
        tokens.session_id
    );

    let claims = h.service.authenticate(&tokens.access_token).unwrap();
    assert_eq!(claims.sub, logged_in.user.id);
    assert_eq!(claims.sid, tokens.session_id);
    assert_eq!(claims.email, "ada@example.com");
    assert_eq!(claims.role(), Some(Role::User));

    let session = h.store.session(tokens.session_id);
    assert_eq!(session.user_id, logged_in.user.id);
    assert_eq!(session.absolute_expires_at, T0 + Duration::days(30));
    assert_eq!(session.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(session.user_agent.as_deref(), Some("test-agent/1.0"));
    assert_eq!(session.rotation.generation, 0);

    let events = h.store.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::AccountCreated);
    assert_eq!(events[0].session_id, Some(tokens.session_id));
    assert_eq!(events[0].ip.as_deref(), Some("192.0.2.7"));
}

#[tokio::test]
async fn register_validates_each_field() {
    let h = harness();
    let field = |result: Result<LoggedIn, AuthError>| match result {
        Err(AuthError::Validation { field, message }) => (field, message),
        other => panic!("expected a validation error, got {other:?}"),
    };
    let mut bad_email = registration("not-an-email");
    let (name, _) = field(
        h.service
            .register(bad_email.clone_for_test(), TokenDelivery::Cookie, &meta())
            .await,
    );
    assert_eq!(name, "email");
    bad_email.email = format!("{}@example.com", "a".repeat(250));
    assert_eq!(
        field(h.service.register(bad_email, TokenDelivery::Cookie, &meta()).await).0,
        "email"
    );

    for bad_name in ["", "   ", "bad\u{7}name", &"n".repeat(101)] {
        let input = Registration {
            name: bad_name.into(),
            ..registration("a@example.com")
        };
        assert_eq!(
            field(h.service.register(input, TokenDelivery::Cookie, &meta()).await).0,
            "name"
        );
    }

    let short = Registration {
        password: "short".into(),
        ..registration("a@example.com")
    };
    let (name, message) = field(h.service.register(short, TokenDelivery::Cookie, &meta()).await);
    assert_eq!(name, "password");
    assert_eq!(message, "password must be at least 12 characters");

    let common = Registration {
        password: "password1234".into(),
        ..registration("a@example.com")
    };
    let (name, message) = field(h.service.register(common, TokenDelivery::Cookie, &meta()).await);
    assert_eq!(name, "password");
    assert!(message.starts_with("password is too easy to guess"), "{message}");
    assert!(
        !message.contains("password1234"),
        "the password must not be echoed: {message}"
    );

    // The user's own details count against the password.
    let personal = Registration {
        password: "ada.lovelace@example.com".into(),
        ..registration("ada.lovelace@example.com")
    };
    assert_eq!(
        field(h.service.register(personal, TokenDelivery::Cookie, &meta()).await).0,
        "password"
    );

    // Nothing was created by any of these.
    assert!(h.store.lock().users.is_empty());
    assert!(h.store.events().is_empty());
}

impl Registration {
    fn clone_for_test(&self) -> Registration {
        Registration {
            email: self.email.clone(),
            name: self.name.clone(),
            password: self.password.clone(),
        }
    }
}

#[tokio::test]
async fn register_refuses_a_taken_email_case_insensitively() {
    let h = harness();
    h.register("ada@example.com").await;
    let again = h
        .service
        .register(registration("ADA@example.COM"), TokenDelivery::Body, &meta())
        .await;
    assert!(matches!(again, Err(AuthError::EmailTaken)), "{again:?}");
    assert_eq!(h.store.lock().users.len(), 1);
}

/// Issue 12, Low 5: one address in any Unicode spelling, no invisible characters, no look-alikes.
#[tokio::test]
async fn register_normalises_unicode_and_refuses_look_alikes() {
    let h = harness();
    let ada = h.register("jose\u{301}@example.com").await;
    assert_eq!(ada.user.email, "jos\u{e9}@example.com", "stored in NFC");
    let again = h
        .service
        .register(registration("jos\u{e9}@example.com"), TokenDelivery::Body, &meta())
        .await;
    assert!(matches!(again, Err(AuthError::EmailTaken)), "{again:?}");
    // The other spelling logs in to the same account.
    let logged_in = h
        .service
        .login_without_mfa("JOSE\u{301}@example.com", PASSWORD, TokenDelivery::Body, &meta())
        .await
        .unwrap();
    assert_eq!(logged_in.user.id, ada.user.id);

    for look_alike in ["j\u{43e}s\u{e9}@example.com", "jos\u{e9}@\u{435}xample.com"] {
        let refused = h
            .service
            .register(registration(look_alike), TokenDelivery::Body, &meta())
            .await;
        let Err(AuthError::Validation {
            field: "email",
            message,
        }) = refused
        else {
            panic!("{look_alike:?}: {refused:?}")
        };
        assert!(message.contains("looks the same"), "{message}");
        assert!(
            !message.contains("jos"),
            "the existing address is not revealed: {message}"
        );
    }
    for hidden in ["ad\u{200B}a@example.com", "ada@exam\u{202E}ple.com"] {
        let refused = h
            .service
            .register(registration(hidden), TokenDelivery::Body, &meta())
            .await;
        assert!(
            matches!(refused, Err(AuthError::Validation { field: "email", .. })),
            "{hidden:?}: {refused:?}"
        );
    }
    let mut named = registration("bob@example.com");
    named.name = "Bob\u{202E}kcab".into();
    let refused = h.service.register(named, TokenDelivery::Body, &meta()).await;
    assert!(matches!(refused, Err(AuthError::Validation { field: "name", .. })));
    // Administrator-created accounts follow the same rules.
    let refused = h
        .service
        .create_account(registration("j\u{43e}s\u{e9}@example.com"), Role::Admin)
        .await;
    assert!(matches!(refused, Err(AuthError::Validation { field: "email", .. })));
    assert_eq!(h.store.lock().users.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// login

#[tokio::test]
async fn login_starts_a_new_session() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    h.clock.advance(Duration::minutes(3));
    let logged_in = h
        .service
        .login_without_mfa(" ADA@example.com", PASSWORD, TokenDelivery::Body, &meta())
        .await
        .unwrap();
    assert_eq!(logged_in.user.id, registered.user.id);
    assert_ne!(logged_in.tokens.session_id, registered.tokens.session_id);
    assert_eq!(logged_in.tokens.delivery, TokenDelivery::Body);
    assert_eq!(
        h.store.session(logged_in.tokens.session_id).delivery,
        TokenDelivery::Body
    );
    assert_eq!(logged_in.tokens.access_expires_at, T0 + Duration::minutes(13));
    assert!(h.service.authenticate(&logged_in.tokens.access_token).is_ok());
    assert_eq!(h.store.kinds(), [EventKind::AccountCreated, EventKind::LoginSucceeded]);
}

#[tokio::test]
async fn login_with_a_wrong_password_records_login_failed() {
    let h = harness();
    let registered = h.register("ada@example.com").await;
    let sessions_before = h.store.lock().sessions.len();
    let result = h
        .service
        .login_without_mfa(
            "ada@example.com",
            "tangerine-otter-cobalt-93",
            TokenDelivery::Cookie,
            &meta(),
        )
        .await;
    assert!(matches!(result, Err(AuthError::InvalidCredentials)), "{result:?}");
    let events = h.store.events();
    let failed = events.last().unwrap();
    assert_eq!(failed.kind, EventKind::LoginFailed);
    assert_eq!(failed.user_id, registered.user.id);
    assert_eq!(failed.session_id, None);
    assert_eq!(failed.user_agent.as_deref(), Some("test-agent/1.0"));
    assert_eq!(h.store.lock().sessions.len(), sessions_before);
}

#[tokio::test]
async fn unknown_and_malformed_emails_cost_a_dummy_verification() {
    let h = harness();
    h.register("ada@example.com").await;
    let events_before = h.store.events().len();
    for email in ["nobody@example.com", "not an email", ""] {
        let result = h
            .service
            .login_without_mfa(email, PASSWORD, TokenDelivery::Cookie, &meta())
            .await;
        assert!(
            matches!(result, Err(AuthError::InvalidCredentials)),
            "{email:?}: {result:?}"
        );
    }
    assert_eq!(h.hasher.dummy_verifies.load(Ordering::SeqCst), 3);
    assert_eq!(h.hasher.verifies.load(Ordering::SeqCst), 0);
    assert_eq!(h.store.events().len(), events_before, "no user, no event");
}

#[tokio::test]
async fn disabled_users_cannot_log_in_but_cost_the_same() {
    let h = harness();
    h.register("ada@example.com").await;
    let mut user = h.store.user_by_email("ada@example.com");
    user.disabled = true;
    h.store.set_user(user);
    let sessions_before = h.store.lock().sessions.len();
    for password in [PASSWORD, "wrong password entirely"] {
        let result = h
            .service
            .login_without_mfa("ada@example.com", password, TokenDelivery::Cookie, &meta())
            .await;
        assert!(matches!(result, Err(AuthError::InvalidCredentials)), "{result:?}");
    }
    assert_eq!(h.hasher.verifies.load(Ordering::SeqCst), 2, "the real hash is verified");
    assert_eq!(h.hasher.dummy_verifies.load(Ordering::SeqCst), 0);
    assert_eq!(h.store.lock().sessions.len(), sessions_before);
    assert!(!h.store.kinds()[1..].contains(&EventKind::LoginSucceeded));
}

#[tokio::test]
async fn unreadable_stored_hash_is_a_failed_login() {
    let h = harness();
    h.register("ada@example.com").await;
    let mut user = h.store.user_by_email("ada@example.com");
    user.password_hash = "garbage".into();
    h.store.set_user(user);
    let result = h
        .service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await;
    assert!(matches!(result, Err(AuthError::InvalidCredentials)), "{result:?}");
    assert_eq!(h.store.kinds().last(), Some(&EventKind::LoginFailed));
}

#[tokio::test]
async fn login_upgrades_an_outdated_hash() {
    let h = harness();
    h.register("ada@example.com").await;
    let old = PasswordHasher::new(Argon2Params {
        memory_kib: 2048,
        ..FAST
    })
    .unwrap();
    let mut user = h.store.user_by_email("ada@example.com");
    user.password_hash = old.hash(PASSWORD).unwrap();
    h.store.set_user(user.clone());

    h.service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    let upgraded = h.store.user_by_email("ada@example.com").password_hash;
    assert_ne!(upgraded, user.password_hash);
    assert!(upgraded.contains("m=1024,t=1,p=1"), "{upgraded}");
    assert_eq!(
        h.hasher.hasher.verify(PASSWORD, &upgraded),
        Ok(Verification::Match { needs_rehash: false })
    );

    // A current hash is left alone.
    h.service
        .login_without_mfa("ada@example.com", PASSWORD, TokenDelivery::Cookie, &meta())
        .await
        .unwrap();
    assert_eq!(h.store.user_by_email("ada@example.com").password_hash, upgraded);
}
