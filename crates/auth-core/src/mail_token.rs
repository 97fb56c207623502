//! Mail tokens: the secret in a reset, verification or confirmation link (DESIGN.md "Mail").
//!
//! 256 random bits, base64url in the link's fragment, stored only as SHA-256, bound to one user
//! and one purpose, single use, expiring. The store consumes a token with one conditional write
//! (unused, unexpired, of the expected purpose), so two concurrent uses cannot both succeed, and
//! a token shown to the wrong endpoint is refused without being consumed.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::mail::LinkToken;
use crate::user::Email;

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;
/// base64url length of [`TOKEN_BYTES`] without padding.
pub const TOKEN_TEXT_LEN: usize = 43;

/// What a token may be used for; stored in clear beside its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailTokenPurpose {
    ResetPassword,
    VerifyEmail,
    ConfirmEmail,
}

impl MailTokenPurpose {
    pub const ALL: [MailTokenPurpose; 3] = [
        MailTokenPurpose::ResetPassword,
        MailTokenPurpose::VerifyEmail,
        MailTokenPurpose::ConfirmEmail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailTokenPurpose::ResetPassword => "reset_password",
            MailTokenPurpose::VerifyEmail => "verify_email",
            MailTokenPurpose::ConfirmEmail => "confirm_email",
        }
    }

    pub fn parse(text: &str) -> Option<MailTokenPurpose> {
        MailTokenPurpose::ALL
            .into_iter()
            .find(|purpose| purpose.as_str() == text)
    }
}

/// SHA-256 of a token's text: what the store keeps and looks tokens up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailTokenHash(pub [u8; 32]);

impl fmt::Debug for MailTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MailTokenHash(<redacted>)")
    }
}

impl MailTokenHash {
    /// The hash of a presented token; `None` when it cannot be one this server minted (wrong
    /// length or alphabet), so malformed input never reaches the store.
    pub fn of_presented(token: &str) -> Option<MailTokenHash> {
        let well_formed = token.len() == TOKEN_TEXT_LEN
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| MailTokenHash(Sha256::digest(token.as_bytes()).into()))
    }
}

/// A freshly minted token: the link text (for the mail) and its hash (for the store).
pub struct MintedToken {
    pub link: LinkToken,
    pub hash: MailTokenHash,
}

impl fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MintedToken(<redacted>)")
    }
}

impl MintedToken {
    pub fn generate() -> MintedToken {
        let bytes: [u8; TOKEN_BYTES] = rand::random();
        let text = URL_SAFE_NO_PAD.encode(bytes);
        let hash = MailTokenHash(Sha256::digest(text.as_bytes()).into());
        MintedToken {
            link: LinkToken::from_base64url(text),
            hash,
        }
    }
}

/// A token row to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMailToken {
    pub hash: MailTokenHash,
    pub user_id: Uuid,
    pub purpose: MailTokenPurpose,
    /// The address a `confirm_email` token moves the account to.
    pub new_email: Option<Email>,
    /// The session that asked for an email change (kept when the change is confirmed).
    pub session_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A stored token as the domain reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailTokenRecord {
    pub hash: MailTokenHash,
    pub user_id: Uuid,
    pub purpose: MailTokenPurpose,
    pub new_email: Option<String>,
    pub session_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

impl MailTokenRecord {
    /// Whether the token can still be used for `purpose` at `now`: unused, unexpired (a token
    /// expires at `expires_at` exactly), of that purpose. Every store applies this same rule.
    pub fn usable_for(&self, purpose: MailTokenPurpose, now: OffsetDateTime) -> bool {
        self.purpose == purpose && self.used_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    #[test]
    fn minted_tokens_hash_as_presented() {
        let minted = MintedToken::generate();
        assert_eq!(minted.link.expose().len(), TOKEN_TEXT_LEN);
        assert_eq!(MailTokenHash::of_presented(minted.link.expose()), Some(minted.hash));
        assert_ne!(MintedToken::generate().hash, minted.hash);
    }

    #[test]
    fn malformed_tokens_have_no_hash() {
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &"é".repeat(22),
        ] {
            assert_eq!(MailTokenHash::of_presented(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn purposes_round_trip() {
        for purpose in MailTokenPurpose::ALL {
            assert_eq!(MailTokenPurpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(MailTokenPurpose::parse("other"), None);
    }

    #[test]
    fn usable_until_it_expires_or_is_used_for_its_own_purpose() {
        let at = datetime!(2030-01-01 09:00 UTC);
        let record = MailTokenRecord {
            hash: MailTokenHash([1; 32]),
            user_id: Uuid::nil(),
            purpose: MailTokenPurpose::ResetPassword,
            new_email: None,
            session_id: None,
            created_at: at,
            expires_at: at + Duration::minutes(30),
            used_at: None,
        };
        assert!(record.usable_for(
            MailTokenPurpose::ResetPassword,
            at + Duration::minutes(30) - Duration::seconds(1)
        ));
        assert!(!record.usable_for(MailTokenPurpose::ResetPassword, at + Duration::minutes(30)));
        assert!(!record.usable_for(MailTokenPurpose::VerifyEmail, at));
        let used = MailTokenRecord {
            used_at: Some(at),
            ..record
        };
        assert!(!used.usable_for(MailTokenPurpose::ResetPassword, at));
    }
}
