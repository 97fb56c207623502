//! Recovery codes: ten single-use codes that stand in for the second factor when the device is
//! lost.
//!
//! Each code is 16 characters of Crockford's base32 (80 random bits), shown as
//! `xxxx-xxxx-xxxx-xxxx`. Input is forgiving: case, dashes and spaces are ignored, and the
//! letters people confuse with digits (`o`, `i`, `l`) read as `0`, `1`, `1`, as Crockford's
//! alphabet intends. Only a SHA-256 digest is stored, bound to the user (so a row moved to
//! another account matches nothing); 80 bits make a fast hash safe here. A set is replaced as a
//! whole: regenerating kills every code of the old set.
//!
//! Redeeming a code must be one conditional write in the store (`UPDATE … SET used_at = now
//! WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`), so two requests racing with one
//! code cannot both succeed; [`RecoveryCodes::redeem`] is the same rule for a set held in memory.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

/// Codes in a set.
pub const CODES_PER_SET: usize = 10;
/// Characters of a code without dashes (16 × 5 = 80 bits).
pub const CODE_CHARS: usize = 16;
/// Crockford's base32 alphabet, lower case: no `i`, `l`, `o`, `u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Longest input looked at (a code with generous separators).
const MAX_INPUT_LEN: usize = 64;
const HASH_LABEL: &[u8] = b"tessera/recovery-code/v1:";

/// The SHA-256 digest of a normalised code, bound to its user. This is what the store keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecoveryCodeHash(pub [u8; 32]);

impl std::fmt::Debug for RecoveryCodeHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCodeHash(..)")
    }
}

/// A stored code: its digest and when it was used, if it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecoveryCode {
    pub hash: RecoveryCodeHash,
    pub used_at: Option<OffsetDateTime>,
}

/// A freshly generated set: the plaintext (shown once, never stored) and what to store.
#[derive(Clone)]
pub struct GeneratedCodes {
    /// Grouped for reading: `xxxx-xxxx-xxxx-xxxx`.
    pub plaintext: Vec<String>,
    pub stored: Vec<RecoveryCodeHash>,
}

impl std::fmt::Debug for GeneratedCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeneratedCodes({} codes, <redacted>)", self.stored.len())
    }
}

/// Why a recovery code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryRejection {
    #[error("not a recovery code")]
    Malformed,
    /// Unknown, from an old set, or already used: deliberately one answer.
    #[error("the recovery code is wrong or used")]
    Wrong,
}

/// Generates a new set of [`CODES_PER_SET`] codes for `user_id`.
pub fn generate(user_id: Uuid) -> GeneratedCodes {
    let mut rng = rand::rng();
    let mut plaintext = Vec::with_capacity(CODES_PER_SET);
    let mut stored = Vec::with_capacity(CODES_PER_SET);
    while plaintext.len() < CODES_PER_SET {
        let mut raw = [0u8; CODE_CHARS];
        for slot in &mut raw {
            let index: usize = rng.random_range(0..ALPHABET.len());
            *slot = ALPHABET.get(index).copied().unwrap_or(b'0');
        }
        let hash = digest(user_id, &raw);
        // 80 bits: a repeat is practically impossible, but a set must hold ten distinct codes.
        if stored.contains(&hash) {
            continue;
        }
        stored.push(hash);
        plaintext.push(group(&raw));
    }
    GeneratedCodes { plaintext, stored }
}

/// `xxxx-xxxx-xxxx-xxxx`.
fn group(raw: &[u8; CODE_CHARS]) -> String {
    let mut text = String::with_capacity(CODE_CHARS + 3);
    for (i, b) in raw.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            text.push('-');
        }
        text.push(char::from(*b));
    }
    text
}

