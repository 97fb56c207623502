//! The port to a WebAuthn relying party. `tessera-passkeys` implements it on webauthn-rs; the
//! domain sees only plain data: options as the standard WebAuthn JSON, credentials as the
//! browser's `PublicKeyCredential.toJSON()`, ceremony state as opaque bytes (stored with
//! [`super::ceremony::Ceremony`]), and verified results.
//!
//! The relying party verifies signatures, challenges, origins, the RP id, counters and the
//! credential's owner; whether the result makes a session is [`super::policy::decide`]'s call.

use time::OffsetDateTime;
use uuid::Uuid;

use super::policy::{AuthenticatorKind, PasskeyProof};

/// Why this deployment cannot offer passkeys at all (409 `passkeys_unavailable`; the SPA hides
/// passkey features).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeysUnavailable {
    /// WebAuthn refuses IP addresses as relying-party ids (the default public origin is
    /// `http://127.0.0.1:8080`; use `http://localhost:8080` or a domain).
    #[error("TESSERA_PUBLIC_ORIGIN's host {0} is an IP address; WebAuthn needs a domain name (e.g. localhost)")]
    IpAddressHost(String),
    /// Browsers offer WebAuthn only in secure contexts: https, or http on localhost.
    #[error(
        "TESSERA_PUBLIC_ORIGIN {0} is plain http on a host other than localhost; browsers allow passkeys only over https"
    )]
    InsecureOrigin(String),
    /// No host to use as relying-party id, or an origin the relying party cannot use.
    #[error("TESSERA_PUBLIC_ORIGIN {0} cannot be a WebAuthn relying party")]
    UnusableOrigin(String),
}

/// A WebAuthn failure. Messages never contain credential material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// 409 `passkeys_unavailable`.
    #[error(transparent)]
    Unavailable(#[from] PasskeysUnavailable),
    /// The credential is not the browser's `toJSON()` form: 400 `webauthn_failed`.
    #[error("malformed WebAuthn credential: {0}")]
    Malformed(&'static str),
    /// The credential is well formed but does not verify (signature, challenge, origin, RP id,
    /// type, flags, algorithm, excluded or foreign credential): 401 `webauthn_failed`.
    #[error("WebAuthn verification failed: {0}")]
    Rejected(&'static str),
    /// The authenticator did not verify the user where this credential requires it (it did at
    /// registration). On the passkey login path this is 401 `mfa_required`, like any passkey
    /// login without user verification; elsewhere `webauthn_failed`.
    #[error("the authenticator did not verify the user")]
    UserNotVerified,
    /// The signature counter did not increase on a credential that is not synced: a possible
    /// clone. 401 `webauthn_failed`; log it with the credential's id.
    #[error("the credential's signature counter went backwards")]
    CounterRegressed,
    /// The credential is not one this ceremony accepts (not the user's, or not registered).
    #[error("unknown credential")]
    UnknownCredential,
    /// Stored state that cannot be read: a server fault (500).
    #[error("stored WebAuthn state is unreadable: {0}")]
    Internal(String),
}

/// The user a registration is for.
#[derive(Debug, Clone, Copy)]
pub struct PasskeyUser<'a> {
    /// Becomes the WebAuthn user handle, returned by discoverable assertions.
    pub id: Uuid,
    /// Shown by the authenticator's account picker: the email.
    pub name: &'a str,
    pub display_name: &'a str,
}

/// A registered passkey as the store keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub credential_id: Vec<u8>,
    /// The relying party's own serialised credential (public key, counter, flags, policy).
    pub credential: Vec<u8>,
    pub name: String,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for StoredPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPasskey")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("sign_count", &self.sign_count)
            .field("backup_eligible", &self.backup_eligible)
            .field("backup_state", &self.backup_state)
            .finish_non_exhaustive()
    }
}

/// A ceremony's first half: options for the browser, the challenge (the ceremony's handle, see
/// [`super::ceremony::CeremonyKey`]) and the state to store.
#[derive(Debug, Clone)]
pub struct StartedCeremony {
    /// `PublicKeyCredentialCreationOptionsJSON` or `PublicKeyCredentialRequestOptionsJSON`, as
    /// `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON` take
    /// it. The endpoints answer `{publicKey: options}`.
    pub options: serde_json::Value,
    pub challenge: Vec<u8>,
    pub state: Vec<u8>,
}

