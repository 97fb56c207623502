//! The delivery worker: one per instance. It claims one due message at a time from the queue,
//! opens, renders and sends it, and marks the outcome:
//!
//! - sent → marked sent (payload erased);
//! - a failure of the relay or the network → retried with exponential backoff (15 s, 30 s, ...
//!   capped at 15 min) until the message is 24 h old, then given up as `failed` (payload erased);
//! - a message that can never be sent (payload that does not open under this master key, an
//!   address the mail library refuses) → `failed` at once.
//!
//! It wakes when this process queues mail (an in-process notification), and otherwise every poll
//! interval, which picks up retries that fell due, claims whose lease ran out, and mail queued by
//! other instances. A delivery is bounded ([`DELIVERY_TIMEOUT`]) far below the claim lease, so a
//! claim never runs out while its worker is still sending; a worker that dies holding a claim
//! leaves the message to be claimed again once the lease has run out (it may then be sent twice
//! if the relay had already accepted it: delivery is at least once, never lost).

use std::sync::Arc;
use std::time::Duration;

use tessera_auth_core::clock::Clock;
use tessera_auth_core::mail::{CLAIM_LEASE, ClaimedMail, MailSealingKey, RetryDecision, after_failure};
use tessera_auth_core::ports::MailQueue;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::settings::MailFrom;
use crate::templates::{TemplateContext, render};
use crate::transport::{Transport, build_message};

/// One delivery (connect, TLS, AUTH, DATA) may take this long before it counts as failed.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long [`MailWorkerHandle::stop`] waits for a delivery in progress (like the server's drain).
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often the health line is logged while mail is waiting.
const HEALTH_EVERY: Duration = Duration::from_secs(60);
/// Messages are delayed (a warning in the health line) once the oldest waits this long.
const DELAYED_AFTER: time::Duration = time::Duration::minutes(15);
/// Sent messages are deleted after this long (their payload went when they were sent).
const KEEP_SENT: time::Duration = time::Duration::days(7);

/// Everything a worker is made of.
pub struct MailWorkerParts {
    pub queue: Arc<dyn MailQueue>,
    pub key: MailSealingKey,
    pub transport: Arc<dyn Transport>,
    pub clock: Arc<dyn Clock>,
    pub from: MailFrom,
    /// The public origin (links are built on it). The product name comes from `from`.
    pub origin: String,
    /// Notified when this process has queued mail (`SeaStore::mail_wakeup`).
    pub wakeup: Arc<Notify>,
    /// Checks for due mail at least this often.
    pub poll_interval: Duration,
}

/// A running worker.
pub struct MailWorkerHandle {
    wakeup: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for MailWorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailWorkerHandle").finish_non_exhaustive()
    }
}

impl MailWorkerHandle {
    /// Makes the worker look for due mail now (tests call it after stepping the clock).
    pub fn wake(&self) {
        self.wakeup.notify_one();
    }

    /// Lets a delivery in progress finish, for at most [`STOP_GRACE`], and stops. A delivery cut
    /// short is attempted again once its claim runs out.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(STOP_GRACE, self.task).await.is_err() {
            abort.abort();
        }
    }

    /// Ends the worker at once, wherever it is (a crash, for tests). A message it had claimed
    /// is claimed again once the lease has run out.
    pub fn kill(self) {
        self.task.abort();
    }
}

/// Starts a worker on the current tokio runtime.
pub fn spawn_mail_worker(parts: MailWorkerParts) -> MailWorkerHandle {
    let (stop, stopped) = watch::channel(false);
    let wakeup = parts.wakeup.clone();
    tracing::info!(transport = %parts.transport.describe(), from = %parts.from, "mail worker started");
    let worker = Worker {
        context: TemplateContext {
            product: parts.from.product_name().to_owned(),
            origin: parts.origin.clone(),
        },
        parts,
    };
    let task = tokio::spawn(Arc::new(worker).run(stopped));
    MailWorkerHandle { wakeup, stop, task }
}

struct Worker {
    parts: MailWorkerParts,
    context: TemplateContext,
}

/// What became of one attempt.
enum Outcome {
    Sent,
    /// Worth retrying (relay down, refused, timed out).
    Transient(String),
    /// Never deliverable.
    Permanent(String),
}

