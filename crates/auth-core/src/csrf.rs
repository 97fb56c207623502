//! Double-submit CSRF tokens bound to the session: `base64url(nonce(16) ‖ HMAC(K_csrf, sid ‖ nonce)[..16])`.
//!
//! The SPA reads the token from the `__Host-csrf` cookie and echoes it in `X-CSRF-Token`. Binding
//! to the session id means a token planted by an attacker (cookie tossing from a sibling domain)
//! is useless for another session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::error::CsrfFailure;
use crate::secret::{CsrfKey, hmac_sha256};

const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// 32 bytes in base64url without padding.
const TOKEN_CHARS: usize = 43;

pub fn issue(key: &CsrfKey, session_id: Uuid) -> String {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut raw = Vec::with_capacity(NONCE_LEN + TAG_LEN);
    raw.extend_from_slice(&nonce);
    raw.extend(
        tag(key, session_id, &nonce)
            .finalize()
            .into_bytes()
            .iter()
            .take(TAG_LEN),
    );
    URL_SAFE_NO_PAD.encode(raw)
}

/// Constant-time check that `token` was issued for `session_id`. Any malformed input is `false`.
pub fn verify(key: &CsrfKey, session_id: Uuid, token: &str) -> bool {
    if token.len() != TOKEN_CHARS {
        return false;
    }
    let Ok(raw) = URL_SAFE_NO_PAD.decode(token) else {
        return false;
    };
    let Some((nonce, expected)) = raw.split_at_checked(NONCE_LEN) else {
        return false;
    };
    expected.len() == TAG_LEN && tag(key, session_id, nonce).verify_truncated_left(expected).is_ok()
}

/// The CSRF values a cookie-carrying request presented: the `X-CSRF-Token` header and the CSRF
/// cookie, each as sent (absent when not sent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresentedCsrf {
    pub header: Option<String>,
    pub cookie: Option<String>,
}

/// The double-submit check bound to the session: the header must equal the cookie (compared in
/// constant time), and the token must be an HMAC over this session id (so a token planted from a
/// sibling origin is useless).
pub fn check_double_submit(key: &CsrfKey, session_id: Uuid, presented: &PresentedCsrf) -> Result<(), CsrfFailure> {
    let header = presented.header.as_deref().ok_or(CsrfFailure::MissingHeader)?;
    let cookie = presented.cookie.as_deref().ok_or(CsrfFailure::MissingCookie)?;
    if !bool::from(header.as_bytes().ct_eq(cookie.as_bytes())) || !verify(key, session_id, header) {
        return Err(CsrfFailure::Mismatch);
    }
    Ok(())
}

fn tag(key: &CsrfKey, session_id: Uuid, nonce: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = hmac_sha256(&key.0);
    mac.update(session_id.as_bytes());
    mac.update(nonce);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::MasterKey;

    fn key() -> CsrfKey {
        MasterKey::from_bytes([3; 32]).csrf_key()
    }

    #[test]
    fn issued_tokens_verify_for_their_session() {
        let key = key();
        let sid = Uuid::new_v4();
        let token = issue(&key, sid);
        assert_eq!(token.len(), TOKEN_CHARS);
        assert!(verify(&key, sid, &token));
        // Fresh nonce each time; both stay valid.
        let again = issue(&key, sid);
        assert_ne!(token, again);
        assert!(verify(&key, sid, &again));
    }

    #[test]
    fn tokens_are_bound_to_the_session_and_key() {
        let key = key();
        let sid = Uuid::new_v4();
        let token = issue(&key, sid);
        assert!(!verify(&key, Uuid::new_v4(), &token));
        assert!(!verify(&MasterKey::from_bytes([4; 32]).csrf_key(), sid, &token));
    }

    #[test]
    fn tampered_tokens_fail() {
        let key = key();
        let sid = Uuid::new_v4();
        let mut raw = URL_SAFE_NO_PAD.decode(issue(&key, sid)).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 0x01;
            assert!(!verify(&key, sid, &URL_SAFE_NO_PAD.encode(&raw)), "byte {i}");
            raw[i] ^= 0x01;
        }
        assert!(verify(&key, sid, &URL_SAFE_NO_PAD.encode(&raw)));
    }

    #[test]
    fn garbage_is_false_never_a_panic() {
        let key = key();
        let sid = Uuid::new_v4();
        let good = issue(&key, sid);
        let cases = [
            String::new(),
            "x".into(),
            good[..42].to_owned(),
            format!("{good}A"),
            format!("{good}="),
            format!("{}+", &good[..42]),
            format!("{}é", &good[..41]),
            "A".repeat(43),
            "=".repeat(43),
            "A".repeat(100_000),
            URL_SAFE_NO_PAD.encode([0u8; 16]),
            URL_SAFE_NO_PAD.encode([0u8; 48]),
        ];
        for case in cases {
            assert!(!verify(&key, sid, &case), "{case:?}");
        }
        for len in 0..100 {
            let text: String = (0..len).map(|_| char::from(rand::random_range(0x20u8..0x7f))).collect();
            assert!(!verify(&key, sid, &text));
        }
    }
}
