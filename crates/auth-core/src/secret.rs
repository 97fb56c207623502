//! The master key and the purpose-bound keys derived from it (HKDF-SHA256).
//!
//! One 32-byte master key per deployment, shared by every instance. Each use gets its own derived
//! key (distinct HKDF `info` labels), so a weakness in one use never exposes another.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const NONCE_LEN: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterKeyError {
    #[error("master key must be 64 hexadecimal characters (32 bytes)")]
    BadFormat,
}

/// The deployment's root secret. `Debug` is redacted; there is no `Display`.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }

    /// 64 hex characters, surrounding whitespace ignored (files end with a newline).
    pub fn from_hex(text: &str) -> Result<MasterKey, MasterKeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| MasterKeyError::BadFormat)?;
        Ok(MasterKey(bytes))
    }

    pub fn generate() -> MasterKey {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    /// Only for writing the generated key file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn refresh_keys(&self) -> RefreshKeys {
        RefreshKeys {
            next: self.derive(b"tessera/refresh-next/v1"),
            tag: self.derive(b"tessera/refresh-tag/v1"),
        }
    }

    pub fn csrf_key(&self) -> CsrfKey {
        CsrfKey(self.derive(b"tessera/csrf/v1"))
    }

    pub fn key_encryption_key(&self) -> KeyEncryptionKey {
        KeyEncryptionKey(self.derive(b"tessera/signing-key-encryption/v1"))
    }

    /// Seals queued mail (which may carry a live token until sent) at rest.
    pub fn mail_sealing_key(&self) -> crate::mail::MailSealingKey {
        crate::mail::MailSealingKey(self.derive(b"tessera/mail-queue/v1"))
    }

    /// Seals users' TOTP secrets at rest: a key of its own, so a sealed TOTP secret never opens
    /// as a signing key (or the reverse) even before the associated data is checked.
    pub fn totp_encryption_key(&self) -> KeyEncryptionKey {
        KeyEncryptionKey(self.derive(b"tessera/totp-secret-encryption/v1"))
    }

    /// HKDF-SHA256 (no salt: the master key is already uniformly random) expanded to 32 bytes
    /// under `label`. The labels are part of the stored-data format: changing one invalidates
    /// every refresh token, CSRF token or sealed signing key derived from it.
    ///
    /// Written out (RFC 5869 for one block: `PRK = HMAC(0^32, master)`, `OKM = HMAC(PRK, label ‖
    /// 0x01)`) because a 32-byte output always fits in one block, where the hkdf crate's `expand`
    /// would leave an error case that cannot occur; a test pins it to that crate's output.
    fn derive(&self, label: &[u8]) -> [u8; 32] {
        let prk: [u8; 32] = hmac_sha256(&[0; 32])
            .chain_update(self.0)
            .finalize()
            .into_bytes()
            .into();
        hmac_sha256(&prk)
            .chain_update(label)
            .chain_update([1])
            .finalize()
            .into_bytes()
            .into()
    }
}

/// `K_next` (derives successors) and `K_tag` (authenticates tokens).
#[derive(Clone)]
pub struct RefreshKeys {
    pub(crate) next: [u8; 32],
    pub(crate) tag: [u8; 32],
}

impl fmt::Debug for RefreshKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshKeys(<redacted>)")
    }
}

#[derive(Clone)]
pub struct CsrfKey(pub(crate) [u8; 32]);

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

/// Seals signing keys' private halves at rest (XChaCha20-Poly1305).
#[derive(Clone)]
pub struct KeyEncryptionKey(pub(crate) [u8; 32]);

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey(<redacted>)")
    }
}

/// HMAC-SHA256 keyed with a 32-byte derived key.
pub(crate) fn hmac_sha256(key: &[u8; 32]) -> Hmac<Sha256> {
    // HMAC zero-pads a key shorter than SHA-256's 64-byte block; padding it here gives the same
    // MAC through the constructor that takes exactly one block and cannot fail.
    let mut block = [0u8; 64];
    for (padded, byte) in block.iter_mut().zip(key) {
        *padded = *byte;
    }
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed key could not be opened (wrong master key or corrupted data)")]
    Open,
}

