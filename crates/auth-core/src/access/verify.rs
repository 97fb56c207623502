//! Minting and verifying access tokens against a key ring: the header rules, the algorithm
//! pinned to the key, the claim and time rules, and the memo of verified tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::claims::{AccessClaims, AccessTokenError, TokenSubject};
use super::keys::{KeyRing, KeyRingError, RingKey, TokenSigner};
use super::{LEEWAY_SECS, TOKEN_TYPE};
use crate::verified_tokens::VerifiedTokens;

/// Header parameters that would let a token choose its own key or demand extensions we do not
/// implement. A token carrying any of them is refused.
const FORBIDDEN_HEADERS: [&str; 5] = ["crit", "jku", "jwk", "x5u", "x5c"];
/// Far above any token we mint (~1 KiB); bounds the work spent on garbage.
pub(super) const MAX_TOKEN_LEN: usize = 8 * 1024;

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
        email_verified: subject.email_verified,
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
