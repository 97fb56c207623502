//! Hand-made JWTs: taking the server's tokens apart and building tampered ones, signed with the
//! server's own key (so that exactly one thing is wrong with each) or with the wrong one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tessera_api::config::JwtSigning;
use tessera_auth_core::ports::KeyRepository;
use tessera_auth_core::secret::MasterKey;

use crate::harness::TestServer;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_else(|e| panic!("not base64url ({e}): {text}"))
}

/// (header, claims) of a compact JWT.
pub fn decode(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let header = parts.next().expect("header");
    let claims = parts.next().expect("claims");
    let parse = |segment: &str| serde_json::from_slice(&unb64(segment)).expect("segment is JSON");
    (parse(header), parse(claims))
}

/// How to sign a crafted token.
pub enum Key {
    /// No signature at all (an empty third segment).
    Unsigned,
    Hs256(Vec<u8>),
    Ed25519(Box<SigningKey>),
}

impl Key {
    /// A random Ed25519 key nobody else has.
    pub fn foreign_ed25519() -> Key {
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Key::Ed25519(Box::new(SigningKey::from_bytes(&seed)))
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Key::Unsigned => Vec::new(),
            Key::Hs256(secret) => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key");
                mac.update(input);
                mac.finalize().into_bytes().to_vec()
            }
            Key::Ed25519(key) => key.sign(input).to_bytes().to_vec(),
        }
    }
}

/// `b64(header).b64(claims).b64(signature)`, signed by `key` over the first two segments.
pub fn craft(header: &Value, claims: &Value, key: &Key) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// The key this server signs access tokens with: its HS256 secret, or its active Ed25519 key
/// opened from the database with the master key (black-box enough: an attacker with the key
/// could do the same; the point is that every *other* defect must still be refused).
pub async fn server_key(server: &TestServer) -> Key {
    let state = server.state();
    if let JwtSigning::Hs256(secret) = &state.config.jwt {
        return Key::Hs256(secret.expose().as_bytes().to_vec());
    }
    let master = MasterKey::from_hex(server.env("TESSERA_MASTER_KEY").expect("master key")).expect("master key hex");
    let kek = master.key_encryption_key();
    let active_kid = state.service.key_ring().active_kid().to_owned();
    let keys = state.store.list_signing_keys().await.expect("signing keys");
    let stored = keys.iter().find(|k| k.kid == active_kid).expect("active key is stored");
    let seed = kek
        .open(&stored.sealed_private_key, stored.kid.as_bytes())
        .expect("sealed key opens");
    let seed: [u8; 32] = seed.as_slice().try_into().expect("32-byte seed");
    Key::Ed25519(Box::new(SigningKey::from_bytes(&seed)))
}
