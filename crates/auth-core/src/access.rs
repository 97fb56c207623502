//! Access tokens: short-lived JWTs (RFC 9068 profile) verified without any I/O.
//!
//! Signing keys are Ed25519 by default (private halves sealed under the master key in the
//! database) or one HS256 secret for single-service deployments. Verification is deliberately
//! stricter than the JWT library's defaults: it parses the header itself, pins the algorithm to
//! the key named by `kid`, requires `typ: at+jwt`, refuses `crit`/`jku`/`jwk`/`x5u`/`x5c`, and
//! checks times against the injected clock with 5 s of leeway.
//!
//! By concept: [`claims`] (what a token says), [`keys`] (the key ring that signs and verifies),
//! [`verify`] (minting and the verification rules). Everything is re-exported here.

pub mod claims;
pub mod keys;
pub mod verify;

pub use claims::{AccessClaims, AccessTokenError, Authentication, TokenSubject};
pub use keys::{KeyRing, KeyRingError, PublicJwk, SigningAlgorithm, StoredSigningKey, generate_ed25519_key};
pub use verify::{AccessTokenConfig, sign, verify, verify_uncached};

/// Accepted clock skew between instances, in seconds.
pub const LEEWAY_SECS: i64 = 5;
pub const TOKEN_TYPE: &str = "at+jwt";

#[cfg(test)]
mod tests;
