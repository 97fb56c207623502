//! A software platform authenticator, and the part of a browser that drives it: what
//! `navigator.credentials.create/get` do with `PublicKeyCredential.parse…OptionsFromJSON(options)`
//! and what `credential.toJSON()` returns (WebAuthn Level 3, §5.1.8 and §5.1.3).
//!
//! It makes discoverable ES256 credentials with "none" attestation, verifies the user when it
//! can and the relying party asks for it, keeps an optional signature counter and reports the
//! backup flags it is told to — which is what the relying party's tests need to vary. Every
//! byte it produces is checked by webauthn-rs, an independent implementation, and
//! `a_ceremony_recorded_with_passkey_rs_replays` replays a ceremony recorded with 1Password's
//! passkey-rs, so the JSON forms are not only this file's reading of the spec.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value as Cbor;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

const UP: u8 = 1;
const UV: u8 = 1 << 2;
const BE: u8 = 1 << 3;
const BS: u8 = 1 << 4;
const AT: u8 = 1 << 6;
const ES256: i64 = -7;

/// What a browser reports when a ceremony does not happen (a `DOMException` name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserError {
    /// `SecurityError`: the RP id is not this origin's host or one of its parents.
    Security,
    /// `InvalidStateError`: the authenticator holds an excluded credential.
    InvalidState,
    /// `NotAllowedError`: no matching credential, or verification needed but impossible.
    NotAllowed,
    /// `NotSupportedError`: no algorithm this authenticator has.
    NotSupported,
}

pub struct Credential {
    pub id: Vec<u8>,
    pub rp_id: String,
    pub user_handle: Vec<u8>,
    pub key: SigningKey,
    pub counter: u32,
}

#[derive(Default)]
pub struct Keys {
    pub credentials: Vec<Credential>,
    /// A misbehaving authenticator that signs for any RP id with any credential it holds.
    pub ignore_rp_id: bool,
}

/// A browser on `origin` with a platform authenticator.
pub struct Browser {
    keys: Keys,
    pub origin: Url,
    /// The authenticator has a PIN or biometrics.
    pub can_verify: bool,
    /// The browser asks for user verification when the relying party prefers it.
    pub ask_user_verification: bool,
    /// The authenticator keeps a signature counter (else it always reports 0).
    pub counters: bool,
    /// The backup flags (eligible, backed up) it reports: `(false, false)` device-bound,
    /// `(true, true)` a synced passkey.
    pub backup_flags: (bool, bool),
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url from the relying party")
}

fn new_key() -> SigningKey {
    loop {
        let mut scalar = [0u8; 32];
        rand::rng().fill_bytes(&mut scalar);
        if let Ok(key) = SigningKey::from_slice(&scalar) {
            return key;
        }
    }
}

fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("CBOR encodes");
    out
}

/// COSE_Key of an ES256 public key.
fn cose_key(key: &SigningKey) -> Vec<u8> {
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    cbor(&Cbor::Map(vec![
        (Cbor::Integer(1.into()), Cbor::Integer(2.into())),     // kty: EC2
        (Cbor::Integer(3.into()), Cbor::Integer(ES256.into())), // alg: ES256
        (Cbor::Integer((-1).into()), Cbor::Integer(1.into())),  // crv: P-256
        (Cbor::Integer((-2).into()), Cbor::Bytes(bytes[1..33].to_vec())),
        (Cbor::Integer((-3).into()), Cbor::Bytes(bytes[33..65].to_vec())),
    ]))
}

impl Browser {
    pub fn new(origin: &str, can_verify: bool, counters: bool) -> Browser {
        Browser {
            keys: Keys::default(),
            origin: Url::parse(origin).unwrap(),
            can_verify,
            ask_user_verification: true,
            counters,
            backup_flags: (false, false),
        }
    }

    pub fn keys(&mut self) -> &mut Keys {
        &mut self.keys
    }

    /// The RP id a ceremony uses: the options' (which must be the origin's host or a parent of
    /// it), else the host.
    fn rp_id(&self, requested: Option<&str>) -> Result<String, BrowserError> {
        let host = self.origin.host_str().unwrap().to_owned();
        match requested {
            None => Ok(host),
            Some(rp_id) if host == rp_id || host.ends_with(&format!(".{rp_id}")) => Ok(rp_id.to_owned()),
            Some(_) => Err(BrowserError::Security),
        }
    }