/// The normalised characters of `input`: case, dashes and whitespace ignored, `o`→`0`,
/// `i`/`l`→`1`. `None` unless exactly [`CODE_CHARS`] characters of the alphabet remain.
fn normalise(input: &str) -> Option<[u8; CODE_CHARS]> {
    if input.len() > MAX_INPUT_LEN {
        return None;
    }
    let mut out = [0u8; CODE_CHARS];
    let mut n = 0;
    for b in input.bytes() {
        let c = match b.to_ascii_lowercase() {
            b'-' | b' ' | b'\t' => continue,
            b'o' => b'0',
            b'i' | b'l' => b'1',
            c if ALPHABET.contains(&c) => c,
            _ => return None,
        };
        *out.get_mut(n)? = c;
        n += 1;
    }
    (n == CODE_CHARS).then_some(out)
}

fn digest(user_id: Uuid, normalised: &[u8; CODE_CHARS]) -> RecoveryCodeHash {
    let mut hasher = Sha256::new();
    hasher.update(HASH_LABEL);
    hasher.update(user_id.as_bytes());
    hasher.update(normalised);
    RecoveryCodeHash(hasher.finalize().into())
}

/// The digest to look up for what the user typed, or `Malformed`.
pub fn hash_input(user_id: Uuid, input: &str) -> Result<RecoveryCodeHash, RecoveryRejection> {
    normalise(input)
        .map(|normalised| digest(user_id, &normalised))
        .ok_or(RecoveryRejection::Malformed)
}

/// A user's current set, as loaded from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryCodes {
    pub codes: Vec<StoredRecoveryCode>,
}

impl RecoveryCodes {
    pub fn from_generated(generated: &GeneratedCodes) -> RecoveryCodes {
        RecoveryCodes {
            codes: generated
                .stored
                .iter()
                .map(|hash| StoredRecoveryCode {
                    hash: *hash,
                    used_at: None,
                })
                .collect(),
        }
    }

    /// Codes not used yet (GET /api/me/mfa's `recovery_codes_left`).
    pub fn remaining(&self) -> usize {
        self.codes.iter().filter(|code| code.used_at.is_none()).count()
    }

    /// Marks the code matching `input` used at `now` and returns its index. Compares against
    /// every code in constant time, used or not, so timing tells nothing about which matched.
    pub fn redeem(&mut self, user_id: Uuid, input: &str, now: OffsetDateTime) -> Result<usize, RecoveryRejection> {
        let presented = hash_input(user_id, input)?;
        let mut found = None;
        for (i, code) in self.codes.iter().enumerate() {
            let matches = code.hash.0.ct_eq(&presented.0);
            if bool::from(matches) && code.used_at.is_none() {
                found = Some(i);
            }
        }
        let index = found.ok_or(RecoveryRejection::Wrong)?;
        let code = self.codes.get_mut(index).ok_or(RecoveryRejection::Wrong)?;
        code.used_at = Some(now);
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    #[test]
    fn a_set_is_ten_distinct_grouped_codes_of_80_bits() {
        let user = Uuid::now_v7();
        let set = generate(user);
        assert_eq!(set.plaintext.len(), CODES_PER_SET);
        assert_eq!(set.stored.len(), CODES_PER_SET);
        assert_eq!(set.plaintext.iter().collect::<HashSet<_>>().len(), CODES_PER_SET);
        for (code, hash) in set.plaintext.iter().zip(&set.stored) {
            assert_eq!(code.len(), 19, "{code}");
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 4);
            assert!(
                groups
                    .iter()
                    .all(|g| g.len() == 4 && g.bytes().all(|b| ALPHABET.contains(&b)))
            );
            // What is stored is the digest of the code, not the code.
            assert_eq!(hash_input(user, code).unwrap(), *hash);
            assert_ne!(&hash.0[..16], code.replace('-', "").as_bytes());
        }
        // 32 symbols × 16 characters = 80 bits.
        assert_eq!(ALPHABET.len().ilog2() as usize * CODE_CHARS, 80);
        assert_eq!(ALPHABET.iter().collect::<HashSet<_>>().len(), 32);
        // Fresh sets share nothing.
        let other = generate(user);
        assert!(other.plaintext.iter().all(|code| !set.plaintext.contains(code)));
        assert!(format!("{set:?}").contains("redacted") && !format!("{set:?}").contains(&set.plaintext[0]));
    }

