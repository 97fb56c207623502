//! The connection loop: accept TCP connections and serve HTTP/1.1 and HTTP/2 (cleartext, by
//! prior knowledge) on each with hyper, handing every request to the poem application.
//!
//! poem's own `Server` does the same but does not expose hyper's HTTP/1 limits, and hyper answers
//! a request head over its limits (100 header fields, a ~400 KiB read buffer) itself: an empty
//! 431 with none of the security headers, no problem body, no request id, no log line. Here the
//! limits are set above the application's own ([`crate::middleware::header_limits`]), so an
//! oversized head reaches the application and is refused like every other bad request. Only heads
//! beyond these hard caps (a client sending megabytes of headers is not a browser) still get
//! hyper's bare answer and a closed connection.
//!
//! Otherwise it behaves like poem's: the same HTTP/2 settings, and on shutdown it stops
//! accepting, asks every connection to finish its in-flight requests, and drops whatever is left
//! after the drain timeout.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Header fields hyper parses before answering 431 on its own (its default is 100). Above
/// [`crate::middleware::MAX_HEADER_FIELDS`], so the application sees and refuses the request.
pub const HYPER_MAX_HEADER_FIELDS: usize = 256;
/// Bytes hyper buffers while reading a request head before answering 431 on its own (its default
/// is ~400 KiB). Above [`crate::middleware::MAX_HEADER_BYTES`]; the same 1 MiB the body limit
/// drains before its 413.
pub const HYPER_MAX_HEAD_BYTES: usize = 1024 * 1024;
/// What poem's `Server` sets for HTTP/2.
const H2_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
const H2_MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;
/// Pause after a failed `accept` (out of file descriptors, say) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

type ResponseBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// Serves `app` on `listener` until `shutdown` completes, then drains connections for at most
/// `drain`.
pub async fn serve<E>(
    listener: TcpListener,
    app: E,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()>
where
    E: Endpoint + 'static,
{
    let local = listener.local_addr()?;
    let app = Arc::new(app);
    let (draining, drain_signal) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    while connections.try_join_next().is_some() {}
                    connections.spawn(serve_connection(stream, local, peer, app.clone(), drain_signal.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
        }
    }
    drop(listener);
    let _ = draining.send(true);
    let drained = tokio::time::timeout(drain, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the drain timeout; closing them"
        );
        connections.abort_all();
    }
    Ok(())
}

/// The hyper settings of every connection.
fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_headers(HYPER_MAX_HEADER_FIELDS)
        .max_buf_size(HYPER_MAX_HEAD_BYTES);
    builder
        .http2()
        .max_pending_accept_reset_streams(Some(H2_MAX_PENDING_ACCEPT_RESET_STREAMS))
        .max_header_list_size(H2_MAX_HEADER_LIST_SIZE);
    builder
}

async fn serve_connection<E>(
    stream: TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    app: Arc<E>,
    mut drain_signal: watch::Receiver<bool>,
) where
    E: Endpoint + 'static,
{
    let local = LocalAddr(Addr::SocketAddr(local));
    let remote = RemoteAddr(Addr::SocketAddr(peer));
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let app = app.clone();
        let request = poem::Request::from((req, local.clone(), remote.clone(), Scheme::HTTP));
        async move {
            let response = app.get_response(request).await;
            Ok::<_, Infallible>(hyper::Response::<ResponseBody>::from(response))
        }
    });
    let builder = builder();
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = drain_signal.wait_for(|draining| *draining) => {}
    }
    // Finish the requests in flight, accept no new ones.
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}