/// A verified registration, ready to store.
#[derive(Clone, PartialEq, Eq)]
pub struct RegisteredPasskey {
    pub credential_id: Vec<u8>,
    /// The relying party's serialised credential: public key (COSE), counter, flags, policy.
    pub credential: Vec<u8>,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub user_verified: bool,
    /// `response.transports` as the browser reported them (known values only).
    pub transports: Vec<String>,
    /// The `credProps` extension's `rk`, when the client reported it.
    pub discoverable: Option<bool>,
}

impl std::fmt::Debug for RegisteredPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredPasskey")
            .field("sign_count", &self.sign_count)
            .field("backup_eligible", &self.backup_eligible)
            .field("backup_state", &self.backup_state)
            .field("user_verified", &self.user_verified)
            .field("transports", &self.transports)
            .field("discoverable", &self.discoverable)
            .finish_non_exhaustive()
    }
}

/// Who a discoverable assertion claims to be, read before verification to find the passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionIdentity {
    pub user_id: Uuid,
    pub credential_id: Vec<u8>,
}

/// A verified assertion.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The stored passkey that signed (its `id`).
    pub passkey_id: Uuid,
    pub user_verified: bool,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub sign_count: u32,
    /// The credential to store when counter or flags changed (`None`: nothing to write).
    pub updated_credential: Option<Vec<u8>>,
    /// The counter did not increase on a synced credential. Accepted (synced copies keep their
    /// own counters) but worth a log line.
    pub counter_regressed_on_synced: bool,
}

impl std::fmt::Debug for VerifiedAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedAssertion")
            .field("passkey_id", &self.passkey_id)
            .field("user_verified", &self.user_verified)
            .field("backup_eligible", &self.backup_eligible)
            .field("backup_state", &self.backup_state)
            .field("sign_count", &self.sign_count)
            .field("counter_regressed_on_synced", &self.counter_regressed_on_synced)
            .finish_non_exhaustive()
    }
}

impl VerifiedAssertion {
    /// What the login policy needs to know.
    pub fn proof(&self) -> PasskeyProof {
        PasskeyProof {
            user_verified: self.user_verified,
            authenticator: AuthenticatorKind::from_backup_eligible(self.backup_eligible),
        }
    }
}

/// A WebAuthn relying party. CPU only, no I/O: the caller loads and stores.
pub trait PasskeyRelyingParty: Send + Sync {
    /// Options for registering a discoverable credential (resident key required, user
    /// verification preferred), excluding the user's `existing` credentials.
    fn start_registration(
        &self,
        user: &PasskeyUser<'_>,
        existing: &[StoredPasskey],
    ) -> Result<StartedCeremony, PasskeyError>;

    /// Verifies the browser's `toJSON()` of a new credential against the ceremony's state.
    fn finish_registration(
        &self,
        state: &[u8],
        credential: &serde_json::Value,
    ) -> Result<RegisteredPasskey, PasskeyError>;

    /// Options for a usernameless login (no allowed credentials, so conditional mediation can
    /// offer every passkey of this site).
    fn start_login(&self) -> Result<StartedCeremony, PasskeyError>;

    /// The challenge an assertion or registration signed: the handle of its ceremony.
    fn challenge_of(&self, credential: &serde_json::Value) -> Result<Vec<u8>, PasskeyError>;

    /// The user handle and credential id of a discoverable assertion, to load the passkey.
    fn identify(&self, credential: &serde_json::Value) -> Result<AssertionIdentity, PasskeyError>;

    /// Verifies a usernameless assertion made with `passkey`, which must belong to the user
    /// its user handle names.
    fn finish_login(
        &self,
        state: &[u8],
        credential: &serde_json::Value,
        passkey: &StoredPasskey,
    ) -> Result<VerifiedAssertion, PasskeyError>;

    /// Options for an assertion limited to `passkeys` (all one user's): the second factor after
    /// a password, or re-authentication.
    fn start_for_user(&self, passkeys: &[StoredPasskey]) -> Result<StartedCeremony, PasskeyError>;

