use super::*;
use crate::secret::MasterKey;
use time::Duration;
use time::macros::datetime;

/// RFC 6238 appendix B's SHA-1 seed.
const RFC_SEED: &[u8; 20] = b"12345678901234567890";

fn secret() -> TotpSecret {
    TotpSecret::from_bytes(RFC_SEED).unwrap()
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn code(secret: &TotpSecret, step: u64) -> String {
    secret.code_at_step(step).unwrap()
}

fn check(secret: &TotpSecret, code: &str, now: OffsetDateTime, last: Option<u64>) -> Result<u64, TotpRejection> {
    verify(secret, code, now, last).unwrap()
}

#[test]
fn rfc_6238_vectors() {
    // Appendix B lists 8-digit codes; six digits are their last six.
    for (unix, eight) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        let step = step_at(at(unix)).unwrap();
        assert_eq!(code(&secret(), step), eight[2..], "t = {unix}");
        assert_eq!(check(&secret(), &eight[2..], at(unix), None), Ok(step));
    }
}

#[test]
fn window_accepts_one_step_either_side_and_refuses_two() {
    let secret = TotpSecret::generate();
    let now = datetime!(2026-12-01 12:00:00 UTC);
    let current = step_at(now).unwrap();
    for (offset, expected) in [(-1i64, true), (0, true), (1, true), (-2, false), (2, false)] {
        let step = current.checked_add_signed(offset).unwrap();
        let result = check(&secret, &code(&secret, step), now, None);
        if expected {
            assert_eq!(result, Ok(step), "offset {offset}");
        } else {
            assert_eq!(result, Err(TotpRejection::Wrong), "offset {offset}");
        }
    }
}

#[test]
fn window_edges_follow_the_clock_to_the_second() {
    let secret = TotpSecret::generate();
    let start = datetime!(2026-12-01 12:00:00 UTC); // a step boundary (unix time divisible by 30)
    let step = step_at(start).unwrap();
    assert_eq!(start.unix_timestamp() % 30, 0);
    let c = code(&secret, step);
    // Valid from 30 s before its step begins until 30 s after it ends.
    assert_eq!(check(&secret, &c, start - Duration::seconds(30), None), Ok(step));
    assert_eq!(
        check(&secret, &c, start - Duration::seconds(31), None),
        Err(TotpRejection::Wrong)
    );
    assert_eq!(check(&secret, &c, start + Duration::seconds(59), None), Ok(step));
    assert_eq!(
        check(&secret, &c, start + Duration::seconds(60), None),
        Err(TotpRejection::Wrong)
    );
}

#[test]
fn a_used_step_and_every_earlier_one_are_refused() {
    let secret = TotpSecret::generate();
    let now = datetime!(2026-12-01 12:00:10 UTC);
    let current = step_at(now).unwrap();
    let c = code(&secret, current);
    assert_eq!(check(&secret, &c, now, None), Ok(current));
    // Replay of the same code, same step: refused.
    assert_eq!(check(&secret, &c, now, Some(current)), Err(TotpRejection::Replayed));
    // Still refused later in the window.
    assert_eq!(
        check(&secret, &c, now + Duration::seconds(30), Some(current)),
        Err(TotpRejection::Replayed)
    );
    // The previous step's code is older than the used one: refused.
    let previous = code(&secret, current - 1);
    assert_eq!(
        check(&secret, &previous, now, Some(current)),
        Err(TotpRejection::Replayed)
    );
    // The next step is fresh.
    let next = code(&secret, current + 1);
    assert_eq!(check(&secret, &next, now, Some(current)), Ok(current + 1));
    // A later used step (next was used) also kills the current one.
    assert_eq!(check(&secret, &c, now, Some(current + 1)), Err(TotpRejection::Replayed));
}

#[test]
fn the_confirmation_code_uses_up_its_step() {
    let secret = TotpSecret::generate();
    let now = datetime!(2026-12-01 12:00:10 UTC);
    let c = code(&secret, step_at(now).unwrap());
    let confirmed = confirm(&secret, &c, now).unwrap().unwrap();
    // The step returned by the confirmation is stored; the same code cannot log in.
    assert_eq!(check(&secret, &c, now, Some(confirmed)), Err(TotpRejection::Replayed));
    assert_eq!(
        check(&secret, &c, now + Duration::seconds(20), Some(confirmed)),
        Err(TotpRejection::Replayed)
    );
    // A wrong first code does not confirm.
    let wrong = if c == "000000" { "000001" } else { "000000" };
    assert_eq!(confirm(&secret, wrong, now).unwrap(), Err(TotpRejection::Wrong));
}

#[test]
fn the_latest_fresh_step_is_the_one_used() {
    // With nothing used, a code that matches the current step burns exactly that step.
    let secret = TotpSecret::generate();
    let now = datetime!(2026-12-01 12:00:10 UTC);
    let current = step_at(now).unwrap();
    assert_eq!(check(&secret, &code(&secret, current + 1), now, None), Ok(current + 1));
    assert_eq!(
        check(&secret, &code(&secret, current - 1), now, Some(current - 2)),
        Ok(current - 1)
    );
}

#[test]
fn malformed_codes_are_refused_before_any_work() {
    let secret = TotpSecret::generate();
    let now = datetime!(2026-12-01 12:00:10 UTC);
    let good = code(&secret, step_at(now).unwrap());
    for bad in [
        "",
        "12345",
        "1234567",
        "12345a",
        "١٢٣٤٥٦", // Arabic-Indic digits are not ASCII digits
        "+12345",
        "-12345",
        &format!("{good}0"),
        &"1".repeat(10_000),
        &format!("{}\t{}", &good[..3], &good[3..]),
    ] {
        assert_eq!(check(&secret, bad, now, None), Err(TotpRejection::Malformed), "{bad:?}");
    }
    // Spaces are ignored, as apps group codes in threes.
    let spaced = format!(" {} {} ", &good[..3], &good[3..]);
    assert!(check(&secret, &spaced, now, None).is_ok());
}

