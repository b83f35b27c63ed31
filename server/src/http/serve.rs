//! Serving the router over TLS with our own accept loop (tokio-rustls + hyper-util).
//!
//! axum's `serve` cannot hand the peer's certificate to handlers, so this loop does the TLS
//! handshake itself, reads the client certificate once per connection, and inserts it into
//! the extensions of *every* request on that connection. The identity is then checked against
//! the directory per request (`identity::Authed`), which is what makes a revocation effective on
//! open keep-alive and HTTP/2 connections.

use super::extract::PeerInfo;
use super::peer::PeerCert;
use super::problem::internal_error_response;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::Service;

/// Limits of the accept loop. `Default` is what the relay uses; tests shorten the timeouts.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Most connections served at once; more are closed at accept.
    pub max_connections: usize,
    /// A TLS handshake that takes longer than this is dropped (slowloris on the handshake).
    pub handshake_timeout: Duration,
    /// An HTTP/1 request whose headers take longer than this is dropped.
    pub header_timeout: Duration,
    /// A connection that moves no bytes for this long is closed (gracefully first), so idle
    /// keep-alive connections cannot hold every slot.
    pub idle_timeout: Duration,
    /// How long open connections get to finish after shutdown is asked for.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, then lets open
/// connections finish for a grace period. Uses [`ServeOptions::default`].
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_with(listener, tls, app, shutdown, ServeOptions::default()).await
}

/// [`serve`] with explicit limits.
pub async fn serve_with(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
    opts: ServeOptions,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let max = opts.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64)
        // Pings find peers that vanished (a phone that drove out of coverage).
        .keep_alive_interval(Some(Duration::from_secs(60)))
        .keep_alive_timeout(Duration::from_secs(20));
    let builder = Arc::new(builder);
    let opts = Arc::new(opts);
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!("connection limit reached; closing new connection");
            drop(tcp);
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let builder = builder.clone();
        let opts = opts.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let stream =
                match tokio::time::timeout(opts.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %addr.ip(), error = %e, "TLS handshake refused");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(peer = %addr.ip(), "TLS handshake timed out");
                        return;
                    }
                };
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| PeerCert::from_der(cert));
            let peer = PeerInfo { addr, cert };
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(peer);
                let mut app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(answer_or_500(app.call(req)).await) }
            });
            let io = IdleIo::new(stream);
            let activity = io.activity.clone();
            let conn = builder.serve_connection(TokioIo::new(io), svc);
            tokio::pin!(conn);
            let mut closing = false;
            loop {
                let deadline = activity.idle_deadline(opts.idle_timeout);
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(peer = %addr.ip(), error = %e, "connection ended with error");
                        }
                        break;
                    }
                    () = tokio::time::sleep_until(deadline.into()) => {
                        if activity.idle_for() < opts.idle_timeout {
                            continue;
                        }
                        if closing {
                            // Asked to close and still silent: drop it.
                            break;
                        }
                        closing = true;
                        activity.touch();
                        conn.as_mut().graceful_shutdown();
                    }
                    changed = stop.changed(), if !closing => {
                        let _ = changed;
                        closing = true;
                        activity.touch();
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot: all slots back means all connections are done.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(opts.shutdown_grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
    Ok(())
}

/// Runs one request's handler; if it panics, the panic ends there: the device gets a `500`
/// problem (no detail), the connection stays usable and the relay keeps serving. Shared state
/// survives too: every mutex of the relay is taken with `PoisonError::into_inner`, and a room
/// whose lock was poisoned is reloaded from disk (`RoomHandle`). The panic's message is not
/// logged (see [`install_panic_hook`]).
async fn answer_or_500<F>(call: F) -> axum::response::Response
where
    F: Future<Output = Result<axum::response::Response, std::convert::Infallible>>,
{
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(call).catch_unwind().await {
        Ok(Ok(resp)) => resp,
        Ok(Err(never)) => match never {},
        Err(_) => {
            tracing::error!("a request handler panicked; answered 500");
            internal_error_response()
        }
    }
}

/// Replaces the default panic hook, which prints the panic's message, with one that logs
/// only where the panic happened: a message can quote the value that caused it, which can be
/// patient data (a report's text, a name). Installed by the relay binary at start.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown".into());
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("-");
        if tracing::dispatcher::has_been_set() {
            tracing::error!(at = %at, thread, "panic (message withheld: it may quote patient data)");
        } else {
            eprintln!(
                "panic at {at} in thread {thread} (message withheld: it may quote patient data)"
            );
        }
    }));
}

/// When a connection last moved bytes, in milliseconds since it was opened.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    fn idle_for(&self) -> Duration {
        self.last().elapsed()
    }

    fn idle_deadline(&self, idle: Duration) -> Instant {
        self.last() + idle
    }
}

/// A stream that records when bytes last moved in either direction.
struct IdleIo<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> IdleIo<S> {
    fn new(inner: S) -> Self {
        IdleIo {
            inner,
            activity: Arc::new(Activity {
                opened: Instant::now(),
                last_ms: AtomicU64::new(0),
            }),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
