//! TOTP (RFC 6238): SHA-1, 6 digits, 30 s steps, codes accepted within ±1 step, each step at most
//! once per user.
//!
//! The code arithmetic and the `otpauth://` URI come from `totp-rs`; the rules that make a code
//! single-use are ours. A user's record keeps the last step that was accepted, and a code for
//! that step or an earlier one is refused, so a code seen over a shoulder or replayed from a log
//! is useless once its owner has used it. The confirmation code of an enrolment uses up its step
//! too ([`confirm`] returns the step to store). The store must write the new step with a
//! conditional update (`… WHERE last_used_step < :step`) so two requests racing with one code
//! cannot both win.
//!
//! Secrets are 160 random bits (RFC 4226's recommendation), sealed at rest under a key derived
//! from the master key ([`crate::secret::MasterKey::totp_encryption_key`]) with the user's id as
//! associated data, so a sealed secret moved to another user's row does not open.

use std::fmt;

use qrcode::QrCode;
use rand::RngCore;
use subtle::{Choice, ConstantTimeEq};
use time::OffsetDateTime;
use totp_rs::{Algorithm, Builder, Totp};
use uuid::Uuid;

use crate::secret::{KeyEncryptionKey, SealError};

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Length of a time step, in seconds.
pub const STEP_SECS: u64 = 30;
/// Steps accepted on either side of the current one (clock drift, typing time).
pub const SKEW_STEPS: u64 = 1;
/// Bytes of a secret (160 bits).
pub const SECRET_LEN: usize = 20;
/// Longest input looked at: a code with generous spacing. Anything longer is malformed.
const MAX_INPUT_LEN: usize = 32;
/// Associated-data label for sealed secrets; the user id follows it.
const SEAL_CONTEXT: &[u8] = b"tessera/totp-secret/v1:";

/// Why a code was not accepted. The api answers all three the same way (`mfa_failed`, or
/// `validation_failed` where a session exists) and counts each toward the backoff; the
/// distinction is for events and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpRejection {
    /// Not six digits (spaces allowed).
    #[error("the code is not six digits")]
    Malformed,
    /// No step in the window has this code.
    #[error("the code is wrong")]
    Wrong,
    /// The code is right, but only for a step that was already used.
    #[error("the code was already used")]
    Replayed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// A stored secret of the wrong length: corrupt data, never the client's fault.
    #[error("stored TOTP secret is corrupt")]
    CorruptSecret,
    /// The otpauth URI does not fit in a QR code (only with absurdly long emails or issuers).
    #[error("the otpauth URI is too long for a QR code")]
    UriTooLong,
    /// totp-rs refused the parameters (cannot happen with the constants above).
    #[error("TOTP parameters refused: {0}")]
    Parameters(String),
}

/// A user's TOTP secret. `Debug` is redacted; there is no `Display`.
#[derive(Clone)]
pub struct TotpSecret([u8; SECRET_LEN]);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        let mut bytes = [0u8; SECRET_LEN];
        rand::rng().fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<TotpSecret, TotpError> {
        let bytes: [u8; SECRET_LEN] = bytes.try_into().map_err(|_| TotpError::CorruptSecret)?;
        Ok(TotpSecret(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// The key a person types into an authenticator app: RFC 4648 base32, no padding, in groups
    /// of four for reading (apps ignore the spaces).
    pub fn manual_key(&self) -> String {
        let plain = totp_rs::Secret::from(self.0).to_base32();
        let mut grouped = String::with_capacity(plain.len() + plain.len() / 4);
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                grouped.push(' ');
            }
            grouped.push(c);
        }
        grouped
    }

    /// `nonce ‖ ciphertext` bound to `user_id`, for the user's TOTP row (or pending enrolment).
    pub fn seal(&self, key: &KeyEncryptionKey, user_id: Uuid) -> Vec<u8> {
        key.seal(&self.0, &seal_context(user_id))
    }

    /// Fails on a wrong master key, tampering, or a blob sealed for another user.
    pub fn open(key: &KeyEncryptionKey, sealed: &[u8], user_id: Uuid) -> Result<TotpSecret, SealError> {
        let plain = key.open(sealed, &seal_context(user_id))?;
        TotpSecret::from_bytes(&plain).map_err(|_| SealError::Open)
    }

    fn totp(&self) -> Result<Totp, TotpError> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_skew(SKEW_STEPS as u16)
            .with_step_duration(STEP_SECS)
            .with_secret(self.0)
            .build()
            .map_err(|e| TotpError::Parameters(format!("{e:?}")))
    }

    /// The code for time step `step` (`unix time / 30`).
    pub fn code_at_step(&self, step: u64) -> Result<String, TotpError> {
        Ok(self.totp()?.generate(step.saturating_mul(STEP_SECS)).to_string())
    }
}

fn seal_context(user_id: Uuid) -> Vec<u8> {
    let mut context = Vec::with_capacity(SEAL_CONTEXT.len() + 16);
    context.extend_from_slice(SEAL_CONTEXT);
    context.extend_from_slice(user_id.as_bytes());
    context
}

