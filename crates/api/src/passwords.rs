//! argon2 off the async runtime, with a bound: at most `permits` hashes run at once (one per core
//! by default), the rest wait their turn on a semaphore. A login flood then queues behind the
//! semaphore instead of occupying every runtime worker, so token-verified requests stay fast.

use std::sync::Arc;

use async_trait::async_trait;
use tessera_auth_core::password::{PasswordError, PasswordHasher, Verification};
use tessera_auth_core::ports::PasswordHashing;
use tokio::sync::Semaphore;

pub struct BlockingPasswordHashing {
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
}

impl BlockingPasswordHashing {
    pub fn new(hasher: PasswordHasher, concurrency: usize) -> BlockingPasswordHashing {
        BlockingPasswordHashing {
            hasher: Arc::new(hasher),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        // The semaphore is never closed, so acquire only fails if it were; treat as a hash failure.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Hash)?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&hasher)
        })
        .await
        .map_err(|_| PasswordError::Hash)
    }
}

#[async_trait]
impl PasswordHashing for BlockingPasswordHashing {
    async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move |h| h.hash(&password)).await?
    }

    async fn verify(&self, password: String, phc: String) -> Result<Verification, PasswordError> {
        self.run(move |h| h.verify(&password, &phc)).await?
    }

    async fn verify_dummy(&self, password: String) {
        let _ = self.run(move |h| h.verify_dummy(&password)).await;
    }
}
