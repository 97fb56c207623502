//! Mail as the domain sees it: what to tell whom (an intent carrying the data its template
//! needs), sealed for the durable queue, and the queue's retry schedule.
//!
//! Nothing here knows SMTP: `tessera-mail` renders intents into messages and sends them,
//! `tessera-store` keeps the queue ([`crate::ports::MailQueue`]).
//!
//! A queued message can carry a live token (a reset or verification link) until it is sent, so
//! the recipient and the intent are sealed together under a key derived from the master key
//! ([`MailSealingKey`]); only the kind, the user id and the times are stored in clear.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// What a message is about; stored in clear next to the sealed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    VerifyAddress,
    ResetPassword,
    ConfirmNewAddress,
    AddressChangeNotice,
    PasswordChanged,
    SecondFactorAdded,
    SecondFactorRemoved,
}

impl MailKind {
    pub const ALL: [MailKind; 7] = [
        MailKind::VerifyAddress,
        MailKind::ResetPassword,
        MailKind::ConfirmNewAddress,
        MailKind::AddressChangeNotice,
        MailKind::PasswordChanged,
        MailKind::SecondFactorAdded,
        MailKind::SecondFactorRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::VerifyAddress => "verify_address",
            MailKind::ResetPassword => "reset_password",
            MailKind::ConfirmNewAddress => "confirm_new_address",
            MailKind::AddressChangeNotice => "address_change_notice",
            MailKind::PasswordChanged => "password_changed",
            MailKind::SecondFactorAdded => "second_factor_added",
            MailKind::SecondFactorRemoved => "second_factor_removed",
        }
    }

    pub fn parse(text: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest token a link may carry (mail tokens are 43 base64url characters).
pub const LINK_TOKEN_MAX_LEN: usize = 256;

/// A mail token as it goes into a link's fragment: base64url characters only, so it needs no
/// escaping in a URL. `Debug` is redacted; [`expose`](LinkToken::expose) is for the template.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LinkToken(String);

impl LinkToken {
    /// `None` unless `token` is 1 to [`LINK_TOKEN_MAX_LEN`] characters of `A-Z a-z 0-9 - _`.
    pub fn new(token: impl Into<String>) -> Option<LinkToken> {
        let token = token.into();
        let valid = !token.is_empty()
            && token.len() <= LINK_TOKEN_MAX_LEN
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then_some(LinkToken(token))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A token this crate just encoded as unpadded base64url (always a valid link token).
    pub(crate) fn from_base64url(text: String) -> LinkToken {
        debug_assert!(LinkToken::new(text.clone()).is_some());
        LinkToken(text)
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(<redacted>)")
    }
}

impl TryFrom<String> for LinkToken {
    type Error = &'static str;

    fn try_from(token: String) -> Result<LinkToken, &'static str> {
        LinkToken::new(token).ok_or("not a link token")
    }
}

impl From<LinkToken> for String {
    fn from(token: LinkToken) -> String {
        token.0
    }
}

/// The second factor a notice is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SecondFactor {
    /// An authenticator app (TOTP).
    Totp,
    /// A passkey, with the name its owner gave it.
    Passkey { name: String },
    /// A new set of recovery codes (the previous set no longer works).
    RecoveryCodes,
}

/// What to tell the recipient, with everything its template needs. Links are built from the
/// token at render time, on the configured public origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "intent", rename_all = "snake_case", deny_unknown_fields)]
pub enum MailIntent {
    /// "Confirm your address": `/verify-email#token=…`.
    VerifyAddress {
        token: LinkToken,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// "Reset your password": `/reset-password#token=…`.
    ResetPassword {
        token: LinkToken,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// To the new address of an email change: `/confirm-email#token=…`.
    ConfirmNewAddress {
        token: LinkToken,
        new_address: String,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// To the old address of an email change: a change to `new_address` was requested.
    AddressChangeNotice { new_address: String },
    /// The password was changed (or reset) at `at`.
    PasswordChanged {
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    SecondFactorAdded {
        factor: SecondFactor,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    SecondFactorRemoved {
        factor: SecondFactor,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

impl MailIntent {
    pub fn kind(&self) -> MailKind {
        match self {
            MailIntent::VerifyAddress { .. } => MailKind::VerifyAddress,
            MailIntent::ResetPassword { .. } => MailKind::ResetPassword,
            MailIntent::ConfirmNewAddress { .. } => MailKind::ConfirmNewAddress,
            MailIntent::AddressChangeNotice { .. } => MailKind::AddressChangeNotice,
            MailIntent::PasswordChanged { .. } => MailKind::PasswordChanged,
            MailIntent::SecondFactorAdded { .. } => MailKind::SecondFactorAdded,
            MailIntent::SecondFactorRemoved { .. } => MailKind::SecondFactorRemoved,
        }
    }
}

/// Who a message goes to: an address (already normalised) and the name to greet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub address: String,
    pub name: String,
}

/// A message to queue: built by a flow, sealed with [`MailSealingKey::seal`] and handed to the
/// store together with the state change that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// UUIDv7; also the message's `Message-ID` (stable across retries).
    pub id: Uuid,
    /// The account it concerns, when there is one (kept in clear, for operators).
    pub user_id: Option<Uuid>,
    pub to: Recipient,
    pub intent: MailIntent,
    /// Also the message's `Date`.
    pub created_at: OffsetDateTime,
}

impl OutgoingMail {
    pub fn new(user_id: Option<Uuid>, to: Recipient, intent: MailIntent, now: OffsetDateTime) -> OutgoingMail {
        OutgoingMail {
            id: Uuid::now_v7(),
            user_id,
            to,
            intent,
            created_at: now,
        }
    }
}

/// A queued message as the store keeps it: the kind, user and times in clear, the recipient and
/// intent sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedMail {
    pub id: Uuid,
    pub kind: MailKind,
    pub user_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    /// `nonce(24) ‖ XChaCha20-Poly1305(JSON {to, intent})`.
    pub sealed: Vec<u8>,
}

impl fmt::Debug for SealedMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// The sealed part of a queued message.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedPayload {
    /// Format version, so a later change can still open older rows.
    v: u8,
    to: Recipient,
    intent: MailIntent,
}

const PAYLOAD_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// Associated data: this label, the row id and the kind, so a sealed payload cannot be moved to
/// another row or relabelled as another kind without failing to open.
const AAD_LABEL: &[u8] = b"tessera/mail-queue/v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailOpenError {
    #[error("queued mail could not be opened (wrong master key or corrupted data)")]
    Open,
    #[error("queued mail payload is not readable by this version")]
    Format,
    #[error("queued mail payload does not match its kind column")]
    KindMismatch,
}

/// Seals queued mail at rest (XChaCha20-Poly1305 under `HKDF(master, "tessera/mail-queue/v1")`).
#[derive(Clone)]
pub struct MailSealingKey(pub(crate) [u8; 32]);

impl fmt::Debug for MailSealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MailSealingKey(<redacted>)")
    }
}

