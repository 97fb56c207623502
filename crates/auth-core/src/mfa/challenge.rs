//! The MFA challenge: what a login that answered 202 `mfa_required` holds until the second
//! factor arrives.
//!
//! The client gets an opaque token (256 random bits, base64url) in `__Host-mfa`, or as
//! `mfa_token` for body delivery; the store keeps only its SHA-256 ([`ChallengeKey`]) with the
//! user it is bound to, how the session's tokens will travel, and a count of attempts. It lives
//! five minutes, works once, and dies after five wrong codes.
//!
//! Counting must survive concurrency: the api calls [`MfaChallenge::begin_attempt`] and stores
//! the new count with a conditional update (`… SET attempts = :n WHERE key = ? AND attempts =
//! :n - 1`) *before* it checks the code, so parallel guesses each use up an attempt; a right
//! code then deletes the challenge (`DELETE … WHERE key = ?`, one row = this request won) and
//! the session is created.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::session::TokenDelivery;

/// How long a challenge lives.
pub const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// Attempts a challenge allows; the next one finds it dead.
pub const MAX_ATTEMPTS: u32 = 5;
const TOKEN_BYTES: usize = 32;
/// 32 bytes in base64url without padding.
const TOKEN_CHARS: usize = 43;

/// The value of `__Host-mfa` / `mfa_token`. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ChallengeToken(String);

impl fmt::Debug for ChallengeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChallengeToken(<redacted>)")
    }
}

impl ChallengeToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// SHA-256 of a token's bytes: the challenge's primary key in the store.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChallengeKey(pub [u8; 32]);

impl fmt::Debug for ChallengeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChallengeKey(..)")
    }
}

impl ChallengeKey {
    /// The key of a presented token; `None` for anything not shaped like one (no lookup then).
    pub fn of(token: &str) -> Option<ChallengeKey> {
        if token.len() != TOKEN_CHARS {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        (raw.len() == TOKEN_BYTES).then(|| ChallengeKey(Sha256::digest(&raw).into()))
    }
}

/// Why a challenge cannot take a code. The api answers 401 `mfa_failed` for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// No such challenge (never issued, already used, or deleted).
    #[error("unknown MFA challenge")]
    Unknown,
    #[error("the MFA challenge has expired")]
    Expired,
    #[error("too many wrong codes for this MFA challenge")]
    Exhausted,
}

/// A challenge as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub key: ChallengeKey,
    pub user_id: Uuid,
    /// How the session created at the end delivers its tokens (the login's `token_delivery`).
    pub delivery: TokenDelivery,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Attempts made so far (each counted before its code is checked).
    pub attempts: u32,
}

impl MfaChallenge {
    /// A new challenge for `user_id`, after a right password.
    pub fn issue(user_id: Uuid, delivery: TokenDelivery, now: OffsetDateTime) -> (ChallengeToken, MfaChallenge) {
        let mut raw = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut raw);
        let token = ChallengeToken(URL_SAFE_NO_PAD.encode(raw));
        let challenge = MfaChallenge {
            key: ChallengeKey(Sha256::digest(raw).into()),
            user_id,
            delivery,
            created_at: now,
            expires_at: now.saturating_add(CHALLENGE_TTL),
            attempts: 0,
        };
        (token, challenge)
    }

    pub fn check_live(&self, now: OffsetDateTime) -> Result<(), ChallengeError> {
        if now >= self.expires_at {
            Err(ChallengeError::Expired)
        } else if self.attempts >= MAX_ATTEMPTS {
            Err(ChallengeError::Exhausted)
        } else {
            Ok(())
        }
    }

    /// Counts one attempt, refusing a dead challenge. The caller persists `attempts` (only if
    /// the stored count is still the one it read) before checking the code.
    pub fn begin_attempt(&mut self, now: OffsetDateTime) -> Result<u32, ChallengeError> {
        self.check_live(now)?;
        self.attempts = self.attempts.saturating_add(1);
        Ok(self.attempts)
    }

    /// Attempts this challenge still allows.
    pub fn attempts_left(&self) -> u32 {
        MAX_ATTEMPTS.saturating_sub(self.attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    #[test]
    fn tokens_are_random_and_only_their_digest_is_kept() {
        let user = Uuid::now_v7();
        let (token, challenge) = MfaChallenge::issue(user, TokenDelivery::Cookie, NOW);
        let (other, _) = MfaChallenge::issue(user, TokenDelivery::Cookie, NOW);
        assert_ne!(token, other);
        assert_eq!(token.as_str().len(), TOKEN_CHARS);
        assert_eq!(ChallengeKey::of(token.as_str()), Some(challenge.key));
        assert_ne!(ChallengeKey::of(other.as_str()), Some(challenge.key));
        assert_ne!(&challenge.key.0[..], URL_SAFE_NO_PAD.decode(token.as_str()).unwrap());
        assert_eq!(challenge.user_id, user);
        assert_eq!(challenge.expires_at, NOW + Duration::minutes(5));
        assert!(!format!("{token:?} {challenge:?}").contains(token.as_str()));
    }

    #[test]
    fn malformed_tokens_have_no_key() {
        let (token, _) = MfaChallenge::issue(Uuid::now_v7(), TokenDelivery::Body, NOW);
        for bad in [
            String::new(),
            token.as_str()[..42].to_owned(),
            format!("{}A", token.as_str()),
            token.as_str().replace(|c: char| c.is_ascii_alphanumeric(), "+"),
            "é".repeat(22),
        ] {
            assert_eq!(ChallengeKey::of(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_challenge_lives_five_minutes() {
        let (_, challenge) = MfaChallenge::issue(Uuid::now_v7(), TokenDelivery::Cookie, NOW);
        assert_eq!(challenge.check_live(NOW), Ok(()));
        assert_eq!(challenge.check_live(NOW + Duration::seconds(299)), Ok(()));
        assert_eq!(
            challenge.check_live(NOW + Duration::minutes(5)),
            Err(ChallengeError::Expired)
        );
        let mut late = challenge.clone();
        assert_eq!(
            late.begin_attempt(NOW + Duration::hours(1)),
            Err(ChallengeError::Expired)
        );
        assert_eq!(late.attempts, 0, "a refused attempt is not counted");
    }

    #[test]
    fn five_attempts_then_dead() {
        let (_, mut challenge) = MfaChallenge::issue(Uuid::now_v7(), TokenDelivery::Cookie, NOW);
        for n in 1..=MAX_ATTEMPTS {
            assert_eq!(challenge.begin_attempt(NOW), Ok(n));
            assert_eq!(challenge.attempts_left(), MAX_ATTEMPTS - n);
        }
        assert_eq!(challenge.begin_attempt(NOW), Err(ChallengeError::Exhausted));
        assert_eq!(challenge.check_live(NOW), Err(ChallengeError::Exhausted));
        assert_eq!(challenge.attempts, MAX_ATTEMPTS);
        // Dead stays dead, even for a right code and even later.
        assert_eq!(
            challenge.begin_attempt(NOW + Duration::seconds(1)),
            Err(ChallengeError::Exhausted)
        );
    }
}
