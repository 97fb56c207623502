//! Server-side state carried between the two requests of a ceremony: a WebAuthn registration or
//! assertion (the relying party's serialised state), or a pending TOTP enrolment (the sealed new
//! secret). Stored in the database so any instance can finish what another started; single use;
//! five minutes.
//!
//! A ceremony's key is derived from something the finishing request carries, so the client
//! needs no extra cookie: for WebAuthn the challenge (the browser signs it into
//! `clientDataJSON`, and the relying party extracts it), for a TOTP enrolment the user's id (one
//! pending enrolment per user; starting again replaces it). The kind is part of the key, so a
//! registration's state can never be found by a login. The store takes a ceremony with one
//! statement that deletes and returns it (single use even when two requests race), and
//! [`Ceremony::open`] then checks kind, owner and expiry.

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long a ceremony lives (WebAuthn's recommended timeout is the same five minutes).
pub const CEREMONY_TTL: Duration = Duration::minutes(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CeremonyKind {
    /// POST /api/me/passkeys/options → POST /api/me/passkeys (bound to the user).
    PasskeyRegistration,
    /// POST /api/auth/passkey/options → POST /api/auth/passkey (no user yet).
    PasskeyLogin,
    /// POST /api/auth/mfa/passkey/options → POST /api/auth/mfa (bound to the challenge's user).
    PasskeySecondFactor,
    /// POST /api/auth/reauth/passkey/options → POST /api/auth/reauth (bound to the user).
    PasskeyReauth,
    /// POST /api/me/mfa/totp → POST /api/me/mfa/totp/confirm (bound to the user).
    TotpEnrolment,
}

impl CeremonyKind {
    pub const ALL: [CeremonyKind; 5] = [
        CeremonyKind::PasskeyRegistration,
        CeremonyKind::PasskeyLogin,
        CeremonyKind::PasskeySecondFactor,
        CeremonyKind::PasskeyReauth,
        CeremonyKind::TotpEnrolment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::PasskeyRegistration => "passkey_registration",
            CeremonyKind::PasskeyLogin => "passkey_login",
            CeremonyKind::PasskeySecondFactor => "passkey_second_factor",
            CeremonyKind::PasskeyReauth => "passkey_reauth",
            CeremonyKind::TotpEnrolment => "totp_enrolment",
        }
    }

    pub fn parse(text: &str) -> Option<CeremonyKind> {
        CeremonyKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Whether a ceremony of this kind belongs to a known user.
    pub fn is_bound_to_user(self) -> bool {
        match self {
            CeremonyKind::PasskeyLogin => false,
            CeremonyKind::PasskeyRegistration
            | CeremonyKind::PasskeySecondFactor
            | CeremonyKind::PasskeyReauth
            | CeremonyKind::TotpEnrolment => true,
        }
    }
}

/// The primary key of a ceremony in the store.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CeremonyKey(pub [u8; 32]);

impl std::fmt::Debug for CeremonyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CeremonyKey(..)")
    }
}

impl CeremonyKey {
    /// `SHA-256("tessera/ceremony/v1:" ‖ kind ‖ ":" ‖ handle)`. The handle is the WebAuthn
    /// challenge, or the user id for a TOTP enrolment ([`CeremonyKey::totp_enrolment`]).
    pub fn derive(kind: CeremonyKind, handle: &[u8]) -> CeremonyKey {
        let mut hasher = Sha256::new();
        hasher.update(b"tessera/ceremony/v1:");
        hasher.update(kind.as_str().as_bytes());
        hasher.update(b":");
        hasher.update(handle);
        CeremonyKey(hasher.finalize().into())
    }

