//! Access tokens: short-lived JWTs (RFC 9068 profile) verified without any I/O.
//!
//! Signing keys are Ed25519 by default (private halves sealed under the master key in the
//! database) or one HS256 secret for single-service deployments. Verification is deliberately
//! stricter than the JWT library's defaults: it parses the header itself, pins the algorithm to
//! the key named by `kid`, requires `typ: at+jwt`, refuses `crit`/`jku`/`jwk`/`x5u`/`x5c`, and
//! checks times against the injected clock with 5 s of leeway.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::secret::{KeyEncryptionKey, SealError};
use crate::user::Role;
use crate::verified_tokens::{DEFAULT_CAPACITY, VerifiedTokens};

/// Accepted clock skew between instances, in seconds.
pub const LEEWAY_SECS: i64 = 5;
pub const TOKEN_TYPE: &str = "at+jwt";
/// Header parameters that would let a token choose its own key or demand extensions we do not
/// implement. A token carrying any of them is refused.
const FORBIDDEN_HEADERS: [&str; 5] = ["crit", "jku", "jwk", "x5u", "x5c"];
/// Far above any token we mint (~1 KiB); bounds the work spent on garbage.
const MAX_TOKEN_LEN: usize = 8 * 1024;

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

    fn jwt(self) -> Algorithm {
        match self {
            SigningAlgorithm::EdDSA => Algorithm::EdDSA,
            SigningAlgorithm::HS256 => Algorithm::HS256,
        }
    }
}

/// The claims of a Tessera access token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: Uuid,
    /// Session id.
    pub sid: Uuid,
    pub role: String,
    pub email: String,
    pub name: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

impl AccessClaims {
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }

    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// What the api needs to mint a token; the issuer fills iss/aud/iat/exp/jti.
#[derive(Debug, Clone)]
pub struct TokenSubject {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    #[error("access token is malformed")]
    Malformed,
    #[error("access token header is not acceptable")]
    BadHeader,
    #[error("access token names an unknown key")]
    UnknownKey,
    #[error("access token signature is invalid")]
    BadSignature,
    #[error("access token claims are not acceptable")]
    BadClaims,
    #[error("access token has expired")]
    Expired,
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
    active_kid: String,
    keys: HashMap<String, RingKey>,
    verified: VerifiedTokens,
}

struct RingKey {
    algorithm: SigningAlgorithm,
    /// Only the active key signs.
    signer: Option<TokenSigner>,
    decoding: jsonwebtoken::DecodingKey,
    public_jwk: Option<PublicJwk>,
}

/// How the active key signs. Ed25519 signs with the parsed key directly: going through
/// jsonwebtoken would re-parse the PKCS#8 document and re-derive the public key on every token,
/// half the cost of a signature.
enum TokenSigner {
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

/// Issues and verifies access tokens for one issuer/audience.
#[derive(Debug, Clone)]
pub struct AccessTokenConfig {
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
}

pub fn sign(
    ring: &KeyRing,
    config: &AccessTokenConfig,
    subject: &TokenSubject,
    now: OffsetDateTime,
) -> Result<(String, AccessClaims), KeyRingError> {
    let key = ring.keys.get(&ring.active_kid).ok_or(KeyRingError::NoActiveKey)?;
    let signer = key.signer.as_ref().ok_or(KeyRingError::NoActiveKey)?;
    let claims = AccessClaims {
        iss: config.issuer.clone(),
        aud: config.audience.clone(),
        sub: subject.user_id,
        sid: subject.session_id,
        role: subject.role.as_str().to_owned(),
        email: subject.email.clone(),
        name: subject.name.clone(),
        iat: now.unix_timestamp(),
        exp: now.saturating_add(config.ttl).unix_timestamp(),
        jti: Uuid::new_v4(),
    };
    let corrupt = || KeyRingError::Corrupt(ring.active_kid.clone());
    let token = match signer {
        TokenSigner::Ed25519 { key, encoded_header } => {
            let payload = serde_json::to_vec(&claims).map_err(|_| corrupt())?;
            let mut token = String::with_capacity(encoded_header.len() + payload.len() * 4 / 3 + 92);
            token.push_str(encoded_header);
            token.push('.');
            URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
            let signature = key.sign(token.as_bytes());
            token.push('.');
            URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
            token
        }
        TokenSigner::Hs256(encoding) => {
            let mut header = Header::new(Algorithm::HS256);
            header.typ = Some(TOKEN_TYPE.to_owned());
            header.kid = Some(ring.active_kid.clone());
            jsonwebtoken::encode(&header, &claims, encoding).map_err(|_| corrupt())?
        }
    };
    Ok((token, claims))
}

/// Full verification (header rules, algorithm pinned to the kid's key, signature, iss, aud, exp
/// and iat with [`LEEWAY_SECS`]). Does not consult the revocation set: see `service`.
///
/// A token this ring verified before is answered from its memo (see `verified_tokens`): the
/// signature is not checked again, but issuer, audience and the times are, against `config` and
/// `now`, so the result is the same as a full verification's.
pub fn verify(
    ring: &KeyRing,
    config: &AccessTokenConfig,
    token: &str,
    now: OffsetDateTime,
) -> Result<AccessClaims, AccessTokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AccessTokenError::Malformed);
    }
    let digest = VerifiedTokens::digest(token);
    if let Some(claims) = ring.verified.get(&digest) {
        check_claims(&claims, config, now)?;
        return Ok(claims);
    }
    let claims = verify_uncached(ring, config, token, now)?;
    ring.verified.insert(digest, &claims, now.unix_timestamp(), LEEWAY_SECS);
    Ok(claims)
}

