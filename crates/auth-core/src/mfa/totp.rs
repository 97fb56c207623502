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
mod tests;