    pub fn totp_enrolment(user_id: Uuid) -> CeremonyKey {
        CeremonyKey::derive(CeremonyKind::TotpEnrolment, user_id.as_bytes())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CeremonyError {
    /// Nothing under that key: never started, already finished, or another kind's handle.
    #[error("unknown or finished ceremony")]
    Unknown,
    #[error("the ceremony has expired")]
    Expired,
    /// Started by (or for) someone else.
    #[error("the ceremony belongs to another user")]
    WrongUser,
    /// A row under this key of another kind: corrupt data or a forged row.
    #[error("the ceremony is of another kind")]
    WrongKind,
}

/// A ceremony as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub key: CeremonyKey,
    pub kind: CeremonyKind,
    pub user_id: Option<Uuid>,
    /// Opaque to the domain: the relying party's serialised state, or a sealed TOTP secret.
    pub state: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony")
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("state", &format_args!("<{} bytes>", self.state.len()))
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Ceremony {
    /// A ceremony of `kind` for `user_id` (`None` only for a passkey login), keyed by `handle`.
    pub fn new(
        kind: CeremonyKind,
        user_id: Option<Uuid>,
        handle: &[u8],
        state: Vec<u8>,
        now: OffsetDateTime,
    ) -> Ceremony {
        Ceremony {
            key: CeremonyKey::derive(kind, handle),
            kind,
            user_id,
            state,
            created_at: now,
            expires_at: now.saturating_add(CEREMONY_TTL),
        }
    }

    /// The state of a ceremony just taken from the store, if it is of `kind`, belongs to
    /// `user_id` (`None` for a passkey login) and has not expired.
    pub fn open(
        self,
        kind: CeremonyKind,
        user_id: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, CeremonyError> {
        if self.kind != kind {
            return Err(CeremonyError::WrongKind);
        }
        if self.user_id != user_id {
            return Err(CeremonyError::WrongUser);
        }
        if now >= self.expires_at {
            return Err(CeremonyError::Expired);
        }
        Ok(self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    #[test]
    fn kinds_round_trip_and_know_their_owner() {
        for kind in CeremonyKind::ALL {
            assert_eq!(CeremonyKind::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.is_bound_to_user(), kind != CeremonyKind::PasskeyLogin);
        }
        assert_eq!(CeremonyKind::parse("mfa_challenge"), None);
    }

    #[test]
    fn keys_depend_on_kind_and_handle() {
        let challenge = [7u8; 32];
        let keys: Vec<CeremonyKey> = CeremonyKind::ALL
            .into_iter()
            .map(|kind| CeremonyKey::derive(kind, &challenge))
            .collect();
        for (i, a) in keys.iter().enumerate() {
            for b in keys.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
        assert_ne!(
            CeremonyKey::derive(CeremonyKind::PasskeyLogin, &challenge),
            CeremonyKey::derive(CeremonyKind::PasskeyLogin, &[8u8; 32])
        );
        let user = Uuid::now_v7();
        assert_eq!(
            CeremonyKey::totp_enrolment(user),
            Ceremony::new(CeremonyKind::TotpEnrolment, Some(user), user.as_bytes(), vec![], NOW).key
        );
    }

    #[test]
    fn a_ceremony_opens_for_its_kind_and_owner_within_five_minutes() {
        let user = Uuid::now_v7();
        let ceremony = Ceremony::new(
            CeremonyKind::PasskeyRegistration,
            Some(user),
            b"chal",
            b"state".to_vec(),
            NOW,
        );
        assert_eq!(ceremony.expires_at, NOW + Duration::minutes(5));
        let at = |offset| NOW + offset;
        assert_eq!(
            ceremony.clone().open(
                CeremonyKind::PasskeyRegistration,
                Some(user),
                at(Duration::seconds(299))
            ),
            Ok(b"state".to_vec())
        );
        assert_eq!(
            ceremony
                .clone()
                .open(CeremonyKind::PasskeyRegistration, Some(user), at(Duration::minutes(5))),
            Err(CeremonyError::Expired)
        );
        assert_eq!(
            ceremony
                .clone()
                .open(CeremonyKind::PasskeyRegistration, Some(Uuid::now_v7()), NOW),
            Err(CeremonyError::WrongUser)
        );
        assert_eq!(
            ceremony.clone().open(CeremonyKind::PasskeyRegistration, None, NOW),
            Err(CeremonyError::WrongUser)
        );
        assert_eq!(
            ceremony.clone().open(CeremonyKind::PasskeyReauth, Some(user), NOW),
            Err(CeremonyError::WrongKind)
        );
        // A usernameless login ceremony has no owner, and opening it as someone's fails.
        let login = Ceremony::new(CeremonyKind::PasskeyLogin, None, b"chal", vec![1], NOW);
        assert_eq!(login.clone().open(CeremonyKind::PasskeyLogin, None, NOW), Ok(vec![1]));
        assert_eq!(
            login.open(CeremonyKind::PasskeyLogin, Some(user), NOW),
            Err(CeremonyError::WrongUser)
        );
        assert!(format!("{ceremony:?}").contains("<5 bytes>"));
    }
}