/// [`verify`] without the memo: every check, every time (benchmarks, and the memo's own fill).
pub fn verify_uncached(
    ring: &KeyRing,
    config: &AccessTokenConfig,
    token: &str,
    now: OffsetDateTime,
) -> Result<AccessClaims, AccessTokenError> {
    // 1. Shape and header, checked by us before the library sees the token.
    if token.len() > MAX_TOKEN_LEN {
        return Err(AccessTokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AccessTokenError::Malformed);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(AccessTokenError::Malformed);
    }
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AccessTokenError::Malformed)?;
    let header: Map<String, Value> = serde_json::from_slice(&header).map_err(|_| AccessTokenError::Malformed)?;
    let key = check_header(ring, &header)?;

    // 2. Signature and claims, with the algorithm pinned to the key's. The library's clock is
    //    never consulted: time is checked below against the injected `now`.
    let mut validation = Validation::new(key.algorithm.jwt());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation.validate_aud = true;
    validation.set_issuer(&[config.issuer.as_str()]);
    validation.set_audience(&[config.audience.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
        .map_err(|error| match error.kind() {
            ErrorKind::InvalidSignature => AccessTokenError::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::UnsupportedAlgorithm => {
                AccessTokenError::BadHeader
            }
            // Only the claims are deserialised after our own header checks.
            ErrorKind::Json(_)
            | ErrorKind::MissingRequiredClaim(_)
            | ErrorKind::InvalidClaimFormat(_)
            | ErrorKind::InvalidIssuer
            | ErrorKind::InvalidAudience
            | ErrorKind::InvalidSubject
            | ErrorKind::ExpiredSignature
            | ErrorKind::ImmatureSignature => AccessTokenError::BadClaims,
            _ => AccessTokenError::Malformed,
        })?
        .claims;

    check_claims(&claims, config, now)?;
    Ok(claims)
}

/// Our own claim rules, checked on every verification, memoised or not. A role this server does
/// not know was not minted by it: refusing it here means no endpoint ever has to decide what an
/// unknown role may do. Likewise for times it would not mint (see below).
fn check_claims(
    claims: &AccessClaims,
    config: &AccessTokenConfig,
    now: OffsetDateTime,
) -> Result<(), AccessTokenError> {
    if claims.iss != config.issuer || claims.aud != config.audience || claims.role().is_none() {
        return Err(AccessTokenError::BadClaims);
    }
    // Times this server would never mint, even when the signature is good (a leaked key): a
    // lifetime beyond the configured TTL plus the leeway, negative times, an issue date in the
    // future. Together they bound `exp` to a representable date near `now`.
    let longest = config.ttl.whole_seconds().saturating_add(LEEWAY_SECS);
    let lifetime_ok = claims
        .exp
        .checked_sub(claims.iat)
        .is_some_and(|lifetime| (0..=longest).contains(&lifetime));
    let now = now.unix_timestamp();
    if claims.iat < 0 || !lifetime_ok || claims.iat > now.saturating_add(LEEWAY_SECS) {
        return Err(AccessTokenError::BadClaims);
    }
    if now > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(AccessTokenError::Expired);
    }
    Ok(())
}

