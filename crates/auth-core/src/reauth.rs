//! Re-authentication (step-up, DESIGN.md part 2): sensitive operations need the session's last
//! proof of a credential (`auth_time`) to be recent, and a session proves one again without a new
//! login. This module holds the rules; `service::reauth` the flow over the store.
//!
//! - [`require_recent`] is the one check, made from the verified access-token claims alone (no
//!   store read), with the clock and the maximum age passed in;
//! - what the user can re-authenticate with comes from what they have enrolled
//!   ([`EnrolledFactors::reauth_methods`], beside the login policy): the list a `reauth_required`
//!   answer carries;
//! - [`ReauthCredential`] is what a re-authentication presents.

use std::fmt;

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::access::AccessClaims;
use crate::error::AuthError;
use crate::mfa::policy::EnrolledFactors;

/// Whether the session behind `claims` proved a credential recently enough: at most `max_age`
/// before `now` (a proof exactly `max_age` old still counts). Else
/// [`AuthError::ReauthRequired`] with the user's methods.
pub fn require_recent(
    claims: &AccessClaims,
    max_age: Duration,
    now: OffsetDateTime,
    factors: &EnrolledFactors,
) -> Result<(), AuthError> {
    if now - claims.authenticated_at() <= max_age {
        Ok(())
    } else {
        Err(AuthError::ReauthRequired {
            methods: factors.reauth_methods(),
        })
    }
}

/// A credential presented to POST /api/auth/reauth. The session's `amr` becomes the proof's own
/// values: `pwd`, `otp`, or the passkey's `hwk`/`swk` (with `user` when it verified the user).
#[derive(Clone, Copy)]
pub enum ReauthCredential<'a> {
    Password(&'a str),
    /// A code of the user's authenticator app.
    Totp(&'a str),
    /// The browser's `toJSON()` of an assertion answering POST /api/auth/reauth/passkey/options.
    Passkey(&'a Value),
}

impl fmt::Debug for ReauthCredential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReauthCredential::Password(_) => f.write_str("Password(<redacted>)"),
            ReauthCredential::Totp(_) => f.write_str("Totp(<redacted>)"),
            ReauthCredential::Passkey(_) => f.write_str("Passkey(<assertion>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mfa::policy::ReauthMethod;
    use time::macros::datetime;
    use uuid::Uuid;

    const NOW: OffsetDateTime = datetime!(2026-12-02 12:00 UTC);

    fn claims(auth_time: OffsetDateTime) -> AccessClaims {
        AccessClaims {
            iss: "tessera".into(),
            aud: "tessera-api".into(),
            sub: Uuid::from_u128(1),
            sid: Uuid::from_u128(2),
            role: "user".into(),
            email: "a@example.com".into(),
            name: "A".into(),
            iat: NOW.unix_timestamp(),
            exp: NOW.unix_timestamp() + 600,
            jti: Uuid::from_u128(3),
            auth_time: auth_time.unix_timestamp(),
            amr: vec!["pwd".into()],
            email_verified: false,
        }
    }

    #[test]
    fn a_proof_counts_for_exactly_max_age() {
        let max_age = Duration::minutes(10);
        let none = EnrolledFactors::default();
        let proved = NOW - max_age;
        assert!(require_recent(&claims(proved + Duration::seconds(1)), max_age, NOW, &none).is_ok());
        assert!(require_recent(&claims(proved), max_age, NOW, &none).is_ok());
        match require_recent(&claims(proved - Duration::seconds(1)), max_age, NOW, &none) {
            Err(AuthError::ReauthRequired { methods }) => assert_eq!(methods, vec![ReauthMethod::Password]),
            other => panic!("expected ReauthRequired, got {other:?}"),
        }
    }

    #[test]
    fn credentials_hide_what_they_carry() {
        let password = ReauthCredential::Password("correct horse battery staple");
        assert!(!format!("{password:?}").contains("horse"));
        let code = ReauthCredential::Totp("123456");
        assert!(!format!("{code:?}").contains("123456"));
        let assertion = serde_json::json!({"response": {"signature": "c2VjcmV0"}});
        assert!(!format!("{:?}", ReauthCredential::Passkey(&assertion)).contains("c2VjcmV0"));
    }
}
