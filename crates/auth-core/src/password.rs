//! argon2id password hashing (PHC strings), parameter upgrade, equal-time dummy verification and
//! the password policy.
//!
//! These functions are CPU-bound (~tens of ms). Callers on an async runtime must run them on a
//! bounded blocking pool; see the `PasswordHashing` port.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher as _, Version};
use rand::RngCore;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's recommendation: m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Memory for argon2 verifications, reusable from one to the next (see
/// [`PasswordHasher::verify_in`]). Empty until first used.
#[derive(Default)]
pub struct WorkArea {
    blocks: Vec<Block>,
}

impl fmt::Debug for WorkArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkArea").field("blocks", &self.blocks.len()).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters")]
    Params,
    #[error("password hashing failed")]
    Hash,
    /// The stored hash is not a PHC string we can read. Treated as a mismatch by callers.
    #[error("stored password hash is unreadable")]
    BadStoredHash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Correct password. `needs_rehash` when the stored hash used other parameters or algorithm.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
}

pub struct PasswordHasher {
    params: Argon2Params,
    /// A real hash of a random password, verified for unknown users so that "no such user" costs
    /// the same time as "wrong password". Made on first use or by [`PasswordHasher::prepare`]
    /// (the api calls it in the background at start-up: a hash is ~25 ms of start-up otherwise).
    dummy_hash: OnceLock<String>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    pub fn new(params: Argon2Params) -> Result<PasswordHasher, PasswordError> {
        let hasher = PasswordHasher {
            params,
            dummy_hash: OnceLock::new(),
        };
        // A bad configuration fails here, at start-up.
        hasher.argon2()?;
        Ok(hasher)
    }

    /// Makes the dummy hash now rather than on the first unknown-user login.
    pub fn prepare(&self) {
        self.dummy_hash();
    }

    fn dummy_hash(&self) -> &str {
        self.dummy_hash.get_or_init(|| {
            let mut random = [0u8; 32];
            rand::rng().fill_bytes(&mut random);
            // Cannot fail with parameters that `new` accepted; were it to, the empty string is an
            // unreadable hash and the dummy verification a (fast) mismatch.
            self.hash(&hex::encode(random)).unwrap_or_default()
        })
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        let hash = self
            .argon2()?
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map_err(|_| PasswordError::Hash)?;
        Ok(hash.to_string())
    }

    pub fn verify(&self, password: &str, phc: &str) -> Result<Verification, PasswordError> {
        self.verify_in(password, phc, &mut WorkArea::default())
    }

    /// [`verify`](Self::verify) with argon2's memory taken from `area`, which grows to the size
    /// the stored hash needs and can be kept for the next verification: a fresh 19 MiB area is
    /// 4,864 page faults (and as many zeroed pages) per login, a reused one none.
    pub fn verify_in(&self, password: &str, phc: &str, area: &mut WorkArea) -> Result<Verification, PasswordError> {
        let stored = PasswordHash::new(phc).map_err(|_| PasswordError::BadStoredHash)?;
        let stored_params = Params::try_from(&stored).map_err(|_| PasswordError::BadStoredHash)?;
        let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
            return Err(PasswordError::BadStoredHash);
        };
        // Verification uses the algorithm, version and parameters written in the stored hash.
        let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(|_| PasswordError::BadStoredHash)?;
        let version = stored
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|_| PasswordError::BadStoredHash)?
            .unwrap_or_default();
        let blocks = stored_params.block_count();
        if area.blocks.len() < blocks {
            area.blocks.resize(blocks, Block::default());
        }
        let mut computed = vec![0u8; expected.len()];
        // Every block is written before it is read within one run, so what a previous run left
        // in the area does not matter.
        Argon2::new(algorithm, version, stored_params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut computed,
                area.blocks.get_mut(..blocks).ok_or(PasswordError::Hash)?,
            )
            .map_err(|_| PasswordError::BadStoredHash)?;
        if bool::from(computed.as_slice().ct_eq(expected.as_bytes())) {
            Ok(Verification::Match {
                needs_rehash: !self.is_current(&stored, &stored_params),
            })
        } else {
            Ok(Verification::Mismatch)
        }
    }

    /// Burns the same time as `verify` against a real hash; always "mismatch".
    pub fn verify_dummy(&self, password: &str) {
        self.verify_dummy_in(password, &mut WorkArea::default());
    }

    /// [`verify_dummy`](Self::verify_dummy) in a reusable area (see [`verify_in`](Self::verify_in)).
    pub fn verify_dummy_in(&self, password: &str, area: &mut WorkArea) {
        // The result is meaningless: the dummy password is random and never revealed.
        let _ = self.verify_in(password, self.dummy_hash(), area);
    }

    /// Whether `area` is worth keeping for later verifications: not larger than hashes made
    /// with the current parameters need (an old hash with a larger memory cost must not leave
    /// an oversized area behind).
    pub fn is_reusable(&self, area: &WorkArea) -> bool {
        self.argon2()
            .is_ok_and(|argon2| area.blocks.len() <= argon2.params().block_count())
    }

    fn argon2(&self) -> Result<Argon2<'static>, PasswordError> {
        let params = Params::new(
            self.params.memory_kib,
            self.params.iterations,
            self.params.parallelism,
            None,
        )
        .map_err(|_| PasswordError::Params)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Whether a stored hash was made exactly as `hash` would make it now.
    fn is_current(&self, stored: &PasswordHash, stored_params: &Params) -> bool {
        stored.algorithm == argon2::ARGON2ID_IDENT
            && stored.version == Some(Version::V0x13.into())
            && stored_params.m_cost() == self.params.memory_kib
            && stored_params.t_cost() == self.params.iterations
            && stored_params.p_cost() == self.params.parallelism
            && stored_params.keyid().is_empty()
            && stored_params.data().is_empty()
            && stored
                .hash
                .as_ref()
                .is_some_and(|output| output.len() == Params::DEFAULT_OUTPUT_LEN)
            && stored
                .salt
                .as_ref()
                .is_some_and(|salt| salt.len() >= argon2::RECOMMENDED_SALT_LEN)
    }
}

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("password must be at least {PASSWORD_MIN_CHARS} characters")]
    TooShort,
    #[error("password must be at most {PASSWORD_MAX_CHARS} characters")]
    TooLong,
    #[error("password is too easy to guess: {0}")]
    TooWeak(String),
}

/// Length rules (characters, not bytes) and refusal of very weak passwords.
/// `user_inputs` (email, name) count against strength.
pub fn check_policy(password: &str, user_inputs: &[&str]) -> Result<(), PolicyViolation> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(PolicyViolation::TooShort);
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(PolicyViolation::TooLong);
    }
    let estimate = zxcvbn::zxcvbn(password, user_inputs);
    if estimate.score() >= zxcvbn::Score::Three {
        return Ok(());
    }
    let mut advice: Vec<String> = Vec::new();
    if let Some(feedback) = estimate.feedback() {
        advice.extend(feedback.warning().map(|warning| warning.to_string()));
        advice.extend(feedback.suggestions().iter().map(ToString::to_string));
    }
    advice.retain(|line| !line.trim().is_empty());
    if advice.is_empty() {
        advice.push("Use a longer passphrase of several unrelated words.".to_owned());
    }
    Err(PolicyViolation::TooWeak(advice.join(" ")))
}

#[cfg(test)]
mod tests;
