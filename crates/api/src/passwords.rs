//! argon2 off the async runtime, with a bound: at most `permits` hashes run at once (one per core
//! by default), the rest wait their turn on a semaphore. A login flood then queues behind the
//! semaphore instead of occupying every runtime worker, so token-verified requests stay fast.
//!
//! The hashes run on their own threads (one per permit) at a lower scheduling priority (nice +10):
//! they still get every idle cycle, so login throughput is unchanged, but when a request arrives
//! during a login flood the runtime's worker is scheduled ahead of them instead of waiting for a
//! hashing thread's time slice to end (docs/benchmarks.md: `/api/me` p99 during a flood).
//!
//! Verifications borrow argon2's 19 MiB work area from a small pool. An area is handed on only
//! while others are queued (a flood reuses warm memory instead of faulting in 4,864 fresh pages
//! per login); the last one out frees it, so an idle server holds none (`main.rs` makes glibc
//! return such blocks to the system at once).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use async_trait::async_trait;
use tessera_auth_core::password::{PasswordError, PasswordHasher, Verification, WorkArea};
use tessera_auth_core::ports::PasswordHashing;
use tokio::sync::Semaphore;

pub struct BlockingPasswordHashing {
    hasher: Arc<PasswordHasher>,
    permits: Arc<Semaphore>,
    areas: Arc<AreaPool>,
    /// `None` when the threads could not be started; tokio's blocking pool runs the hashes then.
    threads: Option<HashingThreads>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Long-lived low-priority threads taking jobs from one queue. They end when the queue's sender
/// is dropped (with the `BlockingPasswordHashing`).
struct HashingThreads {
    jobs: mpsc::Sender<Job>,
}

impl HashingThreads {
    fn start(count: usize) -> Option<HashingThreads> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..count {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    loop {
                        // One thread waits in `recv`, the others on the lock; all leave when the
                        // sender is gone.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::warn!(%error, "cannot start password-hashing threads; using the blocking pool");
                return None;
            }
        }
        Some(HashingThreads { jobs })
    }
}

/// nice +10 for the calling thread (Linux gives every thread its own nice value; `who = 0` with
/// `PRIO_PROCESS` names the caller). Lowering is always permitted; a failure leaves the thread at
/// normal priority, which is only less kind to other requests.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn lower_this_threads_priority() {
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

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
        let concurrency = concurrency.max(1);
        BlockingPasswordHashing {
            hasher: Arc::new(hasher),
            permits: Arc::new(Semaphore::new(concurrency)),
            areas: Arc::default(),
            threads: HashingThreads::start(concurrency),
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
        let job = move || {
            let _permit = permit;
            let mut area = areas.take();
            let result = work(&hasher, &mut area);
            areas.give_back(area, &hasher);
            result
        };
        let Some(threads) = &self.threads else {
            return tokio::task::spawn_blocking(job).await.map_err(|_| PasswordError::Hash);
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        threads
            .jobs
            .send(Box::new(move || {
                // The caller may have gone (request cancelled); the hash was done anyway.
                let _ = reply.send(job());
            }))
            .map_err(|_| PasswordError::Hash)?;
        // A dropped reply means the job panicked on its thread.
        answer.await.map_err(|_| PasswordError::Hash)
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
    async fn hashes_run_on_low_priority_threads() {
        let hashing = hashing(2);
        assert!(hashing.threads.is_some());
        let phc = hashing.hash("a passphrase to check".into()).await.unwrap();
        let (reply, answer) = tokio::sync::oneshot::channel();
        hashing
            .threads
            .as_ref()
            .unwrap()
            .jobs
            .send(Box::new(move || {
                let name = std::thread::current().name().map(str::to_owned);
                let nice = std::fs::read_to_string("/proc/thread-self/stat").ok().and_then(|stat| {
                    // Field 19 (nice), counted after the parenthesised command name.
                    stat.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().nth(16).map(str::to_owned))
                });
                let _ = reply.send((name, nice));
            }))
            .unwrap();
        let (name, nice) = answer.await.unwrap();
        assert!(name.unwrap().starts_with("argon2-"));
        if cfg!(target_os = "linux") {
            assert_eq!(nice.as_deref(), Some("10"));
        }
        assert!(matches!(
            hashing.verify("a passphrase to check".into(), phc).await.unwrap(),
            Verification::Match { .. }
        ));
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