    fn user_verified(&self, requirement: Option<&str>) -> Result<bool, BrowserError> {
        match requirement.unwrap_or("preferred") {
            "required" if self.can_verify => Ok(true),
            "required" => Err(BrowserError::NotAllowed),
            "preferred" => Ok(self.can_verify && self.ask_user_verification),
            _ => Ok(false),
        }
    }

    fn flags(&self, user_verified: bool) -> u8 {
        let (eligible, backed_up) = self.backup_flags;
        let mut flags = UP;
        if user_verified {
            flags |= UV;
        }
        if eligible {
            flags |= BE;
        }
        if backed_up {
            flags |= BS;
        }
        flags
    }

    fn client_data(&self, kind: &str, challenge: &Value) -> Vec<u8> {
        json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin.origin().ascii_serialization(),
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    /// `navigator.credentials.create({publicKey: parseCreationOptionsFromJSON(options)})`, then
    /// `credential.toJSON()`.
    pub async fn create(&mut self, options: &Value) -> Result<Value, BrowserError> {
        let rp_id = self.rp_id(options["rp"]["id"].as_str())?;
        let algorithms: Vec<i64> = options["pubKeyCredParams"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["type"] == "public-key")
            .filter_map(|p| p["alg"].as_i64())
            .collect();
        if !algorithms.contains(&ES256) {
            return Err(BrowserError::NotSupported);
        }
        let excluded: Vec<Vec<u8>> = options["excludeCredentials"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| unb64(d["id"].as_str().unwrap()))
            .collect();
        if self
            .keys
            .credentials
            .iter()
            .any(|c| c.rp_id == rp_id && excluded.contains(&c.id))
        {
            return Err(BrowserError::InvalidState);
        }
        let user_verified = self.user_verified(options["authenticatorSelection"]["userVerification"].as_str())?;

        let mut id = vec![0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let key = new_key();
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(user_verified) | AT);
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(&(id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend_from_slice(&cose_key(&key));
        let attestation_object = cbor(&Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data.clone())),
        ]));
        let client_data = self.client_data("webauthn.create", &options["challenge"]);
        self.keys.credentials.push(Credential {
            id: id.clone(),
            rp_id,
            user_handle: unb64(options["user"]["id"].as_str().unwrap()),
            key,
            counter: 0,
        });
        let mut extensions = json!({});
        if options["extensions"]["credProps"] == true {
            extensions["credProps"] = json!({"rk": true});
        }
        // RegistrationResponseJSON. `publicKey` (SPKI) is optional and left out.
        Ok(json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "publicKeyAlgorithm": ES256,
                "transports": ["internal", "hybrid"],
                "attestationObject": b64(&attestation_object),
            },
            "clientExtensionResults": extensions,
        }))
    }

    /// `navigator.credentials.get({publicKey: parseRequestOptionsFromJSON(options)})`, then
    /// `credential.toJSON()`.
    pub async fn get(&mut self, options: &Value) -> Result<Value, BrowserError> {
        let rp_id = self.rp_id(options["rpId"].as_str())?;
        let allowed: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| unb64(d["id"].as_str().unwrap()))
            .collect();
        let user_verified = self.user_verified(options["userVerification"].as_str())?;
        let flags = self.flags(user_verified);
        let client_data = self.client_data("webauthn.get", &options["challenge"]);
        let counters = self.counters;
        let ignore_rp_id = self.keys.ignore_rp_id;
        let credential = self
            .keys
            .credentials
            .iter_mut()
            .find(|c| (ignore_rp_id || c.rp_id == rp_id) && (allowed.is_empty() || allowed.contains(&c.id)))
            .ok_or(BrowserError::NotAllowed)?;
        if counters {
            credential.counter += 1;
        }
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend_from_slice(&credential.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = credential.key.sign(&signed);
        // AuthenticationResponseJSON.
        Ok(json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(&signature.to_der().to_bytes()),
                "userHandle": b64(&credential.user_handle),
            },
            "clientExtensionResults": {},
        }))
    }
}