    #[test]
    fn a_code_works_once() {
        let user = Uuid::now_v7();
        let set = generate(user);
        let mut codes = RecoveryCodes::from_generated(&set);
        assert_eq!(codes.remaining(), 10);
        let index = codes.redeem(user, &set.plaintext[3], NOW).unwrap();
        assert_eq!(index, 3);
        assert_eq!(codes.codes[3].used_at, Some(NOW));
        assert_eq!(codes.remaining(), 9);
        assert_eq!(
            codes.redeem(user, &set.plaintext[3], NOW),
            Err(RecoveryRejection::Wrong)
        );
        assert_eq!(codes.remaining(), 9);
        // Every other code still works, each once.
        for (i, code) in set.plaintext.iter().enumerate().filter(|(i, _)| *i != 3) {
            assert_eq!(codes.redeem(user, code, NOW), Ok(i));
        }
        assert_eq!(codes.remaining(), 0);
        for code in &set.plaintext {
            assert_eq!(codes.redeem(user, code, NOW), Err(RecoveryRejection::Wrong));
        }
    }

    #[test]
    fn input_is_normalised() {
        let user = Uuid::now_v7();
        let set = generate(user);
        let code = &set.plaintext[0];
        let bare = code.replace('-', "");
        for variant in [
            code.clone(),
            code.to_uppercase(),
            bare.clone(),
            format!("  {}  ", code.replace('-', " ")),
            bare.chars()
                .enumerate()
                .map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c })
                .collect(),
            code.replace('-', "--"),
        ] {
            assert_eq!(hash_input(user, &variant), Ok(set.stored[0]), "{variant:?}");
        }
        // Crockford's lookalikes read as the digits they resemble.
        assert_eq!(
            hash_input(user, "0000-1111-0000-1111"),
            hash_input(user, "oOoO-iIlL-0000-1111")
        );
    }

    #[test]
    fn malformed_input_is_refused_and_never_matches() {
        let user = Uuid::now_v7();
        let mut codes = RecoveryCodes::from_generated(&generate(user));
        for bad in [
            "",
            "abcd-efgh-jkmn-pqr",   // 15 characters
            "abcd-efgh-jkmn-pqrst", // 17
            "abcd-efgh-jkmn-pqru",  // u is not in the alphabet
            "abcd_efgh_jkmn_pqrs",  // underscore is not a separator
            "ábcd-efgh-jkmn-pqrs",
            &"a".repeat(10_000),
            "123456",
        ] {
            assert_eq!(hash_input(user, bad), Err(RecoveryRejection::Malformed), "{bad:?}");
            assert_eq!(
                codes.redeem(user, bad, NOW),
                Err(RecoveryRejection::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(codes.remaining(), 10);
    }

    #[test]
    fn codes_are_bound_to_their_user_and_set() {
        let alice = Uuid::now_v7();
        let bob = Uuid::now_v7();
        let set = generate(alice);
        let mut bobs = RecoveryCodes::from_generated(&set);
        // Alice's codes (digested for Alice) do not match when checked as Bob's.
        assert_eq!(bobs.redeem(bob, &set.plaintext[0], NOW), Err(RecoveryRejection::Wrong));
        assert_ne!(hash_input(alice, &set.plaintext[0]), hash_input(bob, &set.plaintext[0]));
        // Regenerating replaces the set: old codes are dead.
        let mut codes = RecoveryCodes::from_generated(&generate(alice));
        assert_eq!(
            codes.redeem(alice, &set.plaintext[0], NOW),
            Err(RecoveryRejection::Wrong)
        );
        assert_eq!(codes.remaining(), 10);
    }

    #[test]
    fn digests_are_pinned() {
        // The stored format: SHA-256(label ‖ user id ‖ normalised code). Changing it would kill
        // every stored code.
        let user = Uuid::from_u128(1);
        let mut hasher = Sha256::new();
        hasher.update(b"tessera/recovery-code/v1:");
        hasher.update(user.as_bytes());
        hasher.update(b"0123456789abcdef");
        let expected: [u8; 32] = hasher.finalize().into();
        assert_eq!(hash_input(user, "0123-4567-89AB-CDEF").unwrap().0, expected);
    }
}
