//! The key ring: the signing keys an instance signs and verifies with, as stored (Ed25519 sealed
//! under the master key) or one HS256 secret, and the public keys it publishes.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::{LEEWAY_SECS, TOKEN_TYPE};
use crate::secret::{KeyEncryptionKey, SealError};
use crate::verified_tokens::{DEFAULT_CAPACITY, VerifiedTokens};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    EdDSA,
    HS256,
}

impl SigningAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::EdDSA => "EdDSA",
            SigningAlgorithm::HS256 => "HS256",
        }
    }

    pub fn parse(text: &str) -> Option<SigningAlgorithm> {
        match text {
            "EdDSA" => Some(SigningAlgorithm::EdDSA),
            "HS256" => Some(SigningAlgorithm::HS256),
            _ => None,
        }
    }

    pub(super) fn jwt(self) -> Algorithm {
        match self {
            SigningAlgorithm::EdDSA => Algorithm::EdDSA,
            SigningAlgorithm::HS256 => Algorithm::HS256,
        }
    }
}

/// A signing key as stored: public part in clear, private part sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    /// Ed25519: the raw 32-byte public key.
    pub public_key: Vec<u8>,
    /// Ed25519: the 32-byte seed, sealed with the key-encryption key (kid as associated data).
    pub sealed_private_key: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// Set when a newer key took over signing; the key keeps verifying until
    /// `retired_at + access_ttl + leeway`, then leaves JWKS and the key ring.
    pub retired_at: Option<OffsetDateTime>,
}

impl fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// Makes a fresh Ed25519 key (random kid) sealed under `kek`.
pub fn generate_ed25519_key(kek: &KeyEncryptionKey, now: OffsetDateTime) -> StoredSigningKey {
    let seed: [u8; 32] = rand::random();
    let public_key = SigningKey::from_bytes(&seed).verifying_key().to_bytes().to_vec();
    let kid = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    let sealed_private_key = kek.seal(&seed, kid.as_bytes());
    StoredSigningKey {
        kid,
        algorithm: SigningAlgorithm::EdDSA,
        public_key,
        sealed_private_key,
        created_at: now,
        retired_at: None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("no active signing key")]
    NoActiveKey,
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("signing key {0} is corrupt")]
    Corrupt(String),
    #[error("HS256 secret must be at least 32 bytes")]
    WeakSecret,
}

/// One entry of /.well-known/jwks.json (public keys only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

/// The keys an instance signs and verifies with. Immutable but for its memo of verified tokens;
/// the api swaps in a new ring (with an empty memo) when keys rotate.
pub struct KeyRing {
    pub(super) active_kid: String,
    pub(super) keys: HashMap<String, RingKey>,
    pub(super) verified: VerifiedTokens,
}

pub(super) struct RingKey {
    pub(super) algorithm: SigningAlgorithm,
    /// Only the active key signs.
    pub(super) signer: Option<TokenSigner>,
    pub(super) decoding: jsonwebtoken::DecodingKey,
    pub(super) public_jwk: Option<PublicJwk>,
}

/// How the active key signs. Ed25519 signs with the parsed key directly: going through
/// jsonwebtoken would re-parse the PKCS#8 document and re-derive the public key on every token,
/// half the cost of a signature.
pub(super) enum TokenSigner {
    Ed25519 {
        key: Box<SigningKey>,
        /// The base64url JOSE header, the same for every token this key signs.
        encoded_header: String,
    },
    Hs256(jsonwebtoken::EncodingKey),
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeyRing")
            .field("active_kid", &self.active_kid)
            .field("kids", &kids)
            .finish()
    }
}