#[test]
fn times_before_1970_never_match() {
    let secret = secret();
    assert_eq!(step_at(at(-1)), None);
    assert_eq!(
        check(&secret, &code(&secret, 0), at(-1), None),
        Err(TotpRejection::Wrong)
    );
    // Step 0 works at the epoch; the window does not underflow.
    assert_eq!(check(&secret, &code(&secret, 0), at(0), None), Ok(0));
}

#[test]
fn secrets_seal_per_user_under_their_own_key() {
    let master = MasterKey::generate();
    let key = master.totp_encryption_key();
    let user = Uuid::now_v7();
    let secret = TotpSecret::generate();
    let sealed = secret.seal(&key, user);
    assert_eq!(
        TotpSecret::open(&key, &sealed, user).unwrap().as_bytes(),
        secret.as_bytes()
    );
    // Another user's row, another master key, or the signing-key KEK: does not open.
    assert_eq!(
        TotpSecret::open(&key, &sealed, Uuid::now_v7()).unwrap_err(),
        SealError::Open
    );
    let other = MasterKey::generate().totp_encryption_key();
    assert_eq!(TotpSecret::open(&other, &sealed, user).unwrap_err(), SealError::Open);
    assert_eq!(
        TotpSecret::open(&master.key_encryption_key(), &sealed, user).unwrap_err(),
        SealError::Open
    );
    // A sealed blob of the wrong length inside is refused, not truncated.
    let short = key.seal(&[7; 19], &seal_context(user));
    assert_eq!(TotpSecret::open(&key, &short, user).unwrap_err(), SealError::Open);
}

#[test]
fn secrets_are_random_and_redacted() {
    let a = TotpSecret::generate();
    let b = TotpSecret::generate();
    assert_ne!(a.as_bytes(), b.as_bytes());
    assert_eq!(format!("{a:?}"), "TotpSecret(<redacted>)");
    assert_eq!(TotpSecret::from_bytes(&[0; 19]).unwrap_err(), TotpError::CorruptSecret);
    assert_eq!(TotpSecret::from_bytes(&[0; 21]).unwrap_err(), TotpError::CorruptSecret);
}

#[test]
fn enrolment_shows_the_otpauth_uri_the_manual_key_and_a_qr_code() {
    let enrolment = Enrolment::with_secret(secret(), &TotpIssuer::new("tessera"), "ada@example.com").unwrap();
    // RFC 4648 base32 of the RFC seed, grouped.
    assert_eq!(enrolment.manual_key, "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
    assert_eq!(
        enrolment.otpauth_uri,
        "otpauth://totp/tessera:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=tessera"
    );
    // totp-rs leaves out the defaults (SHA1, 6 digits, 30 s) as authenticator apps expect;
    // reading the URI back gives exactly those parameters.
    let parsed = Totp::from_url(&enrolment.otpauth_uri).unwrap();
    assert_eq!(parsed.algorithm(), Algorithm::SHA1);
    assert_eq!(parsed.digits(), 6);
    assert_eq!(parsed.step(), 30);
    assert_eq!(parsed.issuer(), Some("tessera"));
    assert_eq!(parsed.account_name(), "ada@example.com");
    assert_eq!(parsed.secret().as_bytes(), RFC_SEED);
    assert!(enrolment.qr_svg.starts_with("<?xml"));
    assert!(enrolment.qr_svg.contains("<svg") && enrolment.qr_svg.ends_with("</svg>"));
    // Fresh enrolments get fresh secrets.
    let one = Enrolment::start(&TotpIssuer::new("tessera"), "ada@example.com").unwrap();
    let two = Enrolment::start(&TotpIssuer::new("tessera"), "ada@example.com").unwrap();
    assert_ne!(one.secret.as_bytes(), two.secret.as_bytes());
    assert_ne!(one.otpauth_uri, two.otpauth_uri);
}

#[test]
fn colons_never_reach_the_label() {
    for (issuer, label) in [
        ("tessera", "tessera"),
        ("  Acme Corp ", "Acme Corp"),
        ("https://id.example.com", "id.example.com"),
        ("https://id.example.com:8443/realm", "id.example.com"),
        ("urn:acme:auth", "urn_acme_auth"),
        ("http://[::1]:8080", "[__1]"),
        ("", "Tessera"),
    ] {
        assert_eq!(TotpIssuer::new(issuer).as_str(), label, "{issuer:?}");
    }
    // A quoted local part may contain a colon; the label cannot.
    let enrolment = Enrolment::with_secret(
        secret(),
        &TotpIssuer::new("https://id.example.com"),
        "\"a:b\"@example.com",
    )
    .unwrap();
    let parsed = Totp::from_url(&enrolment.otpauth_uri).unwrap();
    assert_eq!(parsed.issuer(), Some("id.example.com"));
    assert_eq!(parsed.account_name(), "\"a_b\"@example.com");
}

#[test]
fn qr_codes_encode_long_uris_and_refuse_impossible_ones() {
    assert!(qr_svg(&"x".repeat(1000)).is_ok());
    assert_eq!(qr_svg(&"x".repeat(10_000)).unwrap_err(), TotpError::UriTooLong);
}