impl Worker {
    async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut last_health = tokio::time::Instant::now();
        let mut last_prune: Option<tokio::time::Instant> = None;
        loop {
            // Deliver everything due, one claim at a time, unless asked to stop.
            while !*stopped.borrow() {
                let now = self.parts.clock.now();
                match self.parts.queue.claim_mail(now, CLAIM_LEASE).await {
                    Ok(Some(mail)) => self.deliver(mail).await,
                    Ok(None) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "mail queue unavailable; retrying at the next poll");
                        break;
                    }
                }
            }
            if *stopped.borrow() {
                break;
            }
            if last_health.elapsed() >= HEALTH_EVERY {
                last_health = tokio::time::Instant::now();
                self.log_health().await;
            }
            if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                last_prune = Some(tokio::time::Instant::now());
                let before = self.parts.clock.now() - KEEP_SENT;
                if let Err(err) = self.parts.queue.prune_sent_mail(before).await {
                    tracing::warn!(error = %err, "could not prune sent mail");
                }
            }
            tokio::select! {
                () = self.parts.wakeup.notified() => {}
                () = tokio::time::sleep(self.parts.poll_interval) => {}
                changed = stopped.changed() => {
                    // The handle is gone: nobody can stop this worker any more, so stop now.
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::info!("mail worker stopped");
    }

    async fn attempt(&self, mail: &ClaimedMail) -> Outcome {
        let (to, intent) = match self.parts.key.open(mail.claim.id, mail.kind, &mail.sealed) {
            Ok(opened) => opened,
            Err(err) => return Outcome::Permanent(err.to_string()),
        };
        let rendered = render(&self.context, &to, &intent);
        let message = match build_message(&self.parts.from, mail.claim.id, mail.created_at, &to, &rendered) {
            Ok(message) => message,
            Err(err) => return Outcome::Permanent(err.to_string()),
        };
        match tokio::time::timeout(DELIVERY_TIMEOUT, self.parts.transport.deliver(mail.claim.id, &message)).await {
            Ok(Ok(())) => Outcome::Sent,
            Ok(Err(err)) => Outcome::Transient(err.to_string()),
            Err(_) => Outcome::Transient(format!("delivery timed out after {} s", DELIVERY_TIMEOUT.as_secs())),
        }
    }

    async fn deliver(self: &Arc<Self>, mail: ClaimedMail) {
        // On a task of its own, so that a bug in rendering or in the mail library (a panic)
        // fails this one message instead of ending the worker.
        let attempt = {
            let worker = Arc::clone(self);
            let mail = mail.clone();
            tokio::spawn(async move { worker.attempt(&mail).await })
        };
        let outcome = match attempt.await {
            Ok(outcome) => outcome,
            Err(err) if err.is_panic() => Outcome::Permanent("internal error while building the message".to_owned()),
            Err(_) => Outcome::Transient("delivery task cancelled".to_owned()),
        };
        let now = self.parts.clock.now();
        let (id, kind, attempt) = (mail.claim.id, mail.kind, mail.attempts);
        let marked = match &outcome {
            Outcome::Sent => {
                tracing::info!(mail_id = %id, %kind, attempt, "mail sent");
                self.parts.queue.mark_mail_sent(mail.claim, now).await
            }
            Outcome::Transient(error) => match after_failure(attempt, mail.created_at, now) {
                RetryDecision::RetryAt(retry_at) => {
                    tracing::warn!(
                        mail_id = %id, %kind, attempt, retry_in_secs = (retry_at - now).whole_seconds(), %error,
                        "mail delivery failed; will retry"
                    );
                    self.parts.queue.retry_mail(mail.claim, retry_at, error).await
                }
                RetryDecision::GiveUp => {
                    tracing::error!(mail_id = %id, %kind, attempt, %error, "mail delivery failed for 24 hours; giving up");
                    self.parts.queue.fail_mail(mail.claim, now, error).await
                }
            },
            Outcome::Permanent(error) => {
                tracing::error!(mail_id = %id, %kind, %error, "mail cannot be delivered; giving up");
                self.parts.queue.fail_mail(mail.claim, now, error).await
            }
        };
        match marked {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                mail_id = %id, %kind,
                "the claim on this mail ran out before it was marked; another worker may send it again"
            ),
            Err(err) => tracing::warn!(
                mail_id = %id, %kind, error = %err,
                "could not record the mail's outcome; it will be attempted again when its claim runs out"
            ),
        }
    }

    async fn log_health(&self) {
        let stats = match self.parts.queue.mail_stats().await {
            Ok(stats) => stats,
            Err(err) => {
                tracing::warn!(error = %err, "mail queue statistics unavailable");
                return;
            }
        };
        let Some(oldest) = stats.oldest_queued_at else {
            return;
        };
        let waiting_secs = (self.parts.clock.now() - oldest).whole_seconds().max(0);
        if self.parts.clock.now() - oldest >= DELAYED_AFTER {
            tracing::warn!(
                queued = stats.queued,
                failed = stats.failed,
                oldest_waiting_secs = waiting_secs,
                "mail is delayed: check the SMTP relay"
            );
        } else {
            tracing::info!(
                queued = stats.queued,
                failed = stats.failed,
                oldest_waiting_secs = waiting_secs,
                "mail queued"
            );
        }
    }
}
