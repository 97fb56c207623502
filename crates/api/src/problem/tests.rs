use super::*;
use tessera_auth_core::mfa::policy::ReauthMethod;

#[test]
fn every_domain_error_maps_to_a_client_safe_problem() {
    let cases: Vec<(AuthError, u16, ProblemCode)> = vec![
        (AuthError::InvalidCredentials, 401, ProblemCode::InvalidCredentials),
        (AuthError::EmailTaken, 409, ProblemCode::EmailTaken),
        (
            AuthError::Validation {
                field: "password",
                message: "too short".into(),
            },
            422,
            ProblemCode::ValidationFailed,
        ),
        (AuthError::Unauthenticated, 401, ProblemCode::Unauthenticated),
        (AuthError::InvalidToken, 401, ProblemCode::Unauthenticated),
        (AuthError::TokenExpired, 401, ProblemCode::TokenExpired),
        (AuthError::SessionRevoked, 401, ProblemCode::SessionRevoked),
        (AuthError::RefreshReused, 401, ProblemCode::RefreshReused),
        (AuthError::Forbidden, 403, ProblemCode::Forbidden),
        (
            AuthError::ReauthRequired {
                methods: vec![ReauthMethod::Password],
            },
            403,
            ProblemCode::ReauthRequired,
        ),
        (AuthError::NotFound, 404, ProblemCode::NotFound),
        (AuthError::MailTokenInvalid, 400, ProblemCode::TokenInvalid),
        (AuthError::EmailUnverified, 403, ProblemCode::EmailUnverified),
        (AuthError::EmailAlreadyVerified, 409, ProblemCode::EmailAlreadyVerified),
        (AuthError::MfaFailed, 401, ProblemCode::MfaFailed),
        (AuthError::MfaRequired, 401, ProblemCode::MfaRequired),
        (
            AuthError::Passkey(PasskeyError::Malformed("rawId")),
            400,
            ProblemCode::WebauthnFailed,
        ),
        (
            AuthError::Passkey(PasskeyError::Rejected("origin")),
            401,
            ProblemCode::WebauthnFailed,
        ),
        (
            AuthError::Passkey(PasskeyError::UnknownCredential),
            401,
            ProblemCode::WebauthnFailed,
        ),
        (
            AuthError::PasskeyCounterRegressed {
                passkey_id: uuid::Uuid::nil(),
            },
            401,
            ProblemCode::WebauthnFailed,
        ),
        (
            AuthError::Ceremony(CeremonyError::Expired),
            400,
            ProblemCode::WebauthnFailed,
        ),
        (
            AuthError::Passkey(PasskeyError::Unavailable(PasskeysUnavailable::IpAddressHost(
                "127.0.0.1".into(),
            ))),
            409,
            ProblemCode::PasskeysUnavailable,
        ),
        (
            AuthError::Passkey(PasskeyError::Internal("state xyz".into())),
            500,
            ProblemCode::InternalError,
        ),
        (
            AuthError::RateLimited { retry_after_secs: 3 },
            429,
            ProblemCode::RateLimited,
        ),
        (
            AuthError::Internal("argon2 exploded with secret xyz".into()),
            500,
            ProblemCode::InternalError,
        ),
        (
            AuthError::Store(StoreError::Backend("constraint on secret xyz".into())),
            500,
            ProblemCode::InternalError,
        ),
        (
            AuthError::Store(StoreError::Corrupt("xyz".into())),
            500,
            ProblemCode::InternalError,
        ),
        (
            AuthError::Store(StoreError::Unavailable("disk full writing xyz".into())),
            503,
            ProblemCode::StorageUnavailable,
        ),
    ];
    for (err, status, code) in cases {
        let api = ApiError::from(err);
        assert_eq!((api.status.as_u16(), api.code), (status, code));
        if status == 401 {
            assert!(api.www_authenticate.is_some());
        }
        if status == 503 {
            assert_eq!(api.retry_after_secs, Some(STORAGE_RETRY_AFTER_SECS));
            assert!(!api.ends_session, "a storage failure keeps the client's session");
        }
        assert!(!api.body().to_json_string().contains("xyz"));
    }
}

#[test]
fn reauth_required_names_the_methods_and_keeps_the_session() {
    let api = ApiError::from(AuthError::ReauthRequired {
        methods: vec![ReauthMethod::Password, ReauthMethod::Totp],
    });
    assert!(!api.ends_session);
    let body: serde_json::Value = serde_json::from_str(&api.body().to_json_string()).unwrap();
    assert_eq!(body["code"], "reauth_required");
    assert_eq!(body["methods"], serde_json::json!(["password", "totp"]));
    // Other problems carry no `methods` member at all.
    let other: serde_json::Value = serde_json::from_str(&ApiError::forbidden().body().to_json_string()).unwrap();
    assert!(other.get("methods").is_none());
}
