use super::*;
use crate::secret::MasterKey;
use time::macros::datetime;

fn mail(intent: MailIntent) -> OutgoingMail {
    OutgoingMail::new(
        Some(Uuid::now_v7()),
        Recipient {
            address: "ada@example.com".to_owned(),
            name: "Ada".to_owned(),
        },
        intent,
        datetime!(2026-12-01 10:00 UTC),
    )
}

fn token() -> LinkToken {
    LinkToken::new("q3Xh0-_Zt9Y2bLr8Vw1kPn4sJd6Gf5Hc7Am0Ee2Ui3o").unwrap()
}

fn every_intent() -> Vec<MailIntent> {
    let at = datetime!(2026-12-01 10:00 UTC);
    vec![
        MailIntent::VerifyAddress {
            token: token(),
            expires_at: at,
        },
        MailIntent::ResetPassword {
            token: token(),
            expires_at: at,
        },
        MailIntent::ConfirmNewAddress {
            token: token(),
            new_address: "new@example.com".to_owned(),
            expires_at: at,
        },
        MailIntent::AddressChangeNotice {
            new_address: "new@example.com".to_owned(),
        },
        MailIntent::PasswordChanged { at },
        MailIntent::SecondFactorAdded {
            factor: SecondFactor::Totp,
            at,
        },
        MailIntent::SecondFactorRemoved {
            factor: SecondFactor::Passkey {
                name: "YubiKey".to_owned(),
            },
            at,
        },
    ]
}

#[test]
fn kinds_round_trip_and_every_intent_has_its_own() {
    for kind in MailKind::ALL {
        assert_eq!(MailKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(MailKind::parse("nope"), None);
    let kinds: Vec<MailKind> = every_intent().iter().map(MailIntent::kind).collect();
    assert_eq!(kinds, MailKind::ALL);
}

#[test]
fn link_tokens_are_base64url_and_redacted() {
    assert!(LinkToken::new("").is_none());
    for bad in ["a b", "a+b", "a/b", "a=b", "a#b", "a&b", "é", "a\nb"] {
        assert!(LinkToken::new(bad).is_none(), "{bad:?}");
    }
    assert!(LinkToken::new("x".repeat(LINK_TOKEN_MAX_LEN)).is_some());
    assert!(LinkToken::new("x".repeat(LINK_TOKEN_MAX_LEN + 1)).is_none());
    let token = token();
    assert_eq!(format!("{token:?}"), "LinkToken(<redacted>)");
    let intent = MailIntent::ResetPassword {
        token: token.clone(),
        expires_at: datetime!(2026-12-01 10:00 UTC),
    };
    assert!(!format!("{intent:?}").contains(token.expose()));
    // A payload with a token that is not base64url does not deserialise.
    let json = r#"{"intent":"reset_password","token":"a b","expires_at":"2026-12-01T10:00:00Z"}"#;
    assert!(serde_json::from_str::<MailIntent>(json).is_err());
}

#[test]
fn seal_open_round_trip_for_every_intent() {
    let key = MasterKey::generate().mail_sealing_key();
    for intent in every_intent() {
        let mail = mail(intent);
        let sealed = key.seal(&mail);
        assert_eq!(
            (sealed.id, sealed.kind, sealed.user_id),
            (mail.id, mail.intent.kind(), mail.user_id)
        );
        assert_eq!(sealed.created_at, mail.created_at);
        let (to, intent) = key.open(sealed.id, sealed.kind, &sealed.sealed).unwrap();
        assert_eq!((to, intent), (mail.to.clone(), mail.intent.clone()));
    }
}

#[test]
fn sealed_payload_hides_recipient_and_token() {
    let key = MasterKey::generate().mail_sealing_key();
    let mail = mail(MailIntent::ResetPassword {
        token: token(),
        expires_at: datetime!(2026-12-01 10:00 UTC),
    });
    let sealed = key.seal(&mail);
    let haystack = String::from_utf8_lossy(&sealed.sealed).into_owned();
    assert!(!haystack.contains("ada@example.com"));
    assert!(!haystack.contains(token().expose()));
    assert!(!format!("{sealed:?}").contains("ada@example.com"));
    // Random nonce: sealing twice differs.
    assert_ne!(key.seal(&mail).sealed, sealed.sealed);
}

#[test]
fn open_refuses_other_key_row_kind_or_tampering() {
    let key = MasterKey::generate().mail_sealing_key();
    let other = MasterKey::generate().mail_sealing_key();
    let mail = mail(MailIntent::PasswordChanged {
        at: datetime!(2026-12-01 10:00 UTC),
    });
    let sealed = key.seal(&mail);
    assert_eq!(
        other.open(mail.id, sealed.kind, &sealed.sealed),
        Err(MailOpenError::Open)
    );
    assert_eq!(
        key.open(Uuid::now_v7(), sealed.kind, &sealed.sealed),
        Err(MailOpenError::Open)
    );
    assert_eq!(
        key.open(mail.id, MailKind::ResetPassword, &sealed.sealed),
        Err(MailOpenError::Open)
    );
    for i in 0..sealed.sealed.len() {
        let mut tampered = sealed.sealed.clone();
        tampered[i] ^= 0x01;
        assert_eq!(
            key.open(mail.id, sealed.kind, &tampered),
            Err(MailOpenError::Open),
            "byte {i}"
        );
    }
    assert_eq!(
        key.open(mail.id, sealed.kind, &sealed.sealed[..10]),
        Err(MailOpenError::Open)
    );
    assert!(format!("{key:?}").contains("redacted"));
}

#[test]
fn backoff_starts_within_30_seconds_doubles_and_caps_at_15_minutes() {
    assert_eq!(retry_delay(1), Duration::seconds(15));
    assert_eq!(retry_delay(2), Duration::seconds(30));
    assert_eq!(retry_delay(3), Duration::seconds(60));
    assert_eq!(retry_delay(7), Duration::minutes(15));
    assert_eq!(retry_delay(8), Duration::minutes(15));
    assert_eq!(retry_delay(u32::MAX), Duration::minutes(15));
    assert!(retry_delay(0) <= Duration::seconds(30));
}

#[test]
fn retries_last_at_least_a_day_then_give_up() {
    let created = datetime!(2026-12-01 00:00 UTC);
    // Follow the schedule from the first failure until it gives up.
    let mut now = created;
    let mut attempts = 1;
    let last_attempt = loop {
        match after_failure(attempts, created, now) {
            RetryDecision::RetryAt(at) => {
                assert!(at > now);
                assert!(at - now <= MAX_RETRY_DELAY);
                now = at;
                attempts += 1;
            }
            RetryDecision::GiveUp => break now,
        }
        assert!(attempts < 1_000, "never gave up");
    };
    assert!(last_attempt - created >= Duration::hours(24));
    assert!(last_attempt - created < Duration::hours(24) + MAX_RETRY_DELAY);
    // About 100 attempts over the day, not thousands.
    assert!((90..=110).contains(&attempts), "{attempts} attempts");
    assert_eq!(
        after_failure(1, created, created),
        RetryDecision::RetryAt(created + Duration::seconds(15))
    );
    assert!(CLAIM_LEASE > Duration::minutes(2));
}
