//! Keeps this instance's view of revocations and signing keys current without any database read
//! on the request path.
//!
//! - PostgreSQL: a LISTEN connection delivers revocations and key rotations from every instance
//!   within milliseconds.
//! - Every `TESSERA_SYNC_INTERVAL` (default 2 s) a catch-up poll reloads the revocations that can
//!   still matter (revoked within the last access-TTL + leeway): a notification lost to a dropped
//!   connection is healed by the next poll. Signing keys are re-read every few polls, so
//!   `tessera keys rotate` reaches running instances without a restart.
//! - A lost listener is reconnected at once (retries back off up to the poll interval while the
//!   database is unreachable), and as soon as it listens again a catch-up poll runs: whatever was
//!   announced while nobody listened is picked up then, and everything later arrives as a notice.
//!   A revocation made during a cut therefore reaches this instance within the reconnection time,
//!   not at the poll after next.
//! - SQLite: revocations are applied in-process by the service; the poll only matters if other
//!   processes share the file.

use std::time::Duration;

use tessera_auth_core::ports::KeyRepository;
use tessera_store::notify::{Notice, NoticeListener};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::state::SharedState;

/// Keys are re-read every this many polls (and at once on a `KeysChanged` notice).
pub const KEY_POLL_EVERY: u32 = 5;

pub fn spawn_sync(state: &SharedState) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move { run(state).await })
}

/// First wait before listening again after a failed attempt; it doubles up to the poll interval.
const RELISTEN_BACKOFF: Duration = Duration::from_millis(50);

async fn run(state: SharedState) {
    let interval = state.config.sync_interval;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listener: Option<NoticeListener> = None;
    // When to (re)connect the listener: at once at start and after a loss, later after a failed
    // attempt; `None` while listening (and on SQLite, which has nothing to listen to).
    let mut relisten_at = Some(Instant::now());
    let mut backoff = RELISTEN_BACKOFF;
    let mut ticks: u32 = 0;
    loop {
        if listener.is_none()
            && let Some(at) = relisten_at
            && at <= Instant::now()
        {
            match state.store.listen().await {
                Ok(Some(connected)) => {
                    listener = Some(connected);
                    relisten_at = None;
                    backoff = RELISTEN_BACKOFF;
                    // Revocations and key rotations announced while nobody listened reached no
                    // one; every later notice arrives now, so one catch-up closes the gap.
                    poll_revocations(&state).await;
                    reload_keys(&state).await;
                }
                Ok(None) => relisten_at = None,
                Err(err) => {
                    tracing::warn!(error = %err, "revocation listener unavailable; retrying, polling meanwhile");
                    relisten_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(interval);
                }
            }
        }
        let relisten_deadline = relisten_at.filter(|_| listener.is_none());
        let relisten = async move {
            match relisten_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            notice = next_notice(&mut listener) => match notice {
                Ok(Notice::SessionRevoked(session_id)) => state.service.apply_peer_revocation(session_id),
                Ok(Notice::KeysChanged) => reload_keys(&state).await,
                Err(err) => {
                    tracing::warn!(error = %err, "revocation listener lost; reconnecting");
                    listener = None;
                    relisten_at = Some(Instant::now());
                }
            },
            () = relisten => {}
            _ = tick.tick() => {
                ticks = ticks.wrapping_add(1);
                poll_revocations(&state).await;
                if ticks.is_multiple_of(KEY_POLL_EVERY) {
                    reload_keys(&state).await;
                    sweep_ceremonies(&state).await;
                }
                state.service.revocations().prune(state.service.now());
                state.rate_limits.forget_idle();
            }
        }
    }
}

async fn next_notice(listener: &mut Option<NoticeListener>) -> Result<Notice, tessera_store::StoreError> {
    match listener {
        Some(listener) => listener.recv().await,
        None => std::future::pending().await,
    }
}

/// Expired WebAuthn ceremonies, TOTP enrolments and MFA challenges only take room (every read
/// checks expiry), so they go on the key poll's slower beat.
async fn sweep_ceremonies(state: &SharedState) {
    match state.service.sweep_expired_ceremonies().await {
        Ok(0) => {}
        Ok(swept) => tracing::debug!(swept, "expired ceremonies and MFA challenges deleted"),
        Err(err) => tracing::warn!(error = %err, "sweeping expired ceremonies failed; retrying later"),
    }
}

async fn poll_revocations(state: &SharedState) {
    if let Err(err) = state.service.fill_revocations().await {
        tracing::warn!(error = %err, "revocation poll failed");
    }
}

/// Rebuilds the key ring from the database; the service installs it when it differs.
async fn reload_keys(state: &SharedState) {
    if matches!(state.config.jwt, crate::config::JwtSigning::Hs256(_)) {
        return;
    }
    let keys = match state.store.list_signing_keys().await {
        Ok(keys) => keys,
        Err(err) => {
            tracing::warn!(error = %err, "signing key poll failed");
            return;
        }
    };
    match state
        .service
        .reload_key_ring(&keys, &state.master_key.key_encryption_key())
    {
        Ok(true) => tracing::info!(
            active_kid = state.service.key_ring().active_kid(),
            "signing keys changed; key ring reloaded"
        ),
        Ok(false) => {}
        Err(err) => tracing::error!(error = %err, "signing keys could not be loaded; keeping the current ring"),
    }
}