impl KeyEncryptionKey {
    /// `nonce(24) ‖ ciphertext+tag`; `context` (e.g. the kid) is bound as associated data so a
    /// sealed blob cannot be moved to another key's row.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        crate::seal::seal_xchacha(&self.0, plaintext, context)
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN).ok_or(SealError::Open)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use hkdf::Hkdf;

    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn hex_round_trip_ignores_surrounding_whitespace() {
        let key = MasterKey::from_hex(&format!("  {HEX}\n")).unwrap();
        assert_eq!(key.to_hex(), HEX);
        let upper = MasterKey::from_hex(&HEX.to_uppercase()).unwrap();
        assert_eq!(upper.to_hex(), HEX);
    }

    #[test]
    fn bad_hex_is_refused() {
        for text in [
            "",
            "00",
            &HEX[..62],
            &format!("{HEX}00"),
            &HEX.replace('0', "g"),
            &format!("{} {}", &HEX[..32], &HEX[32..]),
        ] {
            assert_eq!(
                MasterKey::from_hex(text).unwrap_err(),
                MasterKeyError::BadFormat,
                "{text:?}"
            );
        }
        // Multi-byte characters must not confuse the parser.
        assert!(MasterKey::from_hex(&"é".repeat(32)).is_err());
    }

    #[test]
    fn generated_keys_differ_and_round_trip() {
        let a = MasterKey::generate();
        let b = MasterKey::generate();
        assert_ne!(a.to_hex(), b.to_hex());
        assert_eq!(MasterKey::from_hex(&a.to_hex()).unwrap().to_hex(), a.to_hex());
    }

    #[test]
    fn debug_output_is_redacted() {
        let key = MasterKey::from_hex(HEX).unwrap();
        for text in [
            format!("{key:?}"),
            format!("{:?}", key.refresh_keys()),
            format!("{:?}", key.csrf_key()),
            format!("{:?}", key.key_encryption_key()),
        ] {
            assert!(text.contains("redacted"), "{text}");
            assert!(!text.contains("0001020304"), "{text}");
        }
    }

    #[test]
    fn derived_keys_are_stable_and_distinct() {
        let key = MasterKey::from_hex(HEX).unwrap();
        let refresh = key.refresh_keys();
        let all = [
            refresh.next,
            refresh.tag,
            key.csrf_key().0,
            key.key_encryption_key().0,
            key.mail_sealing_key().0,
            key.totp_encryption_key().0,
            key.0,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in all.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
        // Deterministic: every instance sharing the master key derives the same keys.
        let again = MasterKey::from_hex(HEX).unwrap();
        assert_eq!(again.refresh_keys().next, refresh.next);
        assert_eq!(again.csrf_key().0, key.csrf_key().0);
        // Pinned: a change of label or KDF would silently invalidate stored data.
        let expected = Hkdf::<Sha256>::new(None, &key.0);
        let mut okm = [0u8; 32];
        expected.expand(b"tessera/csrf/v1", &mut okm).unwrap();
        assert_eq!(key.csrf_key().0, okm);
    }

    #[test]
    fn seal_open_round_trip() {
        let kek = MasterKey::generate().key_encryption_key();
        let sealed = kek.seal(b"private seed", b"kid-1");
        assert_eq!(sealed.len(), NONCE_LEN + b"private seed".len() + 16);
        assert_eq!(kek.open(&sealed, b"kid-1").unwrap(), b"private seed");
        // Random nonce: sealing twice gives different blobs.
        assert_ne!(kek.seal(b"private seed", b"kid-1"), sealed);
    }

    #[test]
    fn open_refuses_wrong_key_context_or_tampering() {
        let kek = MasterKey::generate().key_encryption_key();
        let other = MasterKey::generate().key_encryption_key();
        let sealed = kek.seal(b"private seed", b"kid-1");
        assert_eq!(other.open(&sealed, b"kid-1"), Err(SealError::Open));
        assert_eq!(kek.open(&sealed, b"kid-2"), Err(SealError::Open));
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert_eq!(kek.open(&tampered, b"kid-1"), Err(SealError::Open), "byte {i}");
        }
        for len in 0..sealed.len() {
            assert_eq!(kek.open(&sealed[..len], b"kid-1"), Err(SealError::Open), "length {len}");
        }
    }
}
