//! Tessera's WebAuthn relying party: auth-core's [`PasskeyRelyingParty`] port on the kanidm
//! project's webauthn-rs (its engine, `webauthn-rs-core`, pinned to the version the `webauthn-rs`
//! wrapper of the same release uses).
//!
//! Why the engine and not the `webauthn-rs` wrapper: the wrapper hard-codes policies that
//! contradict DESIGN.md. Its passkey registration asks for a non-resident credential with user
//! verification required, and all of its assertions require user verification — so a
//! discoverable credential with "user verification preferred" cannot be registered, and a
//! passkey login without user verification fails inside the library instead of reaching the
//! login policy that must answer `mfa_required` for it. The engine takes those choices as
//! parameters; the invariants the wrapper keeps are kept here instead, and tested:
//! - registration asks for a discoverable credential (resident key required), user
//!   verification preferred, no attestation, the library's secure algorithms, the user's
//!   existing credentials excluded, and `credProps` to learn whether the key is discoverable;
//! - usernameless assertions carry a user handle that must own the credential presented;
//! - second-factor and re-authentication assertions accept only the user's own credentials
//!   (those allowed when the ceremony began, still registered, and belonging to the user);
//! - a credential registered with user verification must always verify the user (the engine's
//!   rule); a counter that does not increase is refused on device-bound credentials and
//!   accepted (and reported) on synced ones, whose copies keep counters of their own;
//! - ceremony state is serialised to bytes for the database; the caller stores it single-use
//!   for five minutes (auth-core's `Ceremony`), and the kind of ceremony is inside the state, so
//!   a registration's state cannot finish a login.
//!
//! The relying-party id is the host of `TESSERA_PUBLIC_ORIGIN`; the origins accepted are that
//! origin and `TESSERA_ALLOWED_ORIGINS`. An IP address cannot be a relying-party id, and
//! browsers offer WebAuthn only over https or on localhost: [`RelyingParty::from_config`] turns
//! those into [`UnavailablePasskeys`], so every passkey endpoint answers 409
//! `passkeys_unavailable`.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unreachable,
        clippy::indexing_slicing
    )
)]

pub mod json;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_auth_core::mfa::passkey::{
    AssertionIdentity, PasskeyError, PasskeyRelyingParty, PasskeyUser, PasskeysUnavailable, RegisteredPasskey,
    StartedCeremony, StoredPasskey, UnavailablePasskeys, VerifiedAssertion,
};
use url::{Host, Url};
use uuid::Uuid;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationState, COSEAlgorithm, Credential, PublicKeyCredential,
    RegistrationState, RequestRegistrationExtensions, UserVerificationPolicy,
};

/// How long the browser may take; the same as the ceremony's lifetime in the store.
pub const CEREMONY_TIMEOUT: Duration = Duration::from_secs(300);

/// Ceremony state as stored: versioned, and tagged with its kind.
#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", rename_all = "snake_case")]
enum State {
    Registration {
        user_id: Uuid,
        state: RegistrationState,
    },
    Login {
        state: AuthenticationState,
    },
    ForUser {
        user_id: Uuid,
        /// The credential ids offered when the ceremony began.
        allowed: Vec<String>,
        state: AuthenticationState,
    },
}

#[derive(Serialize, Deserialize)]
struct Versioned {
    v: u8,
    #[serde(flatten)]
    state: State,
}

const STATE_VERSION: u8 = 1;

fn encode_state(state: State) -> Result<Vec<u8>, PasskeyError> {
    serde_json::to_vec(&Versioned {
        v: STATE_VERSION,
        state,
    })
    .map_err(|e| PasskeyError::Internal(e.to_string()))
}

fn decode_state(bytes: &[u8]) -> Result<State, PasskeyError> {
    let versioned: Versioned =
        serde_json::from_slice(bytes).map_err(|_| PasskeyError::Internal("unreadable ceremony state".into()))?;
    if versioned.v != STATE_VERSION {
        return Err(PasskeyError::Internal(format!(
            "ceremony state version {}",
            versioned.v
        )));
    }
    Ok(versioned.state)
}

fn wrong_kind() -> PasskeyError {
    PasskeyError::Internal("ceremony state of another kind".into())
}