/// The header rules: no key-choosing or critical parameters, `typ` at+jwt, a `kid` in the ring and
/// `alg` exactly that key's algorithm. Returns the key to verify with.
fn check_header<'r>(ring: &'r KeyRing, header: &Map<String, Value>) -> Result<&'r RingKey, AccessTokenError> {
    if FORBIDDEN_HEADERS.iter().any(|name| header.contains_key(*name)) {
        return Err(AccessTokenError::BadHeader);
    }
    // Media types compare case-insensitively and may omit "application/" (RFC 7515 §4.1.9).
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .ok_or(AccessTokenError::BadHeader)?
        .to_ascii_lowercase();
    if typ != TOKEN_TYPE && typ.strip_prefix("application/") != Some(TOKEN_TYPE) {
        return Err(AccessTokenError::BadHeader);
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(AccessTokenError::BadHeader)?;
    let key = ring.keys.get(kid).ok_or(AccessTokenError::UnknownKey)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(AccessTokenError::BadHeader)?;
    if alg != key.algorithm.as_str() {
        return Err(AccessTokenError::BadHeader);
    }
    // The library parses the header again into its own type; anything it cannot read (a
    // wrongly-typed standard parameter) is a bad header, not a claims problem.
    serde_json::from_value::<Header>(Value::Object(header.clone())).map_err(|_| AccessTokenError::BadHeader)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::secret::MasterKey;

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

    #[test]
    fn eddsa_round_trip() {
        let (ring, key) = ed_ring();
        let subject = subject();
        let (token, claims) = sign(&ring, &config(), &subject, T0).unwrap();
        assert_eq!(claims.iss, "tessera");
        assert_eq!(claims.aud, "tessera-api");
        assert_eq!(claims.sub, subject.user_id);
        assert_eq!(claims.sid, subject.session_id);
        assert_eq!(claims.role(), Some(Role::Admin));
        assert_eq!(claims.iat, T0.unix_timestamp());
        assert_eq!(claims.expires_at(), T0 + TTL);
        assert_eq!(claims.jti.get_version_num(), 4);
        assert_eq!(verify(&ring, &config(), &token, T0 + Duration::minutes(1)), Ok(claims));

        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid}));
        // A fresh jti each time.
        let (_, again) = sign(&ring, &config(), &subject, T0).unwrap();
        assert_ne!(again.jti, verify(&ring, &config(), &token, T0).unwrap().jti);
    }

    #[test]
    fn hs256_round_trip() {
        let ring = hs_ring();
        let (token, claims) = sign(&ring, &config(), &subject(), T0).unwrap();
        assert_eq!(verify(&ring, &config(), &token, T0), Ok(claims));
        assert!(ring.active_kid().starts_with("hs-"));
        assert_eq!(ring.active_kid().len(), 3 + 16);
        assert!(ring.public_jwks().is_empty(), "a symmetric key is never published");
        // Stable across instances, different per secret.
        assert_eq!(KeyRing::hs256(&[9; 32]).unwrap().active_kid(), ring.active_kid());
        assert_ne!(KeyRing::hs256(&[8; 32]).unwrap().active_kid(), ring.active_kid());
        let other = KeyRing::hs256(&[9; 33]).unwrap();
        assert_eq!(verify(&other, &config(), &token, T0), Err(AccessTokenError::UnknownKey));
    }

    #[test]
    fn hs256_needs_a_strong_secret() {
        assert_eq!(KeyRing::hs256(&[1; 31]).unwrap_err(), KeyRingError::WeakSecret);
        assert_eq!(KeyRing::hs256(b"").unwrap_err(), KeyRingError::WeakSecret);
    }

    #[test]
    fn alg_none_is_refused() {
        let (ring, key) = ed_ring();
        for alg in ["none", "None", "NONE"] {
            let header = json!({"alg": alg, "typ": "at+jwt", "kid": key.kid});
            let token = craft(&header, &good_payload(), |_| b"x".to_vec());
            assert_eq!(
                verify(&ring, &config(), &token, T0),
                Err(AccessTokenError::BadHeader),
                "{alg}"
            );
        }
        // And the classic "empty signature" form.
        let unsigned = format!(
            "{}.{}.",
            b64json(&json!({"alg": "none", "typ": "at+jwt", "kid": key.kid})),
            b64json(&good_payload())
        );
        assert_eq!(
            verify(&ring, &config(), &unsigned, T0),
            Err(AccessTokenError::Malformed)
        );
    }

    #[test]
    fn algorithm_confusion_is_refused() {
        let (ring, key) = ed_ring();
        // HS256 "signed" with the Ed25519 public key as the HMAC secret.
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": key.kid});
        let token = craft(&header, &good_payload(), hmac_signer(key.public_key.clone()));
        assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadHeader));
        // Same with the JWK's x string as the secret.
        let x = ring.public_jwks()[0].x.clone().into_bytes();
        let token = craft(&header, &good_payload(), hmac_signer(x));
        assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadHeader));
        // And an EdDSA header against an HS256 ring.
        let hs = hs_ring();
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": hs.active_kid()});
        let token = craft(&header, &good_payload(), ed_signer(&key));
        assert_eq!(verify(&hs, &config(), &token, T0), Err(AccessTokenError::BadHeader));
        // Other algorithm names.
        for alg in ["RS256", "ES256", "PS256", "eddsa", "HS512"] {
            let header = json!({"alg": alg, "typ": "at+jwt", "kid": key.kid});
            let token = craft(&header, &good_payload(), ed_signer(&key));
            assert_eq!(
                verify(&ring, &config(), &token, T0),
                Err(AccessTokenError::BadHeader),
                "{alg}"
            );
        }
    }

    #[test]
    fn crafted_tokens_with_good_headers_verify() {
        // Guards the other header tests: the crafting itself is sound.
        let (ring, key) = ed_ring();
        let token = craft(&good_header(&key.kid), &good_payload(), ed_signer(&key));
        assert!(verify(&ring, &config(), &token, T0).is_ok());
        for typ in ["AT+JWT", "application/at+jwt", "Application/AT+JWT"] {
            let header = json!({"alg": "EdDSA", "typ": typ, "kid": key.kid});
            let token = craft(&header, &good_payload(), ed_signer(&key));
            assert!(verify(&ring, &config(), &token, T0).is_ok(), "{typ}");
        }
        let hs = hs_ring();
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": hs.active_kid()});
        let token = craft(&header, &good_payload(), hmac_signer(vec![9; 32]));
        assert!(verify(&hs, &config(), &token, T0).is_ok());
    }

    #[test]
    fn kid_is_required_and_must_be_known() {
        let (ring, key) = ed_ring();
        let cases = [
            (json!({"alg": "EdDSA", "typ": "at+jwt"}), AccessTokenError::BadHeader),
            (
                json!({"alg": "EdDSA", "typ": "at+jwt", "kid": 7}),
                AccessTokenError::BadHeader,
            ),
            (
                json!({"alg": "EdDSA", "typ": "at+jwt", "kid": null}),
                AccessTokenError::BadHeader,
            ),
            (
                json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "someone-else"}),
                AccessTokenError::UnknownKey,
            ),
            (
                json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ""}),
                AccessTokenError::UnknownKey,
            ),
        ];
        for (header, expected) in cases {
            let token = craft(&header, &good_payload(), ed_signer(&key));
            assert_eq!(verify(&ring, &config(), &token, T0), Err(expected), "{header}");
        }
    }

    #[test]
    fn typ_is_required() {
        let (ring, key) = ed_ring();
        for typ in [
            json!("JWT"),
            json!("jwt"),
            json!("at+jwt "),
            json!("application/jwt"),
            json!(null),
            json!(1),
            json!(["at+jwt"]),
        ] {
            let header = json!({"alg": "EdDSA", "typ": typ, "kid": key.kid});
            let token = craft(&header, &good_payload(), ed_signer(&key));
            assert_eq!(
                verify(&ring, &config(), &token, T0),
                Err(AccessTokenError::BadHeader),
                "{typ}"
            );
        }
        let header = json!({"alg": "EdDSA", "kid": key.kid});
        let token = craft(&header, &good_payload(), ed_signer(&key));
        assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadHeader));
    }

    #[test]
    fn key_choosing_and_critical_headers_are_refused() {
        let (ring, key) = ed_ring();
        let jwk = serde_json::to_value(&ring.public_jwks()[0]).unwrap();
        let extras = [
            ("crit", json!(["exp"])),
            ("crit", json!([])),
            ("jku", json!("https://evil.example/jwks.json")),
            ("jwk", jwk),
            ("x5u", json!("https://evil.example/cert.pem")),
            ("x5c", json!(["MIIB"])),
            ("x5c", json!(null)),
        ];
        for (name, value) in extras {
            let mut header = good_header(&key.kid);
            header[name] = value;
            let token = craft(&header, &good_payload(), ed_signer(&key));
            assert_eq!(
                verify(&ring, &config(), &token, T0),
                Err(AccessTokenError::BadHeader),
                "{name}"
            );
        }
        // A wrongly-typed standard header is bad too (and never a panic).
        let mut header = good_header(&key.kid);
        header["x5t"] = json!(5);
        let token = craft(&header, &good_payload(), ed_signer(&key));
        assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadHeader));
    }

    #[test]
    fn unknown_roles_are_refused() {
        let (ring, key) = ed_ring();
        for role in [json!("root"), json!("Admin"), json!(""), json!(7)] {
            let mut payload = good_payload();
            payload["role"] = role.clone();
            let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
            assert!(verify(&ring, &config(), &token, T0).is_err(), "role {role}");
        }
    }

    #[test]
    fn issuer_and_audience_must_match() {
        let (ring, key) = ed_ring();
        let cases = [
            ("iss", json!("someone-else")),
            ("aud", json!("other-api")),
            ("aud", json!(["tessera-api"])),
            ("aud", json!(["tessera-api", "other-api"])),
            ("iss", json!(null)),
        ];
        for (name, value) in cases {
            let mut payload = good_payload();
            payload[name] = value.clone();
            let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
            assert_eq!(
                verify(&ring, &config(), &token, T0),
                Err(AccessTokenError::BadClaims),
                "{name}={value}"
            );
        }
        // The same token under another configuration.
        let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
        let other_aud = AccessTokenConfig {
            audience: "other-api".into(),
            ..config()
        };
        assert_eq!(verify(&ring, &other_aud, &token, T0), Err(AccessTokenError::BadClaims));
        let other_iss = AccessTokenConfig {
            issuer: "other".into(),
            ..config()
        };
        assert_eq!(verify(&ring, &other_iss, &token, T0), Err(AccessTokenError::BadClaims));
    }

    #[test]
    fn required_and_unknown_claims() {
        let (ring, key) = ed_ring();
        for missing in ["iss", "aud", "sub", "sid", "role", "email", "name", "iat", "exp", "jti"] {
            let mut payload = good_payload();
            payload.as_object_mut().unwrap().remove(missing);
            let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
            assert_eq!(
                verify(&ring, &config(), &token, T0),
                Err(AccessTokenError::BadClaims),
                "without {missing}"
            );
        }
        for (name, value) in [("admin", json!(true)), ("nbf", json!(0)), ("scope", json!("all"))] {
            let mut payload = good_payload();
            payload[name] = value;
            let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
            assert_eq!(
                verify(&ring, &config(), &token, T0),
                Err(AccessTokenError::BadClaims),
                "with {name}"
            );
        }
        for (name, value) in [
            ("exp", json!("soon")),
            ("exp", json!(-1)),
            ("sub", json!("not-a-uuid")),
            ("iat", json!(1.5)),
        ] {
            let mut payload = good_payload();
            payload[name] = value;
            let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
            assert_eq!(
                verify(&ring, &config(), &token, T0),
                Err(AccessTokenError::BadClaims),
                "{name}"
            );
        }
        let token = craft(&good_header(&key.kid), &json!([1, 2]), ed_signer(&key));
        assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadClaims));
    }

    #[test]
    fn expiry_uses_the_injected_clock_with_leeway() {
        let (ring, _) = ed_ring();
        let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
        let exp = T0 + TTL;
        assert!(verify(&ring, &config(), &token, exp).is_ok());
        assert!(verify(&ring, &config(), &token, exp + Duration::seconds(5)).is_ok());
        assert_eq!(
            verify(&ring, &config(), &token, exp + Duration::seconds(6)),
            Err(AccessTokenError::Expired)
        );
        assert_eq!(
            verify(&ring, &config(), &token, exp + Duration::days(365)),
            Err(AccessTokenError::Expired)
        );
        // Tokens signed "in the past" (jsonwebtoken's own clock would call this expired) are
        // judged against `now`, not the system clock.
        let long_ago = datetime!(2001-01-01 00:00 UTC);
        let (old, _) = sign(&ring, &config(), &subject(), long_ago).unwrap();
        assert!(verify(&ring, &config(), &old, long_ago + Duration::minutes(1)).is_ok());
    }

    #[test]
    fn memoised_tokens_still_expire_and_answer_to_the_config() {
        let (ring, _) = ed_ring();
        let (token, claims) = sign(&ring, &config(), &subject(), T0).unwrap();
        assert_eq!(verify(&ring, &config(), &token, T0), Ok(claims.clone()));
        assert_eq!(ring.verified.len(), 1, "a verified token is memoised");
        // The second answer comes from the memo and equals the first.
        assert_eq!(verify(&ring, &config(), &token, T0 + Duration::minutes(1)), Ok(claims));
        assert_eq!(
            verify(&ring, &config(), &token, T0 + TTL + Duration::seconds(6)),
            Err(AccessTokenError::Expired),
            "expiry is checked on every hit"
        );
        let (future, _) = sign(&ring, &config(), &subject(), T0 + Duration::seconds(5)).unwrap();
        assert!(verify(&ring, &config(), &future, T0).is_ok());
        assert_eq!(
            verify(&ring, &config(), &future, T0 - Duration::seconds(1)),
            Err(AccessTokenError::BadClaims),
            "issued-at is checked on every hit"
        );
        let other_audience = AccessTokenConfig {
            audience: "another-api".into(),
            ..config()
        };
        assert_eq!(
            verify(&ring, &other_audience, &token, T0),
            Err(AccessTokenError::BadClaims)
        );
    }

    #[test]
    fn the_memo_never_vouches_for_a_different_token() {
        let (ring, _) = ed_ring();
        let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
        verify(&ring, &config(), &token, T0).unwrap();
        let forged = with_admin_payload(&token);
        assert_eq!(
            verify(&ring, &config(), &forged, T0),
            Err(AccessTokenError::BadSignature)
        );
        // Failures are not memoised.
        assert_eq!(ring.verified.len(), 1);
        // A rotated ring (a new `KeyRing`) starts empty: the old key's tokens are judged anew.
        let (other_ring, _) = ed_ring();
        assert_eq!(
            verify(&other_ring, &config(), &token, T0),
            Err(AccessTokenError::UnknownKey)
        );
        let disabled = hs_ring().with_verified_token_capacity(0);
        let (hs_token, _) = sign(&disabled, &config(), &subject(), T0).unwrap();
        assert!(verify(&disabled, &config(), &hs_token, T0).is_ok());
        assert_eq!(disabled.verified.len(), 0);
    }

    #[test]
    fn ed25519_tokens_are_standard_jws() {
        // Signed without jsonwebtoken; jsonwebtoken (any third party) must accept them.
        let (ring, key) = ed_ring();
        let (token, claims) = sign(&ring, &config(), &subject(), T0).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some(TOKEN_TYPE));
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
        let decoding = DecodingKey::from_ed_der(&key.public_key);
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.set_audience(&["tessera-api"]);
        let decoded = jsonwebtoken::decode::<AccessClaims>(&token, &decoding, &validation).unwrap();
        assert_eq!(decoded.claims, claims);
    }

    #[test]
    fn tokens_from_the_future_are_refused() {
        let (ring, key) = ed_ring();
        let (token, _) = sign(&ring, &config(), &subject(), T0 + Duration::seconds(5)).unwrap();
        assert!(verify(&ring, &config(), &token, T0).is_ok(), "5 s of skew is tolerated");
        let (token, _) = sign(&ring, &config(), &subject(), T0 + Duration::seconds(6)).unwrap();
        assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadClaims));
        // iat after exp.
        let mut payload = good_payload();
        payload["iat"] = json!((T0 + TTL + Duration::seconds(1)).unix_timestamp());
        payload["exp"] = json!((T0 + TTL).unix_timestamp());
        let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
        assert_eq!(
            verify(&ring, &config(), &token, T0 + TTL),
            Err(AccessTokenError::BadClaims)
        );
        // Extreme values never overflow.
        let mut payload = good_payload();
        payload["exp"] = json!(i64::MAX);
        payload["iat"] = json!(i64::MAX);
        let token = craft(&good_header(&key.kid), &payload, ed_signer(&key));
        assert_eq!(verify(&ring, &config(), &token, T0), Err(AccessTokenError::BadClaims));
    }

    /// Defence in depth for a leaked key (an HS256 secret, say): whoever holds it can sign any
    /// claims, but not a token that lives longer than this server would ever mint, one issued in
    /// the future, or one whose times are negative or beyond any date.
    #[test]
    fn lifetimes_this_server_would_never_mint_are_refused() {
        let (ring, key) = ed_ring();
        let token_with = |iat: i64, exp: i64| {
            let mut payload = good_payload();
            payload["iat"] = json!(iat);
            payload["exp"] = json!(exp);
            craft(&good_header(&key.kid), &payload, ed_signer(&key))
        };
        let now = T0.unix_timestamp();
        let ttl = TTL.whole_seconds();
        let longest = ttl + LEEWAY_SECS;
        // Up to the TTL plus the leeway: accepted.
        assert!(verify(&ring, &config(), &token_with(now, now + ttl), T0).is_ok());
        assert!(verify(&ring, &config(), &token_with(now, now + longest), T0).is_ok());
        assert!(
            verify(
                &ring,
                &config(),
                &token_with(now + LEEWAY_SECS, now + LEEWAY_SECS + ttl),
                T0
            )
            .is_ok()
        );
        let refused = [
            ("one second too long", now, now + longest + 1),
            ("a year", now, now + 365 * 86_400),
            ("exp at the end of time", now, i64::MAX),
            ("exp beyond any date", now, 253_402_300_800 + 1),
            (
                "iat beyond the leeway",
                now + LEEWAY_SECS + 1,
                now + LEEWAY_SECS + 1 + ttl,
            ),
            ("iat far in the future", i64::MAX - ttl, i64::MAX),
            ("negative iat", -ttl / 2, ttl / 2),
            ("negative times", -2 * ttl, -ttl),
            ("iat at the start of time", i64::MIN, i64::MIN + ttl),
            ("iat after exp", now, now - 1),
            ("iat minimal, exp maximal", i64::MIN, i64::MAX),
        ];
        for (label, iat, exp) in refused {
            let token = token_with(iat, exp);
            assert_eq!(
                verify(&ring, &config(), &token, T0),
                Err(AccessTokenError::BadClaims),
                "{label}"
            );
            // And again, when a memo could be consulted.
            assert_eq!(
                verify(&ring, &config(), &token, T0),
                Err(AccessTokenError::BadClaims),
                "{label}, second time"
            );
        }
        assert_eq!(ring.verified.len(), 3, "only the acceptable tokens are memoised");
        // The bound follows the configured TTL: a server with a shorter one refuses what a
        // longer one minted.
        let (long, _) = sign(&ring, &config(), &subject(), T0).unwrap();
        let shorter = AccessTokenConfig {
            ttl: Duration::minutes(5),
            ..config()
        };
        assert_eq!(
            verify(&ring, &shorter, &long, T0),
            Err(AccessTokenError::BadClaims),
            "memoised or not"
        );
        let fresh_ring = ed_ring_with(&key);
        assert_eq!(
            verify(&fresh_ring, &shorter, &long, T0),
            Err(AccessTokenError::BadClaims)
        );
    }

    fn ed_ring_with(key: &StoredSigningKey) -> KeyRing {
        KeyRing::from_stored(std::slice::from_ref(key), &kek(), TTL, T0).unwrap()
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let (ring, key) = ed_ring();
        let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = with_admin_payload(&token);
        assert_eq!(
            verify(&ring, &config(), &forged, T0),
            Err(AccessTokenError::BadSignature)
        );
        // Signature from another key with the same kid.
        let impostor = generate_ed25519_key(&kek(), T0);
        let forged = craft(&good_header(&key.kid), &good_payload(), ed_signer(&impostor));
        assert_eq!(
            verify(&ring, &config(), &forged, T0),
            Err(AccessTokenError::BadSignature)
        );
        // Every flipped character of the signature.
        let signature = parts[2].as_bytes();
        for i in 0..signature.len() {
            let mut bytes = signature.to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = format!("{}.{}.{}", parts[0], parts[1], String::from_utf8(bytes).unwrap());
            assert!(verify(&ring, &config(), &tampered, T0).is_err(), "signature char {i}");
        }
        // Truncated signature.
        let short = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]);
        assert!(verify(&ring, &config(), &short, T0).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let (ring, key) = ed_ring();
        let hs = hs_ring();
        let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
        let header = token.split('.').next().unwrap().to_owned();
        let mut cases: Vec<String> = [
            "",
            ".",
            "..",
            "...",
            "a.b",
            "a.b.c",
            "a.b.c.d",
            "😀.😀.😀",
            "e30.e30.e30",
            "bnVsbA.bnVsbA.bnVsbA",
            "W10.e30.AA",
            "Bearer x.y.z",
            " . . ",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cases.push(format!("{header}..sig"));
        cases.push(format!("{header}.e30."));
        cases.push(format!(".{}", &token[header.len() + 1..]));
        cases.push(format!("{token}.extra"));
        cases.push(format!("{token}="));
        cases.push(format!("{}.{}", b64json(&json!("string header")), "e30.AA"));
        cases.push(format!("{}.{}", b64json(&good_header(&key.kid)), "!!!.AA"));
        cases.push(format!("{}.{}", b64json(&good_header(&key.kid)), "e30.!!!"));
        cases.push("A".repeat(100_000));
        cases.push(format!("{token}{}", "A".repeat(10_000)));
        for _ in 0..200 {
            let len = rand::random_range(0..300);
            let bytes: Vec<u8> = (0..len).map(|_| rand::random()).collect();
            cases.push(String::from_utf8_lossy(&bytes).into_owned());
            let text: String = (0..len).map(|_| char::from(rand::random_range(0x20u8..0x7f))).collect();
            cases.push(text);
            let b64: String = (0..len)
                .map(|_| {
                    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
                    char::from(alphabet[rand::random_range(0..alphabet.len())])
                })
                .collect();
            cases.push(b64);
        }
        for case in cases {
            assert!(verify(&ring, &config(), &case, T0).is_err(), "{case:?}");
            assert!(verify(&hs, &config(), &case, T0).is_err(), "{case:?}");
        }
    }

    #[test]
    fn rotation_keeps_retired_keys_for_ttl_plus_leeway() {
        let kek = kek();
        let old = generate_ed25519_key(&kek, T0);
        let old_ring = KeyRing::from_stored(std::slice::from_ref(&old), &kek, TTL, T0).unwrap();
        let (old_token, _) = sign(&old_ring, &config(), &subject(), T0 + Duration::hours(1)).unwrap();

        let rotated_at = T0 + Duration::hours(1);
        let new = generate_ed25519_key(&kek, rotated_at);
        let retired = StoredSigningKey {
            retired_at: Some(rotated_at),
            ..old.clone()
        };
        let stored = [retired, new.clone()];

        let ring = KeyRing::from_stored(&stored, &kek, TTL, rotated_at).unwrap();
        assert_eq!(ring.active_kid(), new.kid);
        let (new_token, _) = sign(&ring, &config(), &subject(), rotated_at).unwrap();
        assert!(new_token.contains('.'));
        assert!(verify(&ring, &config(), &old_token, rotated_at + Duration::minutes(5)).is_ok());
        assert!(verify(&ring, &config(), &new_token, rotated_at).is_ok());
        let kids: Vec<String> = ring.public_jwks().into_iter().map(|jwk| jwk.kid).collect();
        let mut expected = vec![old.kid.clone(), new.kid.clone()];
        expected.sort();
        assert_eq!(kids, expected, "JWKS lists both, sorted by kid");

        // Still there one second before retired_at + ttl + leeway, gone at it.
        let edge = rotated_at + TTL + Duration::seconds(LEEWAY_SECS);
        let ring = KeyRing::from_stored(&stored, &kek, TTL, edge - Duration::seconds(1)).unwrap();
        assert_eq!(ring.public_jwks().len(), 2);
        let ring = KeyRing::from_stored(&stored, &kek, TTL, edge).unwrap();
        assert_eq!(ring.public_jwks().len(), 1);
        assert_eq!(
            verify(&ring, &config(), &old_token, edge),
            Err(AccessTokenError::UnknownKey)
        );
        assert!(verify(&ring, &config(), &new_token, rotated_at + Duration::minutes(1)).is_ok());
    }

    #[test]
    fn newest_unretired_key_signs() {
        let kek = kek();
        let a = generate_ed25519_key(&kek, T0);
        let b = generate_ed25519_key(&kek, T0 + Duration::seconds(1));
        let ring = KeyRing::from_stored(&[b.clone(), a.clone()], &kek, TTL, T0).unwrap();
        assert_eq!(ring.active_kid(), b.kid);
        // The older unretired key still verifies but does not sign.
        assert!(ring.keys.get(&a.kid).unwrap().signer.is_none());
        assert_eq!(ring.public_jwks().len(), 2);
    }

    #[test]
    fn ring_needs_an_active_key() {
        let kek = kek();
        assert_eq!(
            KeyRing::from_stored(&[], &kek, TTL, T0).unwrap_err(),
            KeyRingError::NoActiveKey
        );
        let retired = StoredSigningKey {
            retired_at: Some(T0),
            ..generate_ed25519_key(&kek, T0)
        };
        assert_eq!(
            KeyRing::from_stored(&[retired], &kek, TTL, T0).unwrap_err(),
            KeyRingError::NoActiveKey
        );
    }

    #[test]
    fn sealed_keys_need_the_right_master_key_and_row() {
        let key = generate_ed25519_key(&kek(), T0);
        let wrong = MasterKey::from_bytes([6; 32]).key_encryption_key();
        assert_eq!(
            KeyRing::from_stored(std::slice::from_ref(&key), &wrong, TTL, T0).unwrap_err(),
            KeyRingError::Seal(SealError::Open)
        );
        // A sealed blob moved to another row (another kid) does not open.
        let other = generate_ed25519_key(&kek(), T0);
        let moved = StoredSigningKey {
            sealed_private_key: key.sealed_private_key.clone(),
            ..other
        };
        assert_eq!(
            KeyRing::from_stored(&[moved], &kek(), TTL, T0).unwrap_err(),
            KeyRingError::Seal(SealError::Open)
        );
    }

    #[test]
    fn corrupt_keys_are_reported_by_kid() {
        let kek = kek();
        let key = generate_ed25519_key(&kek, T0);
        let corrupt = |key: StoredSigningKey| {
            let kid = key.kid.clone();
            assert_eq!(
                KeyRing::from_stored(&[key], &kek, TTL, T0).unwrap_err(),
                KeyRingError::Corrupt(kid)
            );
        };
        // Public half from another key.
        let other = generate_ed25519_key(&kek, T0);
        corrupt(StoredSigningKey {
            public_key: other.public_key.clone(),
            ..key.clone()
        });
        // Truncated public key (jsonwebtoken would panic slicing it).
        corrupt(StoredSigningKey {
            public_key: key.public_key[..31].to_vec(),
            ..key.clone()
        });
        corrupt(StoredSigningKey {
            public_key: Vec::new(),
            ..key.clone()
        });
        // A sealed seed of the wrong length.
        corrupt(StoredSigningKey {
            sealed_private_key: kek.seal(&[1; 31], key.kid.as_bytes()),
            ..key.clone()
        });
        // Not an Ed25519 row.
        corrupt(StoredSigningKey {
            algorithm: SigningAlgorithm::HS256,
            ..key.clone()
        });
        // The same kid twice.
        let twin = StoredSigningKey {
            retired_at: Some(T0),
            ..key.clone()
        };
        assert_eq!(
            KeyRing::from_stored(&[key.clone(), twin], &kek, TTL, T0).unwrap_err(),
            KeyRingError::Corrupt(key.kid.clone())
        );
    }

    #[test]
    fn generated_keys_are_well_formed() {
        let kek = kek();
        let key = generate_ed25519_key(&kek, T0);
        assert_eq!(key.algorithm, SigningAlgorithm::EdDSA);
        assert_eq!(key.public_key.len(), 32);
        assert_eq!(key.created_at, T0);
        assert_eq!(key.retired_at, None);
        assert_eq!(URL_SAFE_NO_PAD.decode(&key.kid).unwrap().len(), 16);
        let seed = kek.open(&key.sealed_private_key, key.kid.as_bytes()).unwrap();
        assert_eq!(seed.len(), 32);
        assert_ne!(generate_ed25519_key(&kek, T0).kid, key.kid);
        let debug = format!("{key:?}");
        assert!(debug.contains(&key.kid) && !debug.contains("sealed"), "{debug}");
    }

    #[test]
    fn jwks_has_only_public_parts() {
        let (ring, key) = ed_ring();
        let jwks = ring.public_jwks();
        assert_eq!(jwks.len(), 1);
        let jwk = serde_json::to_value(&jwks[0]).unwrap();
        assert_eq!(
            jwk,
            json!({
                "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&key.public_key),
                "kid": key.kid, "alg": "EdDSA", "use": "sig",
            })
        );
        assert!(jwk.get("d").is_none());
        // The published key verifies our tokens (what a third party would do).
        let (token, _) = sign(&ring, &config(), &subject(), T0).unwrap();
        let decoding = DecodingKey::from_ed_components(&jwks[0].x).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.set_audience(&["tessera-api"]);
        assert!(jsonwebtoken::decode::<AccessClaims>(&token, &decoding, &validation).is_ok());
    }

    #[test]
    fn ring_debug_lists_kids_only() {
        let (ring, key) = ed_ring();
        let debug = format!("{ring:?}");
        assert!(debug.contains(&key.kid));
        assert!(!debug.contains(&URL_SAFE_NO_PAD.encode(&key.public_key)));
    }
}