/// The issuer shown in authenticator apps (`TESSERA_ISSUER`). An otpauth label cannot contain
/// `:`, so an issuer written as a URL (`https://id.example.com`) is shown as its host, and any
/// other `:` becomes `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpIssuer(String);

impl TotpIssuer {
    pub fn new(issuer: &str) -> TotpIssuer {
        let issuer = issuer.trim();
        let label = match issuer.split_once("://") {
            Some((_, rest)) => {
                let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
                let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
                match host.rsplit_once(':') {
                    // A port, unless the colon is inside an IPv6 literal.
                    Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
                    _ => host,
                }
            }
            None => issuer,
        };
        let label = label.replace(':', "_");
        TotpIssuer(if label.is_empty() { "Tessera".to_owned() } else { label })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What POST /api/me/mfa/totp shows: the secret (to seal into the pending enrolment), the
/// manual key, the `otpauth://` URI and the same URI as a QR code in SVG.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub secret: TotpSecret,
    pub manual_key: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

impl Enrolment {
    /// A fresh secret for `account` (the user's email). Nothing is enabled until [`confirm`].
    pub fn start(issuer: &TotpIssuer, account: &str) -> Result<Enrolment, TotpError> {
        Enrolment::with_secret(TotpSecret::generate(), issuer, account)
    }

    pub fn with_secret(secret: TotpSecret, issuer: &TotpIssuer, account: &str) -> Result<Enrolment, TotpError> {
        // `:` separates issuer and account in the label; a quoted local part may contain one.
        let account = account.replace(':', "_");
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_skew(SKEW_STEPS as u16)
            .with_step_duration(STEP_SECS)
            .with_secret(*secret.as_bytes())
            .with_issuer(Some(issuer.as_str()))
            .with_account_name(account)
            .build()
            .map_err(|e| TotpError::Parameters(format!("{e:?}")))?;
        let otpauth_uri = totp.to_url().map_err(|e| TotpError::Parameters(format!("{e:?}")))?;
        let qr_svg = qr_svg(&otpauth_uri)?;
        Ok(Enrolment {
            manual_key: secret.manual_key(),
            secret,
            otpauth_uri,
            qr_svg,
        })
    }
}

/// A QR code as a standalone SVG document (black modules on white, quiet zone included).
pub fn qr_svg(text: &str) -> Result<String, TotpError> {
    let code = QrCode::new(text.as_bytes()).map_err(|_| TotpError::UriTooLong)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// The time step of `now` (`unix seconds / 30`); `None` before 1970.
pub fn step_at(now: OffsetDateTime) -> Option<u64> {
    u64::try_from(now.unix_timestamp()).ok().map(|secs| secs / STEP_SECS)
}

/// The six digits of `input`, ignoring spaces (apps show `123 456`); `None` for anything else.
fn normalise(input: &str) -> Option<[u8; DIGITS]> {
    if input.len() > MAX_INPUT_LEN {
        return None;
    }
    let mut digits = [0u8; DIGITS];
    let mut n = 0;
    for b in input.bytes().filter(|b| *b != b' ') {
        let slot = digits.get_mut(n)?;
        if !b.is_ascii_digit() {
            return None;
        }
        *slot = b;
        n += 1;
    }
    (n == DIGITS).then_some(digits)
}

/// Checks `code` against the steps around `now`. Accepts a code only for a step later than
/// `last_used_step` and returns that step, which the caller stores as the new last used step.
/// Every step of the window is computed and compared in constant time whatever the input, so
/// the timing says nothing about which step (if any) matched.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now: OffsetDateTime,
    last_used_step: Option<u64>,
) -> Result<Result<u64, TotpRejection>, TotpError> {
    let Some(presented) = normalise(code) else {
        return Ok(Err(TotpRejection::Malformed));
    };
    let Some(current) = step_at(now) else {
        return Ok(Err(TotpRejection::Wrong));
    };
    let totp = secret.totp()?;
    let mut accepted: Option<u64> = None;
    let mut seen_used = Choice::from(0);
    for step in current.saturating_sub(SKEW_STEPS)..=current.saturating_add(SKEW_STEPS) {
        let expected = totp.generate(step.saturating_mul(STEP_SECS)).to_string();
        let matches = expected.as_bytes().ct_eq(&presented);
        let fresh = Choice::from(u8::from(last_used_step.is_none_or(|last| step > last)));
        // The latest fresh matching step wins: it burns the most.
        if bool::from(matches & fresh) {
            accepted = Some(step);
        }
        seen_used |= matches & !fresh;
    }
    Ok(match accepted {
        Some(step) => Ok(step),
        None if bool::from(seen_used) => Err(TotpRejection::Replayed),
        None => Err(TotpRejection::Wrong),
    })
}

/// The first code of an enrolment: the same check with no step used yet. The returned step is
/// stored with the enabled secret, so the confirmation code cannot log in afterwards.
pub fn confirm(secret: &TotpSecret, code: &str, now: OffsetDateTime) -> Result<Result<u64, TotpRejection>, TotpError> {
    verify(secret, code, now, None)
}

#[cfg(test)]
mod tests {
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
}