/// The engine's errors in the port's terms. The detail is a fixed string, for logs.
fn map_error(error: WebauthnError) -> PasskeyError {
    use WebauthnError as E;
    match error {
        E::ParseBase64Failure(_)
        | E::ParseCBORFailure(_)
        | E::ParseJSONFailure(_)
        | E::ParseNOMFailure
        | E::ParseInsufficientBytesAvailable
        | E::COSEKeyInvalidCBORValue
        | E::COSEKeyInvalidType
        | E::COSEKeyECDSAXYInvalid
        | E::COSEKeyRSANEInvalid
        | E::COSEKeyEDDSAXInvalid
        | E::MissingAttestationCredentialData
        | E::AttestationStatementMapInvalid => PasskeyError::Malformed("authenticator data"),
        E::MismatchedChallenge | E::ChallengeNotFound => PasskeyError::Rejected("challenge"),
        E::InvalidRPOrigin => PasskeyError::Rejected("origin"),
        E::CredentialCrossOrigin => PasskeyError::Rejected("cross-origin"),
        E::InvalidRPIDHash => PasskeyError::Rejected("relying party id"),
        E::InvalidClientDataType => PasskeyError::Rejected("client data type"),
        E::UserNotPresent => PasskeyError::Rejected("user presence"),
        E::UserNotVerified => PasskeyError::UserNotVerified,
        E::CredentialPossibleCompromise => PasskeyError::CounterRegressed,
        E::CredentialNotFound => PasskeyError::UnknownCredential,
        E::AuthenticationFailure | E::SignatureInvalid => PasskeyError::Rejected("signature"),
        // The engine reports an excluded credential as an algorithm change.
        E::CredentialAlteredAlgFromRequest | E::CredentialExcludedFromRequest | E::CredentialAlreadyExists => {
            PasskeyError::Rejected("algorithm or excluded credential")
        }
        E::CredentialBackupEligibilityInconsistent | E::CredentialMayNotBeHardwareBound => {
            PasskeyError::Rejected("backup flags")
        }
        E::InvalidUsername | E::InvalidUserUniqueId => PasskeyError::Rejected("user"),
        E::Configuration => PasskeyError::Internal("relying party configuration".into()),
        _ => PasskeyError::Rejected("attestation or key"),
    }
}

/// A relying party for one deployment. Cheap to clone; holds no state between calls, so every
/// instance built from the same configuration finishes every other's ceremonies.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    core: WebauthnCore,
}

impl RelyingParty {
    /// The relying party of `public_origin` (its host is the relying-party id), accepting
    /// `allowed_origins` too. `rp_name` is shown by some authenticators.
    pub fn new(
        public_origin: &Url,
        allowed_origins: &[Url],
        rp_name: &str,
    ) -> Result<RelyingParty, PasskeysUnavailable> {
        let origin_text = public_origin.origin().ascii_serialization();
        let rp_id = match public_origin.host() {
            Some(Host::Domain(domain)) if !domain.is_empty() => domain.trim_end_matches('.').to_ascii_lowercase(),
            Some(Host::Ipv4(ip)) => return Err(PasskeysUnavailable::IpAddressHost(ip.to_string())),
            Some(Host::Ipv6(ip)) => return Err(PasskeysUnavailable::IpAddressHost(ip.to_string())),
            _ => return Err(PasskeysUnavailable::UnusableOrigin(origin_text)),
        };
        let localhost = rp_id == "localhost" || rp_id.ends_with(".localhost");
        match public_origin.scheme() {
            "https" => {}
            "http" if localhost => {}
            "http" => return Err(PasskeysUnavailable::InsecureOrigin(origin_text)),
            _ => return Err(PasskeysUnavailable::UnusableOrigin(origin_text)),
        }
        let origin_only = |url: &Url| Url::parse(&url.origin().ascii_serialization()).ok();
        let mut origins = Vec::with_capacity(1 + allowed_origins.len());
        origins.extend(origin_only(public_origin));
        for extra in allowed_origins.iter().filter_map(origin_only) {
            if !origins.contains(&extra) {
                origins.push(extra);
            }
        }
        let name = if rp_name.trim().is_empty() {
            rp_id.as_str()
        } else {
            rp_name
        };
        let core =
            WebauthnCore::new_unsafe_experts_only(name, &rp_id, origins, CEREMONY_TIMEOUT, Some(false), Some(false));
        Ok(RelyingParty { core })
    }

    /// The relying party for the api: a working one, or one that answers `passkeys_unavailable`
    /// to everything, with the reason for the start-up log.
    pub fn from_config(
        public_origin: &Url,
        allowed_origins: &[Url],
        rp_name: &str,
    ) -> (Arc<dyn PasskeyRelyingParty>, Option<PasskeysUnavailable>) {
        match RelyingParty::new(public_origin, allowed_origins, rp_name) {
            Ok(rp) => (Arc::new(rp), None),
            Err(reason) => (Arc::new(UnavailablePasskeys(reason.clone())), Some(reason)),
        }
    }

    pub fn allowed_origins(&self) -> &[Url] {
        self.core.get_allowed_origins()
    }