    /// Verifies an assertion by one of `user_id`'s `passkeys`.
    fn finish_for_user(
        &self,
        state: &[u8],
        credential: &serde_json::Value,
        user_id: Uuid,
        passkeys: &[StoredPasskey],
    ) -> Result<VerifiedAssertion, PasskeyError>;
}

/// The relying party of a deployment that cannot offer passkeys: every call answers
/// [`PasskeyError::Unavailable`], so every passkey endpoint answers 409 the same way.
#[derive(Debug, Clone)]
pub struct UnavailablePasskeys(pub PasskeysUnavailable);

impl UnavailablePasskeys {
    fn err<T>(&self) -> Result<T, PasskeyError> {
        Err(PasskeyError::Unavailable(self.0.clone()))
    }
}

impl PasskeyRelyingParty for UnavailablePasskeys {
    fn start_registration(&self, _: &PasskeyUser<'_>, _: &[StoredPasskey]) -> Result<StartedCeremony, PasskeyError> {
        self.err()
    }
    fn finish_registration(&self, _: &[u8], _: &serde_json::Value) -> Result<RegisteredPasskey, PasskeyError> {
        self.err()
    }
    fn start_login(&self) -> Result<StartedCeremony, PasskeyError> {
        self.err()
    }
    fn challenge_of(&self, _: &serde_json::Value) -> Result<Vec<u8>, PasskeyError> {
        self.err()
    }
    fn identify(&self, _: &serde_json::Value) -> Result<AssertionIdentity, PasskeyError> {
        self.err()
    }
    fn finish_login(
        &self,
        _: &[u8],
        _: &serde_json::Value,
        _: &StoredPasskey,
    ) -> Result<VerifiedAssertion, PasskeyError> {
        self.err()
    }
    fn start_for_user(&self, _: &[StoredPasskey]) -> Result<StartedCeremony, PasskeyError> {
        self.err()
    }
    fn finish_for_user(
        &self,
        _: &[u8],
        _: &serde_json::Value,
        _: Uuid,
        _: &[StoredPasskey],
    ) -> Result<VerifiedAssertion, PasskeyError> {
        self.err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mfa::policy::{Amr, EnrolledFactors, LoginDecision, LoginPath, decide};

    #[test]
    fn an_unavailable_relying_party_refuses_everything_alike() {
        let rp = UnavailablePasskeys(PasskeysUnavailable::IpAddressHost("127.0.0.1".into()));
        let expected = PasskeyError::Unavailable(PasskeysUnavailable::IpAddressHost("127.0.0.1".into()));
        let json = serde_json::json!({});
        let user = PasskeyUser {
            id: Uuid::now_v7(),
            name: "a@example.com",
            display_name: "A",
        };
        assert_eq!(rp.start_registration(&user, &[]).unwrap_err(), expected);
        assert_eq!(rp.finish_registration(&[], &json).unwrap_err(), expected);
        assert_eq!(rp.start_login().unwrap_err(), expected);
        assert_eq!(rp.challenge_of(&json).unwrap_err(), expected);
        assert_eq!(rp.identify(&json).unwrap_err(), expected);
        assert_eq!(rp.start_for_user(&[]).unwrap_err(), expected);
        assert_eq!(rp.finish_for_user(&[], &json, user.id, &[]).unwrap_err(), expected);
        assert!(expected.to_string().contains("IP address"));
    }

    #[test]
    fn a_verified_assertion_feeds_the_policy() {
        let assertion = VerifiedAssertion {
            passkey_id: Uuid::now_v7(),
            user_verified: true,
            backup_eligible: true,
            backup_state: true,
            sign_count: 0,
            updated_credential: None,
            counter_regressed_on_synced: false,
        };
        let LoginDecision::Session { amr } = decide(LoginPath::Passkey(assertion.proof()), &EnrolledFactors::default())
        else {
            panic!("a verified passkey logs in");
        };
        assert!(amr.contains(Amr::Swk) && amr.contains(Amr::User) && amr.contains(Amr::Mfa));
    }
}