fn aad(id: Uuid, kind: MailKind) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 16 + 32);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(id.as_bytes());
    aad.extend_from_slice(kind.as_str().as_bytes());
    aad
}

impl MailSealingKey {
    pub fn seal(&self, mail: &OutgoingMail) -> SealedMail {
        let kind = mail.intent.kind();
        let payload = SealedPayload {
            v: PAYLOAD_VERSION,
            to: mail.to.clone(),
            intent: mail.intent.clone(),
        };
        // Serialising plain structs of strings and times cannot fail.
        let plaintext = serde_json::to_vec(&payload).unwrap_or_default();
        let sealed = crate::seal::seal_xchacha(&self.0, &plaintext, &aad(mail.id, kind));
        SealedMail {
            id: mail.id,
            kind,
            user_id: mail.user_id,
            created_at: mail.created_at,
            sealed,
        }
    }

    /// Opens what [`seal`](Self::seal) made for row `id` of kind `kind`.
    pub fn open(&self, id: Uuid, kind: MailKind, sealed: &[u8]) -> Result<(Recipient, MailIntent), MailOpenError> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN).ok_or(MailOpenError::Open)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| MailOpenError::Open)?;
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let plaintext = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad(id, kind),
                },
            )
            .map_err(|_| MailOpenError::Open)?;
        let payload: SealedPayload = serde_json::from_slice(&plaintext).map_err(|_| MailOpenError::Format)?;
        if payload.v != PAYLOAD_VERSION {
            return Err(MailOpenError::Format);
        }
        if payload.intent.kind() != kind {
            return Err(MailOpenError::KindMismatch);
        }
        Ok((payload.to, payload.intent))
    }
}

// --- the queue's schedule ---

/// The first retry comes this long after a failed attempt (the contract: within 30 s)...
pub const FIRST_RETRY_DELAY: Duration = Duration::seconds(15);
/// ... each later one twice as long after the previous, up to this.
pub const MAX_RETRY_DELAY: Duration = Duration::minutes(15);
/// A message still undelivered this long after it was queued is given up as `failed` (its last
/// attempt is at or after this age, so it was retried for at least this long).
pub const GIVE_UP_AFTER: Duration = Duration::hours(24);
/// A claim lasts this long: a worker that dies between claiming and marking a message leaves it
/// to be claimed again after this (the sending worker bounds every delivery well below it).
pub const CLAIM_LEASE: Duration = Duration::minutes(10);

/// What to do with a message whose delivery attempt number `attempts` (1 for the first) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAt(OffsetDateTime),
    GiveUp,
}

/// Exponential backoff: 15 s, 30 s, 1 min, 2 min, ... capped at 15 min; given up once the
/// message is [`GIVE_UP_AFTER`] old.
pub fn after_failure(attempts: u32, created_at: OffsetDateTime, now: OffsetDateTime) -> RetryDecision {
    if now - created_at >= GIVE_UP_AFTER {
        return RetryDecision::GiveUp;
    }
    RetryDecision::RetryAt(now + retry_delay(attempts))
}

/// The wait after failed attempt number `attempts` (1-based).
pub fn retry_delay(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    let delay = FIRST_RETRY_DELAY * 2_i32.pow(doublings);
    delay.min(MAX_RETRY_DELAY)
}

/// A claim on one queued message: the row and the claim that must still hold to mark it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailClaim {
    pub id: Uuid,
    pub claim: Uuid,
}

/// A message claimed for delivery.
#[derive(Clone)]
pub struct ClaimedMail {
    pub claim: MailClaim,
    pub kind: MailKind,
    pub user_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    /// Delivery attempts including this one.
    pub attempts: u32,
    pub sealed: Vec<u8>,
}

impl fmt::Debug for ClaimedMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimedMail")
            .field("claim", &self.claim)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// The queue as an operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MailQueueStats {
    /// Waiting for delivery (including those being sent and those waiting for a retry).
    pub queued: u64,
    /// Given up.
    pub failed: u64,
    pub sent: u64,
    /// When the oldest queued message was queued.
    pub oldest_queued_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests;
