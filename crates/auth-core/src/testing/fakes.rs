//! The password hasher, attempt limiter and revocation publisher of the harness.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::events::RequestMeta;
use crate::password::{PasswordError, PasswordHasher, Verification};
use crate::ports::{AttemptLimiter, PasswordHashing, RevocationPublisher};
use crate::revocation::Revocation;

/// argon2 run inline (tests have no blocking pool), counting the work done.
pub struct InlineHasher {
    pub hasher: PasswordHasher,
    pub verifies: AtomicUsize,
    pub dummy_verifies: AtomicUsize,
}

#[async_trait]
impl PasswordHashing for InlineHasher {
    async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.hasher.hash(&password)
    }

    async fn verify(&self, password: String, phc: String) -> Result<Verification, PasswordError> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        self.hasher.verify(&password, &phc)
    }

    async fn verify_dummy(&self, password: String) {
        self.dummy_verifies.fetch_add(1, Ordering::SeqCst);
        self.hasher.verify_dummy(&password);
    }
}

/// A per-client allowance that can be used up on demand, counting what was taken.
#[derive(Default)]
pub struct TestLimiter {
    pub exhausted: std::sync::atomic::AtomicBool,
    pub taken: AtomicUsize,
}

impl AttemptLimiter for TestLimiter {
    fn try_acquire(&self, _meta: &RequestMeta) -> Result<(), u64> {
        if self.exhausted.load(Ordering::SeqCst) {
            return Err(7);
        }
        self.taken.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[derive(Default)]
pub struct RecordingPublisher {
    pub published: Mutex<Vec<Revocation>>,
}

#[async_trait]
impl RevocationPublisher for RecordingPublisher {
    async fn publish(&self, revocation: &Revocation) {
        self.published.lock().unwrap().push(revocation.clone());
    }
}
