//! Refresh and logout as requests present them: one parse, one CSRF check, the cookie rule.

use super::*;
use crate::csrf::PresentedCsrf;
use crate::error::{CsrfFailure, Refused};
use crate::service::{LoggedOut, PresentedLogout, PresentedRefresh};

fn csrf(header: Option<&str>, cookie: Option<&str>) -> PresentedCsrf {
    PresentedCsrf {
        header: header.map(str::to_owned),
        cookie: cookie.map(str::to_owned),
    }
}

fn from_cookie(refresh_token: &str, csrf: PresentedCsrf) -> PresentedRefresh {
    PresentedRefresh {
        refresh_token: Some(refresh_token.to_owned()),
        delivery: TokenDelivery::Cookie,
        csrf,
    }
}

#[tokio::test]
async fn a_cookie_refresh_needs_the_double_submit_and_keeps_the_csrf_cookie() {
    let h = harness();
    let tokens = h.register("ada@example.com").await.tokens;
    let good = tokens.csrf_token.as_str();
    let other_session = h.register("bob@example.com").await.tokens.csrf_token;
    let before = h.store.snapshot();
    for (presented, failure) in [
        (csrf(None, Some(good)), CsrfFailure::MissingHeader),
        (csrf(Some(good), None), CsrfFailure::MissingCookie),
        (csrf(Some(good), Some(&other_session)), CsrfFailure::Mismatch),
        (csrf(Some(&other_session), Some(&other_session)), CsrfFailure::Mismatch),
    ] {
        let refused = h
            .service
            .refresh_presented(&from_cookie(&tokens.refresh_token, presented), &meta())
            .await
            .unwrap_err();
        assert!(
            matches!(refused, AuthError::CsrfFailed(f) if f == failure),
            "{refused:?}"
        );
        assert!(
            !refused.ends_session(Refused::Refresh),
            "a CSRF failure keeps the cookies"
        );
    }
    assert_eq!(
        h.store.snapshot(),
        before,
        "nothing rotates before the CSRF check passes"
    );

    let refreshed = h
        .service
        .refresh_presented(
            &from_cookie(&tokens.refresh_token, csrf(Some(good), Some(good))),
            &meta(),
        )
        .await
        .unwrap();
    assert!(refreshed.csrf_kept);
    assert_eq!(refreshed.tokens.csrf_token, good, "another tab's header stays valid");
    assert_ne!(refreshed.tokens.refresh_token, tokens.refresh_token);
}

#[tokio::test]
async fn a_body_refresh_needs_no_csrf_and_keeps_only_a_valid_cookie() {
    let h = harness();
    let tokens = h.register("ada@example.com").await.tokens;
    let body = |refresh_token: &str, cookie: Option<&str>| PresentedRefresh {
        refresh_token: Some(refresh_token.to_owned()),
        delivery: TokenDelivery::Body,
        csrf: csrf(None, cookie),
    };
    let fresh = h
        .service
        .refresh_presented(&body(&tokens.refresh_token, Some("stale")), &meta())
        .await
        .unwrap();
    assert!(!fresh.csrf_kept);
    assert!(h.service.verify_csrf_token(tokens.session_id, &fresh.tokens.csrf_token));
    let kept = h
        .service
        .refresh_presented(&body(&fresh.tokens.refresh_token, Some(&tokens.csrf_token)), &meta())
        .await
        .unwrap();
    assert!(kept.csrf_kept);
    assert_eq!(kept.tokens.csrf_token, tokens.csrf_token);
}

#[tokio::test]
async fn which_refresh_failures_end_a_cookie_session() {
    let h = harness();
    let missing = PresentedRefresh {
        refresh_token: None,
        delivery: TokenDelivery::Cookie,
        csrf: PresentedCsrf::default(),
    };
    let error = h.service.refresh_presented(&missing, &meta()).await.unwrap_err();
    assert!(matches!(error, AuthError::Unauthenticated));
    assert!(!missing.ends_cookie_session(&error), "no cookie, nothing to clear");

    let garbage = from_cookie("garbage", PresentedCsrf::default());
    let error = h.service.refresh_presented(&garbage, &meta()).await.unwrap_err();
    assert!(matches!(error, AuthError::InvalidToken));
    assert!(
        garbage.ends_cookie_session(&error),
        "a refresh cookie nothing can renew goes"
    );
    let in_body = PresentedRefresh {
        delivery: TokenDelivery::Body,
        ..garbage
    };
    assert!(
        !in_body.ends_cookie_session(&error),
        "a body token has no cookies to clear"
    );

    // An access token that fails verification ends nothing; an ended session always does.
    assert!(!AuthError::InvalidToken.ends_session(Refused::Access));
    assert!(!AuthError::TokenExpired.ends_session(Refused::Refresh));
    for ended in [AuthError::SessionRevoked, AuthError::RefreshReused] {
        assert!(ended.ends_session(Refused::Access) && ended.ends_session(Refused::Refresh));
    }
}

#[tokio::test]
async fn logout_finds_the_session_from_the_first_credential() {
    let h = harness();
    let tokens = h.register("ada@example.com").await.tokens;
    let good = Some(tokens.csrf_token.as_str());

    let refused = h
        .service
        .logout_presented(
            &PresentedLogout::RefreshCookie {
                refresh_token: tokens.refresh_token.clone(),
                csrf: csrf(None, good),
            },
            &meta(),
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, AuthError::CsrfFailed(CsrfFailure::MissingHeader)));
    assert!(h.store.session(tokens.session_id).revoked_at.is_none());

    let done = h
        .service
        .logout_presented(
            &PresentedLogout::RefreshCookie {
                refresh_token: tokens.refresh_token.clone(),
                csrf: csrf(good, good),
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(done, LoggedOut::Session(tokens.session_id));
    assert!(h.store.session(tokens.session_id).revoked_at.is_some());

    // What is left in a browser afterwards is only cleared.
    for stale in [
        PresentedLogout::RefreshCookie {
            refresh_token: "garbage".into(),
            csrf: PresentedCsrf::default(),
        },
        PresentedLogout::AccessCookie {
            access_token: tokens.access_token.clone(),
            csrf: PresentedCsrf::default(),
        },
    ] {
        assert_eq!(
            h.service.logout_presented(&stale, &meta()).await.unwrap(),
            LoggedOut::StaleCookies
        );
    }
    // Presented outside cookies, a bad or ended credential is an error.
    let garbage = PresentedLogout::RefreshBody("garbage".into());
    assert!(matches!(
        h.service.logout_presented(&garbage, &meta()).await,
        Err(AuthError::InvalidToken)
    ));
    let ended = PresentedLogout::Bearer(tokens.access_token.clone());
    assert!(matches!(
        h.service.logout_presented(&ended, &meta()).await,
        Err(AuthError::SessionRevoked)
    ));
    assert!(matches!(
        h.service.logout_presented(&PresentedLogout::Nothing, &meta()).await,
        Err(AuthError::Unauthenticated)
    ));
}
