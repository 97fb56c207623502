//! argon2 off the async runtime, with a bound: at most `permits` hashes run at once (one per core
//! by default), the rest wait their turn on a semaphore. A login flood then queues behind the
//! semaphore instead of occupying every runtime worker, so token-verified requests stay fast.
//!
//! Verifications borrow argon2's 19 MiB work area from a small pool. An area is handed on only
//! while others are queued (a flood reuses warm memory instead of faulting in 4,864 fresh pages
//! per login); the last one out frees it, so an idle server holds none (`main.rs` makes glibc
//! return such blocks to the system at once).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tessera_auth_core::password::{PasswordError, PasswordHasher, Verification, WorkArea};
use tessera_auth_core::ports::PasswordHashing;
use tokio::sync::Semaphore;

pub struct BlockingPasswordHashing {
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
    areas: Arc<AreaPool>,
}

#[derive(Default)]
struct AreaPool {
    free: Mutex<Vec<WorkArea>>,
    /// Hashes waiting for a permit.
    waiting: AtomicUsize,
}

impl AreaPool {
    fn take(&self) -> WorkArea {
        self.free
            .lock()
            .map(|mut free| free.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Keeps `area` for a queued hash; drops (frees) it when nobody waits.
    fn give_back(&self, area: WorkArea, hasher: &PasswordHasher) {
        if self.waiting.load(Ordering::SeqCst) == 0 || !hasher.is_reusable(&area) {
            return;
        }
        if let Ok(mut free) = self.free.lock() {
            free.push(area);
        }
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        self.free.lock().map(|free| free.len()).unwrap_or_default()
    }
}

/// Counts a hash as waiting until dropped (also when the request is cancelled while queued).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(counter: &'a AtomicUsize) -> Waiting<'a> {
        counter.fetch_add(1, Ordering::SeqCst);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl BlockingPasswordHashing {
    pub fn new(hasher: PasswordHasher, concurrency: usize) -> BlockingPasswordHashing {
        BlockingPasswordHashing {
            hasher: Arc::new(hasher),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            areas: Arc::default(),
        }
    }

    /// Makes the dummy hash for unknown-user logins in the background, so start-up does not wait
    /// for it (a login that comes first makes it itself).
    pub fn prepare_in_background(&self) {
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || hasher.prepare());
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher, &mut WorkArea) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let waiting = Waiting::new(&self.areas.waiting);
        // The semaphore is never closed, so acquire only fails if it were; treat as a hash failure.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Hash)?;
        drop(waiting);
        let hasher = self.hasher.clone();
        let areas = self.areas.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut area = areas.take();
            let result = work(&hasher, &mut area);
            areas.give_back(area, &hasher);
            result
        })
        .await
        .map_err(|_| PasswordError::Hash)
    }
}

#[async_trait]
impl PasswordHashing for BlockingPasswordHashing {
    async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move |h, _| h.hash(&password)).await?
    }

    async fn verify(&self, password: String, phc: String) -> Result<Verification, PasswordError> {
        self.run(move |h, area| h.verify_in(&password, &phc, area)).await?
    }

    async fn verify_dummy(&self, password: String) {
        let _ = self.run(move |h, area| h.verify_dummy_in(&password, area)).await;
    }
}

#[cfg(test)]
mod tests {
    use tessera_auth_core::password::Argon2Params;

    use super::*;

    fn hashing(concurrency: usize) -> BlockingPasswordHashing {
        let params = Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        BlockingPasswordHashing::new(PasswordHasher::new(params).unwrap(), concurrency)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn areas_are_kept_only_while_others_queue() {
        let hashing = hashing(1);
        let phc = hashing.hash("a passphrase to check".into()).await.unwrap();
        // Alone: the area is freed after use.
        let verdict = hashing
            .verify("a passphrase to check".into(), phc.clone())
            .await
            .unwrap();
        assert!(matches!(verdict, Verification::Match { .. }));
        assert_eq!(hashing.areas.kept(), 0);

        // A queue: areas pass from one verification to the next, and right answers come back.
        let verdicts = futures::future::join_all((0..8).map(|i| {
            let password = if i % 2 == 0 { "a passphrase to check" } else { "wrong" };
            hashing.verify(password.into(), phc.clone())
        }))
        .await;
        for (i, verdict) in verdicts.into_iter().enumerate() {
            assert_eq!(matches!(verdict.unwrap(), Verification::Match { .. }), i % 2 == 0);
        }
        // The last one out found nobody waiting and freed its area.
        assert_eq!(hashing.areas.kept(), 0);
        assert_eq!(hashing.areas.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_wait_is_not_counted() {
        let hashing = hashing(1);
        let held = hashing.permits.clone().acquire_owned().await.unwrap();
        let queued = hashing.verify_dummy("x".repeat(20));
        // Poll it once so it queues, then drop it.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(20), queued).await;
        assert_eq!(hashing.areas.waiting.load(Ordering::SeqCst), 0);
        drop(held);
    }
}
