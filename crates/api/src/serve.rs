//! `tessera serve`: bind, serve, and shut down gracefully on SIGTERM/SIGINT. [`start`] is also
//! what the black-box tests use to run the real router on a free port.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::router;
use crate::mail::start_mail_worker;
use crate::startup::build_state;
use crate::state::SharedState;
use crate::sync::spawn_sync;

/// Connections get this long to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(config: crate::config::Config) -> Result<(), Box<dyn std::error::Error>> {
    let addr = config.addr;
    let passkeys_unavailable = crate::startup::passkeys_unavailable(&config);
    let state = build_state(config).await?;
    let server = start(state, addr, shutdown_signal()).await?;
    tracing::info!(addr = %server.addr, "tessera listening; Swagger UI at /api/docs");
    if let Some(reason) = passkeys_unavailable {
        tracing::warn!(%reason, "passkeys are unavailable: every passkey endpoint answers 409 passkeys_unavailable");
    }
    server.wait().await?;
    tracing::info!("tessera stopped");
    Ok(())
}

/// A server running on a tokio task.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: SharedState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    upkeep: JoinHandle<()>,
    mail: Option<tessera_mail::MailWorkerHandle>,
}

impl RunningServer {
    /// Asks the server to drain and waits for it.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.wait().await
    }

    /// Waits for the server to stop, then stops the upkeep and lets the mail worker finish the
    /// delivery in progress (a message it could not mark is sent again once its claim runs out).
    pub async fn wait(mut self) -> std::io::Result<()> {
        let result = (&mut self.task).await.unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.upkeep.abort();
        if let Some(mail) = self.mail.take() {
            mail.stop().await;
        }
        result
    }

    /// Kills the mail worker wherever it is, as a crash would (for tests).
    pub fn kill_mail_worker(&mut self) {
        if let Some(mail) = self.mail.take() {
            mail.kill();
        }
    }
}

/// Binds `addr` (port 0 picks a free port) and serves until `shutdown` completes or
/// [`RunningServer::stop`] is called.
pub async fn start(
    state: SharedState,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let mail = start_mail_worker(&state)?;
    let upkeep = spawn_sync(&state);
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(state.clone());
    let signal = async move {
        tokio::select! {
            () = shutdown => {},
            _ = stopped => {},
        }
    };
    let task = tokio::spawn(crate::connections::serve(listener, app, signal, DRAIN_TIMEOUT));
    Ok(RunningServer {
        addr: bound,
        state,
        stop: Some(stop),
        task,
        upkeep,
        mail: Some(mail),
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining connections");
}
