//! The access-token cases, by concept (tokens and headers, claims and times, the key ring) over
//! one set of helpers that craft tokens by hand.

use hmac::{Hmac, Mac};
use serde_json::json;
use time::macros::datetime;

use super::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::keys::*;
use super::verify::*;
use crate::secret::MasterKey;
use crate::secret::{KeyEncryptionKey, SealError};
use crate::user::Role;
use sha2::Sha256;

const T0: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);
const TTL: Duration = Duration::minutes(10);

fn kek() -> KeyEncryptionKey {
    MasterKey::from_bytes([5; 32]).key_encryption_key()
}

fn config() -> AccessTokenConfig {
    AccessTokenConfig {
        issuer: "tessera".into(),
        audience: "tessera-api".into(),
        ttl: TTL,
    }
}

fn subject() -> TokenSubject {
    TokenSubject {
        user_id: Uuid::now_v7(),
        session_id: Uuid::new_v4(),
        role: Role::Admin,
        email: "ada@example.com".into(),
        name: "Ada".into(),
        email_verified: false,
    }
}

fn ed_ring() -> (KeyRing, StoredSigningKey) {
    let key = generate_ed25519_key(&kek(), T0);
    (
        KeyRing::from_stored(std::slice::from_ref(&key), &kek(), TTL, T0).unwrap(),
        key,
    )
}

fn hs_ring() -> KeyRing {
    KeyRing::hs256(&[9; 32]).unwrap()
}

fn b64json(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// A token with exactly this header and payload, signed with `sign` over `header.payload`.
fn craft(header: &serde_json::Value, payload: &serde_json::Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let message = format!("{}.{}", b64json(header), b64json(payload));
    let signature = URL_SAFE_NO_PAD.encode(sign(message.as_bytes()));
    format!("{message}.{signature}")
}

/// Signs with the stored Ed25519 key directly, bypassing `sign`'s header.
fn ed_signer(key: &StoredSigningKey) -> impl Fn(&[u8]) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let seed: [u8; 32] = kek()
        .open(&key.sealed_private_key, key.kid.as_bytes())
        .unwrap()
        .try_into()
        .unwrap();
    let signing = SigningKey::from_bytes(&seed);
    move |message| signing.sign(message).to_bytes().to_vec()
}

fn hmac_signer(secret: Vec<u8>) -> impl Fn(&[u8]) -> Vec<u8> {
    move |message| {
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
}

/// `token` with its payload swapped for an admin's and its header and signature kept.
fn with_admin_payload(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload = good_payload();
    payload["role"] = json!("admin");
    format!("{}.{}.{}", parts[0], b64json(&payload), parts[2])
}

fn good_header(kid: &str) -> serde_json::Value {
    json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid})
}

fn good_payload() -> serde_json::Value {
    let s = subject();
    json!({
        "iss": "tessera", "aud": "tessera-api", "sub": s.user_id, "sid": s.session_id,
        "role": "user", "email": s.email, "name": s.name,
        "iat": T0.unix_timestamp(), "exp": (T0 + TTL).unix_timestamp(), "jti": Uuid::new_v4(),
    })
}

fn ed_ring_with(key: &StoredSigningKey) -> KeyRing {
    KeyRing::from_stored(std::slice::from_ref(key), &kek(), TTL, T0).unwrap()
}

mod claims;
mod ring;
mod tokens;