    fn stored_credential(passkey: &StoredPasskey) -> Result<Credential, PasskeyError> {
        serde_json::from_slice(&passkey.credential)
            .map_err(|_| PasskeyError::Internal("unreadable stored credential".into()))
    }

    fn started(options: serde_json::Value, challenge: Vec<u8>, state: State) -> Result<StartedCeremony, PasskeyError> {
        Ok(StartedCeremony {
            options,
            challenge,
            state: encode_state(state)?,
        })
    }

    /// Verifies `assertion` by `passkey` and computes what changes on the stored credential.
    fn verify(
        &self,
        state: &AuthenticationState,
        assertion: &PublicKeyCredential,
        passkey: &StoredPasskey,
    ) -> Result<VerifiedAssertion, PasskeyError> {
        let stored = Self::stored_credential(passkey)?;
        if stored.cred_id != assertion.raw_id || passkey.credential_id != assertion.raw_id {
            return Err(PasskeyError::UnknownCredential);
        }
        // The engine refuses any counter that does not increase. That is right for a
        // device-bound key (a possible clone) but not for a synced one, whose copies count on
        // their own: for those it checks against 0 (no check), and the regression is reported.
        let mut for_check = stored.clone();
        if stored.backup_eligible {
            for_check.counter = 0;
        }
        let result = self
            .core
            .authenticate_single_credential(assertion, state, &for_check)
            .map_err(map_error)?;
        let counter = result.counter();
        let counter_regressed_on_synced =
            stored.backup_eligible && (counter > 0 || stored.counter > 0) && counter <= stored.counter;

        let mut updated = stored.clone();
        updated.counter = stored.counter.max(counter);
        updated.backup_state = result.backup_state();
        // Backup eligibility may only appear, never go (the engine refuses the other way).
        updated.backup_eligible = stored.backup_eligible || result.backup_eligible();
        let changed = updated.counter != stored.counter
            || updated.backup_state != stored.backup_state
            || updated.backup_eligible != stored.backup_eligible;
        let updated_credential = if changed {
            Some(serde_json::to_vec(&updated).map_err(|e| PasskeyError::Internal(e.to_string()))?)
        } else {
            None
        };
        Ok(VerifiedAssertion {
            passkey_id: passkey.id,
            user_verified: result.user_verified(),
            backup_eligible: updated.backup_eligible,
            backup_state: updated.backup_state,
            sign_count: updated.counter,
            updated_credential,
            counter_regressed_on_synced,
        })
    }
}

impl PasskeyRelyingParty for RelyingParty {
    fn start_registration(
        &self,
        user: &PasskeyUser<'_>,
        existing: &[StoredPasskey],
    ) -> Result<StartedCeremony, PasskeyError> {
        let display_name = if user.display_name.trim().is_empty() {
            user.name
        } else {
            user.display_name
        };
        let extensions = RequestRegistrationExtensions {
            cred_protect: None,
            uvm: None,
            cred_props: Some(true),
            min_pin_length: None,
            hmac_create_secret: None,
        };
        let builder = self
            .core
            .new_challenge_register_builder(user.id.as_bytes(), user.name, display_name)
            .map_err(map_error)?
            .attestation(AttestationConveyancePreference::None)
            .credential_algorithms(COSEAlgorithm::secure_algs())
            .require_resident_key(true)
            .authenticator_attachment(None)
            .user_verification_policy(UserVerificationPolicy::Preferred)
            .reject_synchronised_authenticators(false)
            .exclude_credentials(Some(existing.iter().map(|p| p.credential_id.clone()).collect()))
            .hints(None)
            .extensions(Some(extensions));
        let (ccr, state) = self.core.generate_challenge_register(builder).map_err(map_error)?;
        let options = json::creation_options(&ccr.public_key)?;
        Self::started(
            options,
            ccr.public_key.challenge.clone(),
            State::Registration {
                user_id: user.id,
                state,
            },
        )
    }

    fn finish_registration(
        &self,
        state: &[u8],
        credential: &serde_json::Value,
    ) -> Result<RegisteredPasskey, PasskeyError> {
        let State::Registration { state, .. } = decode_state(state)? else {
            return Err(wrong_kind());
        };
        let registration = json::registration(credential)?;
        let registered = self
            .core
            .register_credential(&registration, &state, None)
            .map_err(map_error)?;
        // The id in the authenticator data is the credential; `rawId` must name the same one.
        if registered.cred_id != registration.raw_id {
            return Err(PasskeyError::Malformed("rawId"));
        }
        let transports = registration
            .response
            .transports
            .iter()
            .flatten()
            .map(|t| t.to_string())
            .filter(|t| t != "unknown")
            .collect();
        Ok(RegisteredPasskey {
            credential_id: registered.cred_id.clone(),
            credential: serde_json::to_vec(&registered).map_err(|e| PasskeyError::Internal(e.to_string()))?,
            sign_count: registered.counter,
            backup_eligible: registered.backup_eligible,
            backup_state: registered.backup_state,
            user_verified: registered.user_verified,
            transports,
            discoverable: registration.extensions.cred_props.and_then(|props| props.rk),
        })
    }

