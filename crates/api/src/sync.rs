//! Keeps this instance's view of revocations and signing keys current without any database read
//! on the request path.
//!
//! - PostgreSQL: a LISTEN connection delivers revocations and key rotations from every instance
//!   within milliseconds.
//! - Every `TESSERA_SYNC_INTERVAL` (default 2 s) a catch-up poll reloads the revocations that can
//!   still matter (revoked within the last access-TTL + leeway): a notification lost to a dropped
//!   connection is healed by the next poll, and a lost listener is re-established. Signing keys are
//!   re-read every few polls, so `tessera keys rotate` reaches running instances without a restart.
//! - SQLite: revocations are applied in-process by the service; the poll only matters if other
//!   processes share the file.

use tessera_auth_core::ports::KeyRepository;
use tessera_auth_core::revocation::Revocation;
use tessera_store::notify::{Notice, NoticeListener};
use tokio::task::JoinHandle;

use crate::startup::{fill_revocations, key_ring_from, revocation_memory};
use crate::state::SharedState;

/// Keys are re-read every this many polls (and at once on a `KeysChanged` notice).
pub const KEY_POLL_EVERY: u32 = 5;

pub fn spawn_sync(state: &SharedState) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move { run(state).await })
}

async fn run(state: SharedState) {
    let mut tick = tokio::time::interval(state.config.sync_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listener: Option<NoticeListener> = None;
    let mut ticks: u32 = 0;
    loop {
        if listener.is_none() {
            listener = match state.store.listen().await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, "revocation listener unavailable; relying on polling");
                    None
                }
            };
        }
        tokio::select! {
            notice = next_notice(&mut listener) => match notice {
                Ok(Notice::SessionRevoked(session_id)) => {
                    let forget_after = state.service.now() + revocation_memory(&state.config);
                    state.service.revocations().apply(&Revocation::Session { session_id, forget_after });
                }
                Ok(Notice::KeysChanged) => reload_keys(&state).await,
                Err(err) => {
                    tracing::warn!(error = %err, "revocation listener lost; catching up by polling");
                    listener = None;
                    poll_revocations(&state).await;
                    // Reconnect on the next tick rather than spinning on a database that is down.
                    tick.tick().await;
                }
            },
            _ = tick.tick() => {
                ticks = ticks.wrapping_add(1);
                poll_revocations(&state).await;
                if ticks.is_multiple_of(KEY_POLL_EVERY) {
                    reload_keys(&state).await;
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

async fn poll_revocations(state: &SharedState) {
    if let Err(err) = fill_revocations(
        &state.store,
        state.service.revocations(),
        &state.config,
        state.clock.as_ref(),
    )
    .await
    {
        tracing::warn!(error = %err, "revocation poll failed");
    }
}

/// Rebuilds the key ring from the database and installs it when it differs (a rotation, or a
/// retired key whose tokens have all expired and so must stop verifying).
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
    let ring = match key_ring_from(&keys, state) {
        Ok(ring) => ring,
        Err(err) => {
            tracing::error!(error = %err, "signing keys could not be loaded; keeping the current ring");
            return;
        }
    };
    let current = state.service.key_ring();
    let kids = |jwks: Vec<tessera_auth_core::access::PublicJwk>| jwks.into_iter().map(|k| k.kid).collect::<Vec<_>>();
    if ring.active_kid() != current.active_kid() || kids(ring.public_jwks()) != kids(current.public_jwks()) {
        tracing::info!(
            active_kid = ring.active_kid(),
            "signing keys changed; key ring reloaded"
        );
        state.service.replace_key_ring(ring);
    }
}