impl KeyRing {
    /// Ed25519 ring from stored keys: the newest unretired key signs; retired keys whose tokens
    /// may still be alive (`retired_at + access_ttl + leeway > now`) only verify.
    pub fn from_stored(
        keys: &[StoredSigningKey],
        kek: &KeyEncryptionKey,
        access_ttl: Duration,
        now: OffsetDateTime,
    ) -> Result<KeyRing, KeyRingError> {
        let active = keys
            .iter()
            .filter(|key| key.retired_at.is_none())
            .max_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.kid.cmp(&b.kid)))
            .ok_or(KeyRingError::NoActiveKey)?;
        let keep_until = access_ttl.saturating_add(Duration::seconds(LEEWAY_SECS));
        let mut ring = HashMap::new();
        for key in keys {
            let alive = match key.retired_at {
                None => true,
                Some(retired_at) => retired_at.saturating_add(keep_until) > now,
            };
            if !alive {
                continue;
            }
            let is_active = key.kid == active.kid;
            if ring
                .insert(key.kid.clone(), open_ed25519(key, kek, is_active)?)
                .is_some()
            {
                return Err(KeyRingError::Corrupt(key.kid.clone()));
            }
        }
        Ok(KeyRing {
            active_kid: active.kid.clone(),
            keys: ring,
            verified: VerifiedTokens::new(DEFAULT_CAPACITY),
        })
    }

    /// HS256 with one shared secret (≥ 32 bytes); kid derived from the secret's SHA-256 so it is
    /// stable across instances without revealing the secret.
    pub fn hs256(secret: &[u8]) -> Result<KeyRing, KeyRingError> {
        if secret.len() < 32 {
            return Err(KeyRingError::WeakSecret);
        }
        let digest = Sha256::digest(secret);
        let kid = format!("hs-{}", hex::encode(digest.get(..8).unwrap_or_default()));
        let key = RingKey {
            algorithm: SigningAlgorithm::HS256,
            signer: Some(TokenSigner::Hs256(EncodingKey::from_secret(secret))),
            decoding: DecodingKey::from_secret(secret),
            public_jwk: None,
        };
        Ok(KeyRing {
            active_kid: kid.clone(),
            keys: HashMap::from([(kid, key)]),
            verified: VerifiedTokens::new(DEFAULT_CAPACITY),
        })
    }

    /// The same ring with a memo of at most `capacity` verified tokens (`0`: none).
    pub fn with_verified_token_capacity(mut self, capacity: usize) -> KeyRing {
        self.verified = VerifiedTokens::new(capacity);
        self
    }

    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    /// Public keys for JWKS (empty for HS256: a symmetric key is never published).
    pub fn public_jwks(&self) -> Vec<PublicJwk> {
        let mut jwks: Vec<PublicJwk> = self.keys.values().filter_map(|key| key.public_jwk.clone()).collect();
        jwks.sort_by(|a, b| a.kid.cmp(&b.kid));
        jwks
    }
}

/// Opens one stored Ed25519 key and checks that its halves belong together.
fn open_ed25519(key: &StoredSigningKey, kek: &KeyEncryptionKey, signs: bool) -> Result<RingKey, KeyRingError> {
    let corrupt = || KeyRingError::Corrupt(key.kid.clone());
    if key.algorithm != SigningAlgorithm::EdDSA {
        return Err(corrupt());
    }
    let seed = kek.open(&key.sealed_private_key, key.kid.as_bytes())?;
    let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| corrupt())?;
    let signing_key = SigningKey::from_bytes(&seed);
    let public_key = signing_key.verifying_key().to_bytes();
    if key.public_key.as_slice() != public_key.as_slice() {
        return Err(corrupt());
    }
    let signer = if signs {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid.clone());
        let header = serde_json::to_vec(&header).map_err(|_| corrupt())?;
        Some(TokenSigner::Ed25519 {
            key: Box::new(signing_key),
            encoded_header: URL_SAFE_NO_PAD.encode(header),
        })
    } else {
        None
    };
    Ok(RingKey {
        algorithm: SigningAlgorithm::EdDSA,
        signer,
        decoding: DecodingKey::from_ed_der(&public_key),
        public_jwk: Some(PublicJwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(public_key),
            kid: key.kid.clone(),
            alg: SigningAlgorithm::EdDSA.as_str().into(),
            use_: "sig".into(),
        }),
    })
}