    fn start_login(&self) -> Result<StartedCeremony, PasskeyError> {
        let builder = self
            .core
            .new_challenge_authenticate_builder(Vec::new(), Some(UserVerificationPolicy::Preferred))
            .map_err(map_error)?
            .extensions(None)
            .allow_backup_eligible_upgrade(true)
            .hints(None);
        let (rcr, state) = self.core.generate_challenge_authenticate(builder).map_err(map_error)?;
        let options = json::request_options(&rcr.public_key)?;
        Self::started(options, rcr.public_key.challenge.clone(), State::Login { state })
    }

    fn challenge_of(&self, credential: &serde_json::Value) -> Result<Vec<u8>, PasskeyError> {
        json::challenge(credential)
    }

    fn identify(&self, credential: &serde_json::Value) -> Result<AssertionIdentity, PasskeyError> {
        let assertion = json::assertion(credential)?;
        let handle = assertion
            .response
            .user_handle
            .ok_or(PasskeyError::Rejected("no user handle"))?;
        let user_id = Uuid::from_slice(&handle).map_err(|_| PasskeyError::UnknownCredential)?;
        Ok(AssertionIdentity {
            user_id,
            credential_id: assertion.raw_id,
        })
    }

    fn finish_login(
        &self,
        state: &[u8],
        credential: &serde_json::Value,
        passkey: &StoredPasskey,
    ) -> Result<VerifiedAssertion, PasskeyError> {
        let State::Login { state } = decode_state(state)? else {
            return Err(wrong_kind());
        };
        let assertion = json::assertion(credential)?;
        // The user handle names the account; the passkey must be that account's.
        let handle = assertion
            .response
            .user_handle
            .as_deref()
            .ok_or(PasskeyError::Rejected("no user handle"))?;
        if handle != passkey.user_id.as_bytes() {
            return Err(PasskeyError::UnknownCredential);
        }
        self.verify(&state, &assertion, passkey)
    }

    fn start_for_user(&self, passkeys: &[StoredPasskey]) -> Result<StartedCeremony, PasskeyError> {
        let user_id = match passkeys.first() {
            Some(first) if passkeys.iter().all(|p| p.user_id == first.user_id) => first.user_id,
            // No passkeys, or several users' (a caller bug): never a discoverable request.
            _ => return Err(PasskeyError::UnknownCredential),
        };
        let credentials = passkeys
            .iter()
            .map(Self::stored_credential)
            .collect::<Result<Vec<_>, _>>()?;
        let allowed = credentials.iter().map(|c| json::b64url(&c.cred_id)).collect();
        let builder = self
            .core
            .new_challenge_authenticate_builder(credentials, Some(UserVerificationPolicy::Preferred))
            .map_err(map_error)?
            .extensions(None)
            .allow_backup_eligible_upgrade(true)
            .hints(None);
        let (rcr, state) = self.core.generate_challenge_authenticate(builder).map_err(map_error)?;
        let options = json::request_options(&rcr.public_key)?;
        Self::started(
            options,
            rcr.public_key.challenge.clone(),
            State::ForUser {
                user_id,
                allowed,
                state,
            },
        )
    }

    fn finish_for_user(
        &self,
        state: &[u8],
        credential: &serde_json::Value,
        user_id: Uuid,
        passkeys: &[StoredPasskey],
    ) -> Result<VerifiedAssertion, PasskeyError> {
        let State::ForUser {
            user_id: owner,
            allowed,
            state,
        } = decode_state(state)?
        else {
            return Err(wrong_kind());
        };
        if owner != user_id {
            return Err(PasskeyError::UnknownCredential);
        }
        let assertion = json::assertion(credential)?;
        if let Some(handle) = assertion.response.user_handle.as_deref()
            && handle != user_id.as_bytes()
        {
            return Err(PasskeyError::UnknownCredential);
        }
        // Offered when the ceremony began, and still registered to this user now.
        if !allowed.contains(&json::b64url(&assertion.raw_id)) {
            return Err(PasskeyError::UnknownCredential);
        }
        let passkey = passkeys
            .iter()
            .find(|p| p.user_id == user_id && p.credential_id == assertion.raw_id)
            .ok_or(PasskeyError::UnknownCredential)?;
        self.verify(&state, &assertion, passkey)
    }
}

#[cfg(test)]
mod tests;
