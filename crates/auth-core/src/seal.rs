//! The one sealing rule (XChaCha20-Poly1305, random nonce first) shared by signing keys, TOTP
//! secrets (`secret`) and queued mail (`mail`); a leaf, so neither imports the other for it.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const NONCE_LEN: usize = 24;

/// `nonce(24) ‖ ciphertext+tag` (XChaCha20-Poly1305) under `key` with `aad` bound: how signing
/// keys, TOTP secrets and queued mail are sealed.
pub(crate) fn seal_xchacha(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut sealed = nonce.to_vec();
    // The only failure is a plaintext beyond XChaCha20's 256 GiB limit, which no caller can hold
    // in memory. Were it to happen, the nonce alone is left, which every `open` refuses (no tag):
    // a blob that never opens rather than a panic in the domain.
    if let Ok(ciphertext) =
        XChaCha20Poly1305::new(key.into()).encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad })
    {
        sealed.extend_from_slice(&ciphertext);
    }
    sealed
}
