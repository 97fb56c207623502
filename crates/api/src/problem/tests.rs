use super::*;

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
        (AuthError::NotFound, 404, ProblemCode::NotFound),
        (AuthError::MailTokenInvalid, 400, ProblemCode::TokenInvalid),
        (AuthError::EmailUnverified, 403, ProblemCode::EmailUnverified),
        (AuthError::EmailAlreadyVerified, 409, ProblemCode::EmailAlreadyVerified),
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
